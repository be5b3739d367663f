"""Rebuild read models from the whole history while the service keeps running.

A projection is built aside, under its own table names and position, from
archives and the live store; then, in one write transaction that also applies
whatever arrived meanwhile, the aside tables replace the live ones.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from eventtrigger.history import all_rows, live_rows
from projections.runner import POSITIONS_TABLE, ProjectionRunner
from retention import ArchiveStore, recorded_head

ASIDE = "__rebuild"
SWAP_PAGE = 100_000


@dataclass
class RebuildResult:
    """Rows and checksum of one rebuilt projection, and whether it matched."""

    name: str
    rows: dict[str, int]
    checksum: str
    position: int
    live_checksum: str | None = None

    @property
    def matches(self) -> bool:
        return self.live_checksum is None or self.live_checksum == self.checksum


def tables_checksum(
    cursor: Any, tables: Sequence[str], names: Sequence[str]
) -> tuple[dict[str, int], str]:
    """Row counts and one SHA-256 over every row, ordered by primary key.

    ``names`` are the logical table names hashed in place of the physical
    ones, so an aside copy and the live table hash alike.
    """
    digest = hashlib.sha256()
    counts: dict[str, int] = {}
    for table, name in zip(tables, names, strict=True):
        cursor.execute(f"SELECT * FROM {table} ORDER BY 1")
        rows = cursor.fetchall()
        counts[name] = len(rows)
        digest.update(name.encode())
        for row in rows:
            digest.update(json.dumps(list(row), separators=(",", ":")).encode())
    return counts, digest.hexdigest()


class ProjectionRebuilder:
    """Builds projections aside and swaps them in, or compares them."""

    def __init__(
        self,
        service: Any,
        archive: ArchiveStore,
        progress: Callable[[str], Callable[[int], None]] | None = None,
    ) -> None:
        self.service = service
        self.archive = archive
        self.database = service.projections.database
        self.progress = progress

    def projections(self, names: Sequence[str]) -> list[Any]:
        known = {p.name: p for p in self.service.projections.projections}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(
                f"unknown projection {unknown[0]!r}; known: {', '.join(known)}"
            )
        return [known[n] for n in names] if names else list(known.values())

    def rebuild(self, names: Sequence[str] = ()) -> list[RebuildResult]:
        requested = self.projections(names)
        self._check_archives(requested)
        # Projections that read the same history are built in one pass over
        # it, each event read and decoded once for all of them.
        groups = [
            [p for p in requested if p.needs_full_history],
            [p for p in requested if not p.needs_full_history],
        ]
        results: dict[str, RebuildResult] = {}
        for group in groups:
            if group:
                results.update((r.name, r) for r in self._rebuild_group(group))
        return [results[p.name] for p in requested]

    def verify(self, names: Sequence[str] = ()) -> list[RebuildResult]:
        requested = self.projections(names)
        self._check_archives(requested)
        return [self._verify_one(p) for p in requested]

    def _check_archives(self, projections: Sequence[Any]) -> None:
        """Refuse (ArchiveIntegrityError) to build from archives that do not
        verify: a missing or changed line would silently become wrong rows."""
        if any(p.needs_full_history for p in projections):
            self.archive.verify(recorded_head(self.database))

    def _rebuild_group(self, lives: list[Any]) -> list[RebuildResult]:
        asides: list[Any] = []
        positions = []
        try:
            asides.extend(self._fresh_aside(live) for live in lives)
            runner = self._runner(asides)
            runner.apply_stream(
                self._history(lives[0], runner, None), self._reporter(lives)
            )
            runner.catch_up()
            for live, aside in zip(lives, asides, strict=True):
                positions.append(self._swap(live, aside, self._runner([aside])))
        except BaseException:
            # Leave nothing aside: its position would hold compaction back.
            for aside in asides:
                self._drop(aside)
            raise
        results = []
        for live, position in zip(lives, positions, strict=True):
            with self.database.transaction(commit=False) as cursor:
                counts, checksum = tables_checksum(cursor, live.tables, live.tables)
            results.append(RebuildResult(live.name, counts, checksum, position))
        return results

    def _verify_one(self, live: Any) -> RebuildResult:
        with self.database.transaction(commit=False) as cursor:
            # Position and rows read together, so the fresh build can stop there.
            position = self._position(cursor, live.name)
            _, live_checksum = tables_checksum(cursor, live.tables, live.tables)
        aside = self._fresh_aside(live)
        try:
            runner = self._runner([aside])
            runner.apply_stream(
                self._history(live, runner, position), self._reporter([live])
            )
            with self.database.transaction(commit=False) as cursor:
                counts, checksum = tables_checksum(cursor, aside.tables, live.tables)
        finally:
            self._drop(aside)
        return RebuildResult(live.name, counts, checksum, position, live_checksum)

    def _fresh_aside(self, live: Any) -> Any:
        aside = type(live)(table=live.table + ASIDE)
        aside.name = live.name + ASIDE
        self._drop(aside)
        # Loaded without its query indexes, which the swap creates once under
        # the live names (an index keeps its name through a table rename).
        self._runner([aside]).create_tables(indexes=False)
        return aside

    def _runner(self, asides: list[Any]) -> ProjectionRunner:
        return ProjectionRunner(
            self.database, self.service.recorder, self.service.mapper, asides
        )

    def _history(
        self, live: Any, runner: ProjectionRunner, stop: int | None
    ) -> Iterator[Any]:
        if live.needs_full_history:
            return all_rows(self.archive, runner, stop)
        return live_rows(runner, stop)

    def _swap(self, live: Any, aside: Any, runner: ProjectionRunner) -> int:
        with self.database.transaction(commit=True) as cursor:
            # Writing first takes the store's write lock: no event can be
            # recorded between the last catch-up below and the swap.
            cursor.execute(
                f"UPDATE {POSITIONS_TABLE} SET notification_id=notification_id "
                "WHERE name=?",
                (aside.name,),
            )
            start = self._position(cursor, aside.name) + 1
            runner.apply_rows(
                cursor, runner.select_rows(start, SWAP_PAGE, cursor=cursor)
            )
            position = self._position(cursor, aside.name)
            for table in live.tables:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
            for old, new in zip(aside.tables, live.tables, strict=True):
                cursor.execute(f"ALTER TABLE {old} RENAME TO {new}")
            self._rename_indexes(cursor, live)
            cursor.execute(
                f"UPDATE {POSITIONS_TABLE} SET notification_id=? WHERE name=?",
                (position, live.name),
            )
            cursor.execute(f"DELETE FROM {POSITIONS_TABLE} WHERE name=?", (aside.name,))
        return position

    def _rename_indexes(self, cursor: Any, live: Any) -> None:
        # Indexes keep their aside names through a table rename; replace them.
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type='index' AND name LIKE ?",
            (f"%{ASIDE}%",),
        )
        for (name,) in cursor.fetchall():
            if any(name.startswith(table + ASIDE) for table in live.tables):
                cursor.execute(f"DROP INDEX {name}")
        for statement in live.create_statements():
            cursor.execute(statement)

    def _drop(self, aside: Any) -> None:
        with self.database.transaction(commit=True) as cursor:
            for table in aside.tables:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {POSITIONS_TABLE} ("
                "name TEXT PRIMARY KEY, notification_id INTEGER NOT NULL)"
            )
            cursor.execute(f"DELETE FROM {POSITIONS_TABLE} WHERE name=?", (aside.name,))

    def _position(self, cursor: Any, name: str) -> int:
        cursor.execute(
            f"SELECT notification_id FROM {POSITIONS_TABLE} WHERE name=?", (name,)
        )
        row = cursor.fetchone()
        return int(row[0]) if row else 0

    def _reporter(self, lives: list[Any]) -> Callable[[int], None] | None:
        if self.progress is None:
            return None
        return self.progress("rebuild " + ", ".join(live.name for live in lives))
