"""Retention: old firings leave the live store for verifiable archive files.

An event-log entry is ``active`` for two hours after its firing, ``archived``
until 48 hours, then leaves the log (both are settings; the state is worked out
from the firing's age when the log is read). Past that horizon, compaction moves
the ``Fired`` events themselves, with the attempts of each ended delivery, out
of the live store into append-only archive
files: gzip-compressed JSON lines, each listed in a manifest with its SHA-256,
event count, notification-id range and time range, every manifest entry carrying
the hash of the one before it.

The order makes a crash harmless: snapshot every touched trigger first (so its
state never needs the events again), write and fsync the archive and then the
manifest, and only then delete the events and their log rows in one
transaction. A re-run first finishes the newest archive's deletion, so events
end in the store, the archive or both, and never in two archives.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

log = logging.getLogger(__name__)

MANIFEST = "manifest.jsonl"
GENESIS_HASH = "0" * 64
# SQLite allows a bounded number of bound parameters per statement.
DELETE_CHUNK = 500


class ArchiveIntegrityError(Exception):
    """Raised when an archive file or the manifest chain does not verify."""

    def __init__(self, message: str, file: str | None = None) -> None:
        super().__init__(message)
        self.file = file


@dataclass(frozen=True)
class ArchivedEvent:
    """One stored event as an archive keeps it: exactly the bytes the store had."""

    notification_id: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes

    def to_line(self) -> bytes:
        record = {
            "id": self.notification_id,
            "originator_id": self.originator_id,
            "originator_version": self.originator_version,
            "topic": self.topic,
            "state": self.state.decode(),
        }
        return json.dumps(record, separators=(",", ":")).encode() + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> ArchivedEvent:
        record = json.loads(line)
        return cls(
            record["id"],
            record["originator_id"],
            record["originator_version"],
            record["topic"],
            record["state"].encode(),
        )


def entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class ArchiveStore:
    """The archive folder: numbered files and the chained manifest."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST

    def entries(self) -> list[dict[str, Any]]:
        if not self.folder.exists():
            return []
        if self.folder.is_dir() and not self.manifest_path.exists():
            return []
        if not self.folder.is_dir():
            raise ArchiveIntegrityError("the archive folder is not a folder", MANIFEST)
        with self.manifest_path.open("rb") as handle:
            try:
                return [json.loads(line) for line in handle if line.strip()]
            except ValueError:
                raise ArchiveIntegrityError(
                    "the manifest holds a line that is not JSON", MANIFEST
                ) from None

    def write_file(self, events: list[ArchivedEvent]) -> tuple[str, str]:
        """Write the next numbered archive file, fsynced; return name and SHA-256.

        A file left by a run that stopped before its manifest entry is simply
        written over: it was never listed, so nothing refers to it.
        """
        # Archives hold payloads, like the database: owner-only.
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"events-{len(self.entries()) + 1:06d}.jsonl.gz"
        raw = b"".join(event.to_line() for event in events)
        # mtime=0 keeps the file a pure function of its events.
        # Level 6 compresses these lines nearly as well as 9, at twice the speed.
        compressed = gzip.compress(raw, compresslevel=6, mtime=0)
        _write_synced(self.folder / name, compressed)
        return name, hashlib.sha256(compressed).hexdigest()

    def append_entry(
        self,
        name: str,
        sha256: str,
        events: list[ArchivedEvent],
        first_at: str,
        last_at: str,
    ) -> dict[str, Any]:
        """List a written file in the manifest, chained to the entry before."""
        entries = self.entries()
        entry = {
            "sequence": len(entries) + 1,
            "file": name,
            "sha256": sha256,
            "events": len(events),
            "first_id": events[0].notification_id,
            "last_id": events[-1].notification_id,
            "first_at": first_at,
            "last_at": last_at,
            "prev_hash": entries[-1]["hash"] if entries else GENESIS_HASH,
        }
        entry["hash"] = entry_hash(entry)
        _append_synced(self.manifest_path, json.dumps(entry, sort_keys=True) + "\n")
        return entry

    def read(self, entry: dict[str, Any]) -> list[ArchivedEvent]:
        data = gzip.decompress((self.folder / entry["file"]).read_bytes())
        return [ArchivedEvent.from_line(line) for line in data.splitlines() if line]

    def iter_events(self) -> Iterator[ArchivedEvent]:
        for entry in self.entries():
            yield from self.read(entry)

    def unlisted_files(self) -> list[str]:
        """Archive files the manifest does not list (an interrupted run leaves
        one; the next run writes over it)."""
        if not self.folder.is_dir():
            return []
        listed = {entry["file"] for entry in self.entries()}
        present = {path.name for path in self.folder.glob("events-*.jsonl.gz")}
        return sorted(present - listed)

    def verify(self, head: tuple[int, str] | None = None) -> list[dict[str, Any]]:
        """Check every file and the chain; raise naming the first file at fault.

        ``head`` is the (sequence, hash) of the newest entry as the store
        recorded it when deleting that entry's events: a manifest cut short,
        or gone, no longer reaches it.
        """
        previous = GENESIS_HASH
        entries = self.entries()
        self._verify_head(entries, head)
        for entry in entries:
            name = entry.get("file", "?")
            if entry.get("prev_hash") != previous:
                raise ArchiveIntegrityError("manifest chain is broken", name)
            if entry_hash(entry) != entry.get("hash"):
                raise ArchiveIntegrityError("manifest entry was changed", name)
            self._verify_file(entry)
            previous = entry["hash"]
        return entries

    def _verify_head(
        self, entries: list[dict[str, Any]], head: tuple[int, str] | None
    ) -> None:
        if head is None:
            return
        sequence, hash_ = head
        if len(entries) < sequence:
            raise ArchiveIntegrityError(
                f"the manifest ends at entry {len(entries)}, but the store "
                f"recorded archiving entry {sequence}",
                MANIFEST,
            )
        if entries[sequence - 1].get("hash") != hash_:
            name = entries[sequence - 1].get("file", MANIFEST)
            raise ArchiveIntegrityError(
                "entry differs from the one the store recorded", name
            )

    def _verify_file(self, entry: dict[str, Any]) -> None:
        name = entry["file"]
        path = self.folder / name
        if not path.exists():
            raise ArchiveIntegrityError("archive file is missing", name)
        if hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
            raise ArchiveIntegrityError("archive file does not match its SHA-256", name)
        try:
            events = self.read(entry)
        except (OSError, ValueError, KeyError) as error:
            raise ArchiveIntegrityError(
                f"archive file unreadable: {error}", name
            ) from None
        ids = (
            (events[0].notification_id, events[-1].notification_id) if events else None
        )
        if len(events) != entry["events"] or ids != (
            entry["first_id"],
            entry["last_id"],
        ):
            raise ArchiveIntegrityError("archive contents differ from manifest", name)


def _write_synced(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    _sync_folder(path.parent)


def _append_synced(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab") as handle:
        handle.write(text.encode())
        handle.flush()
        os.fsync(handle.fileno())
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    # A new file's name is durable only once its folder is synced too.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Compaction -------------------------------------------------------------------


@dataclass
class CompactionReport:
    """What one compaction run did."""

    archived_events: int = 0
    files: list[str] = field(default_factory=list)
    snapshots_taken: int = 0
    finished_previous: int = 0


StepHook = Callable[[str], None]


def _no_hook(step: str) -> None:
    return None


class Compactor:
    """Moves firings older than the horizon from the live store to archives.

    ``service`` is the application service: its recorder, its projections'
    database, and its ``take_snapshot``. ``after_step`` is called with the
    name of each step as it completes, so a test can stop the process there.
    """

    def __init__(
        self,
        service: Any,
        archive: ArchiveStore,
        *,
        batch_size: int = 100_000,
        after_step: StepHook = _no_hook,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.service = service
        self.archive = archive
        self.batch_size = batch_size
        self.after_step = after_step
        self.progress = progress
        self.database = service.projections.database
        create_head_table(self.database)

    def run(self, horizon: datetime) -> CompactionReport:
        report = CompactionReport()
        report.finished_previous = self.finish_newest_archive()
        self.service.projections.catch_up()
        while True:
            limit_id = self._limit_id()
            rows = self._candidates(horizon, limit_id)
            if not rows or not self._compact_batch(rows, limit_id, report):
                break
            if self.progress is not None:
                self.progress(report.archived_events)
            if len(rows) < self.batch_size:
                break
        log.info(
            "compaction finished",
            extra={
                "archived_events": report.archived_events,
                "finished_previous": report.finished_previous,
                "files": len(report.files),
                "horizon": horizon.isoformat(),
            },
        )
        return report

    def finish_newest_archive(self) -> int:
        """Delete what the newest archive holds but the store still has."""
        entries = self.archive.entries()
        if not entries:
            return 0
        ids = [e.notification_id for e in self.archive.read(entries[-1])]
        return self._delete(ids, entries[-1])

    def _limit_id(self) -> int:
        """The newest notification id compaction may take."""
        newest = self.service.recorder.max_notification_id() or 0
        positions = self.service.projections.positions()
        applied = min(
            positions.get(p.name, 0) for p in self.service.projections.projections
        )
        # The newest notification always stays: SQLite would hand its id out
        # again if it were deleted, and readers would skip the new event.
        return min(newest - 1, applied)

    def _candidates(self, horizon: datetime, limit_id: int) -> list[Any]:
        """Firings past the horizon whose delivery, if any, has ended."""
        return self.database.fetch_all(
            "SELECT e.position, e.trigger_id, e.fired_at, e.firing_id "
            "FROM event_log e LEFT JOIN deliveries d ON d.firing_id = e.firing_id "
            "WHERE e.fired_at <= ? AND e.position <= ? "
            "AND (d.firing_id IS NULL OR d.status != 'pending') "
            "ORDER BY e.position LIMIT ?",
            (_instant(horizon), limit_id, self.batch_size),
        )

    def _compact_batch(
        self, rows: list[Any], limit_id: int, report: CompactionReport
    ) -> bool:
        """Archive and delete one batch; False when it could take none."""
        # A firing's delivery attempts are archived with it: once the firing
        # has left the log, nothing reads them from the live store. A firing
        # with an attempt past the limit waits for a later run, whole.
        deliveries = self._delivery_event_ids([row[3] for row in rows])
        rows = [
            row
            for row in rows
            if all(i <= limit_id for i in deliveries.get(row[3], []))
        ]
        if not rows:
            return False
        ids = [int(row[0]) for row in rows]
        ids += [i for row in rows for i in deliveries.get(row[3], [])]
        events = self._stored_events(ids)
        report.snapshots_taken += self._snapshot_triggers(rows, events)
        self.after_step("snapshot")
        name, sha256 = self.archive.write_file(events)
        self.after_step("archive_file")
        fired = sorted(row[2] for row in rows)
        entry = self.archive.append_entry(name, sha256, events, fired[0], fired[-1])
        self.after_step("manifest")
        self._delete([e.notification_id for e in events], entry)
        self.after_step("delete")
        report.archived_events += len(events)
        report.files.append(entry["file"])
        return True

    def _delivery_event_ids(self, firing_ids: list[str]) -> dict[str, list[int]]:
        """Notification ids of each firing's delivery events."""
        found: dict[str, list[int]] = {}
        for chunk in _chunks([UUID(f).hex for f in firing_ids], DELETE_CHUNK):
            marks = ",".join("?" * len(chunk))
            rows = self.database.fetch_all(
                "SELECT originator_id, rowid FROM stored_events "
                f"WHERE originator_id IN ({marks})",
                chunk,
            )
            for originator_id, rowid in rows:
                found.setdefault(str(UUID(originator_id)), []).append(int(rowid))
        return found

    def _stored_events(self, ids: list[int]) -> list[ArchivedEvent]:
        events: list[ArchivedEvent] = []
        for chunk in _chunks(ids, DELETE_CHUNK):
            marks = ",".join("?" * len(chunk))
            rows = self.database.fetch_all(
                "SELECT rowid, originator_id, originator_version, topic, state "
                f"FROM stored_events WHERE rowid IN ({marks})",
                chunk,
            )
            events.extend(
                ArchivedEvent(r[0], _uuid_text(r[1]), r[2], r[3], bytes(r[4]))
                for r in rows
            )
        events.sort(key=lambda e: e.notification_id)
        return events

    def _snapshot_triggers(self, rows: list[Any], events: list[ArchivedEvent]) -> int:
        """Snapshot each trigger past its newest archived firing, where needed."""
        triggers = {str(UUID(row[1])) for row in rows}
        newest: dict[str, int] = {}
        for event in events:
            if event.originator_id in triggers:
                version = newest.get(event.originator_id, 0)
                newest[event.originator_id] = max(version, event.originator_version)
        taken = 0
        for originator_id, version in newest.items():
            if self._snapshot_version(originator_id) < version:
                self.service.take_snapshot(UUID(originator_id))
                taken += 1
        return taken

    def _snapshot_version(self, originator_id: str) -> int:
        row = self.database.fetch_one(
            "SELECT MAX(originator_version) FROM stored_snapshots "
            "WHERE originator_id=?",
            (UUID(originator_id).hex,),
        )
        return int(row[0]) if row and row[0] is not None else 0

    def _delete(self, ids: list[int], entry: dict[str, Any]) -> int:
        deleted = 0
        # Events, their log and outbox rows, and the record of the newest
        # archive entry change together, or none of them does.
        with self.database.transaction(commit=True) as cursor:
            cursor.execute("SELECT MAX(rowid) FROM stored_events")
            newest = cursor.fetchone()[0] or 0
            if any(i >= newest for i in ids):
                raise ArchiveIntegrityError(
                    "refusing to delete the newest stored event", entry["file"]
                )
            for chunk in _chunks(ids, DELETE_CHUNK):
                marks = ",".join("?" * len(chunk))
                cursor.execute(
                    f"DELETE FROM stored_events WHERE rowid IN ({marks})", chunk
                )
                cursor.execute("SELECT changes()")
                deleted += int(cursor.fetchone()[0])
                for table in ("event_log", "deliveries"):
                    cursor.execute(
                        f"DELETE FROM {table} WHERE position IN ({marks})", chunk
                    )
            cursor.execute(
                f"INSERT INTO {HEAD_TABLE} VALUES (1, ?, ?) ON CONFLICT (id) "
                "DO UPDATE SET sequence=excluded.sequence, hash=excluded.hash",
                (entry["sequence"], entry["hash"]),
            )
        return deleted


HEAD_TABLE = "archive_head"


def create_head_table(database: Any) -> None:
    with database.transaction(commit=True) as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {HEAD_TABLE} ("
            "id INTEGER PRIMARY KEY CHECK (id = 1), "
            "sequence INTEGER NOT NULL, hash TEXT NOT NULL)"
        )


def recorded_head(database: Any) -> tuple[int, str] | None:
    """The newest archive entry whose events the store has deleted."""
    create_head_table(database)
    row = database.fetch_one(f"SELECT sequence, hash FROM {HEAD_TABLE}")
    return (int(row[0]), str(row[1])) if row else None


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _uuid_text(value: str) -> str:
    return str(UUID(value))


def _instant(value: datetime) -> str:
    return value.isoformat(timespec="microseconds")


def horizon_for(now: datetime, archived_log_seconds: int) -> datetime:
    """Firings older than this have left the event log and may be archived."""
    return now - timedelta(seconds=archived_log_seconds)


class RetentionJob:
    """Runs compaction inside the service on its own period."""

    def __init__(self, service: Any, archive: ArchiveStore, period: float) -> None:
        self.service = service
        self.compactor = Compactor(service, archive)
        self.period = period

    def run_once(self) -> CompactionReport:
        now = self.service.clock()
        seconds = self.service.settings.archived_log_seconds
        return self.compactor.run(horizon_for(now, seconds))

    async def run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.run_once)
            except Exception:
                # A failed pass leaves every event where it was; try next period.
                log.exception("retention pass failed")
            await asyncio.sleep(self.period)
