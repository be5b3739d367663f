"""Brings read models up to date with the event store, exactly once per event."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from eventsourcing.utils import get_topic

from projections.database import Cursor, Database, Writer
from projections.records import StoredDecoder, as_item, as_rows, event_class_of

log = logging.getLogger(__name__)

POSITIONS_TABLE = "projection_positions"
# Up to this many events are applied one by one: a batch first reads the rows
# it folds into, which costs more than the few statements it saves.
SMALL_BATCH = 4
# Events per transaction when catching up. Each commit of a batch rewrites
# the index pages it touched and syncs the log, so a large batch is much
# cheaper per event; 10,000 holds the write lock for about a tenth of a second.
BATCH_SIZE = 10_000


class Projection(Protocol):
    """A read model: its tables, and how one event changes its rows."""

    name: str
    topics_of: tuple[type, ...]

    def create_statements(self) -> list[str]:
        """The statements that create the projection's tables if missing."""

    def apply(self, cursor: Cursor, event: Any, notification_id: int) -> None:
        """Change the rows for one event, inside the caller's transaction."""


class BatchProjection(Projection, Protocol):
    """A read model that can also take many events at once.

    ``apply_batch`` gets (notification id, item) pairs in order, where an
    item is a domain event or, for a firing, a ``FiredRecord``; the rows it
    leaves must be those ``apply`` would leave, event by event.
    """

    def apply_batch(self, cursor: Cursor, events: Sequence[tuple[int, Any]]) -> None:
        """Change the rows for these events, inside the caller's transaction."""


class NotificationSource(Protocol):
    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
    ) -> Sequence[Any]: ...

    def max_notification_id(self) -> int | None: ...


class EventDecoder(Protocol):
    def to_domain_event(self, stored: Any) -> Any: ...


def is_caught_up(fetch_one: Callable[[str, Any], Any], names: Sequence[str]) -> bool:
    """Whether the named projections have applied every recorded event.

    One cheap query answers it, the common case being nothing new.
    """
    marks = ",".join("?" * len(names))
    applied, newest = fetch_one(
        f"SELECT (SELECT MIN(notification_id) FROM {POSITIONS_TABLE} "
        f"WHERE name IN ({marks})), (SELECT MAX(rowid) FROM stored_events)",
        list(names),
    )
    return applied is not None and applied >= (newest or 0)


def topics_for(projections: Sequence[Projection]) -> list[str]:
    """The stored-event topics that any of these projections applies."""
    return sorted({get_topic(cls) for p in projections for cls in p.topics_of})


class ProjectionRunner:
    """Applies new events to each projection and records how far it got.

    Rows and position change in one transaction; a crash in between leaves
    neither, and the next catch-up starts from the recorded position.
    """

    def __init__(
        self,
        database: Database,
        source: NotificationSource,
        decoder: EventDecoder,
        projections: Sequence[Projection],
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.database = database
        self.source = source
        self.decoder = decoder
        self.projections = list(projections)
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self.topics = topics_for(self.projections)
        self._stored = StoredDecoder(decoder)
        # Read straight from the store's table when the source says which it
        # is: plain rows cost a fraction of the recorder's notifications.
        table = getattr(source, "events_table_name", None)
        self._events_table = table if isinstance(table, str) else None
        self._wanted: dict[str, dict[type, bool]] = {
            p.name: {} for p in self.projections
        }

    def create_tables(self, indexes: bool = True) -> None:
        """Create each projection's tables and position; without ``indexes``
        only what a projection's own statements need (tables to load in bulk
        and index afterwards)."""
        with self.database.transaction(commit=True) as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {POSITIONS_TABLE} ("
                "name TEXT PRIMARY KEY, notification_id INTEGER NOT NULL)"
            )
            for projection in self.projections:
                statements = projection.create_statements()
                if not indexes:
                    statements = getattr(projection, "table_statements", list)()
                for statement in statements:
                    cursor.execute(statement)
                cursor.execute(
                    f"INSERT INTO {POSITIONS_TABLE} VALUES (?, 0) "
                    "ON CONFLICT (name) DO NOTHING",
                    (projection.name,),
                )

    def catch_up(self) -> int:
        """Apply every event not yet applied; return how many were read."""
        if self._caught_up():
            return 0
        with self._lock:
            total = self._apply_next_batch()
            if total < self.batch_size:
                return total
            # A long way behind (a new projection, say): the rest in bulk.
            with self.database.bulk() as writer:
                while True:
                    count = self._apply_next_batch(writer)
                    total += count
                    if count < self.batch_size:
                        return total

    @contextmanager
    def reading_current(self) -> Iterator[None]:
        """A read transaction in which every projection has applied every
        event recorded so far (catching up first when one has not)."""
        for _ in range(3):
            with self.database.reading():
                if self._caught_up():
                    yield
                    return
            self.catch_up()
        # Under a steady stream of writes, read what has been applied.
        with self.database.reading():
            yield

    def apply_in_transaction(
        self, cursor: Cursor, recorded: Sequence[tuple[int, Any]]
    ) -> bool:
        """Apply events inside the transaction that is recording them.

        Rows, positions and events then commit together. That is only right
        when the events follow on from every projection's position; otherwise
        (another process wrote in between) nothing is applied, False is
        returned, and a later catch-up reads them from the store. A projection
        that fails is rolled back to a savepoint, so recording never fails
        because of a read model.
        """
        ids = [notification_id for notification_id, _ in recorded]
        if not ids or ids != list(range(ids[0], ids[0] + len(ids))):
            return False
        positions = self._positions_in(cursor)
        if any(positions.get(p.name, 0) != ids[0] - 1 for p in self.projections):
            return False
        cursor.execute("SAVEPOINT projections")
        try:
            events = [(i, as_item(event)) for i, event in recorded]
            classes = [event_class_of(item) for _, item in events]
            for projection in self.projections:
                self._apply_to(
                    cursor, projection, positions, events, classes, move=False
                )
            # Every projection stood just before these events: one statement
            # moves them all past.
            names = [p.name for p in self.projections]
            cursor.execute(
                f"UPDATE {POSITIONS_TABLE} SET notification_id=? "
                f"WHERE name IN ({','.join('?' * len(names))})",
                (ids[-1], *names),
            )
        except Exception:
            log.exception("projection failed; it will catch up from the store")
            cursor.execute("ROLLBACK TO projections")
            cursor.execute("RELEASE projections")
            return False
        cursor.execute("RELEASE projections")
        return True

    def apply_stream(
        self,
        notifications: Iterable[Any],
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Apply notifications from any ordered source (archives merged with the
        live store, say), in batches, recording positions as ``catch_up`` does.
        """
        total = 0
        batch: list[Any] = []
        with self._lock, self.database.bulk() as writer:
            for notification in notifications:
                batch.append(notification)
                if len(batch) >= self.batch_size:
                    total += self._apply_notifications(batch, writer)
                    batch = []
                    if progress is not None:
                        progress(total)
            total += self._apply_notifications(batch, writer)
        if progress is not None:
            progress(total)
        return total

    def _caught_up(self) -> bool:
        return is_caught_up(self.database.fetch_one, [p.name for p in self.projections])

    def positions(self) -> dict[str, int]:
        rows = self.database.fetch_all(
            f"SELECT name, notification_id FROM {POSITIONS_TABLE}"
        )
        return {row[0]: int(row[1]) for row in rows}

    def lag(self) -> int:
        """How many notification ids the slowest projection is behind."""
        newest = self.source.max_notification_id() or 0
        positions = self.positions()
        oldest = min(positions.get(p.name, 0) for p in self.projections)
        return max(0, newest - oldest)

    def _apply_next_batch(self, writer: Writer | None = None) -> int:
        start = min(self.positions().get(p.name, 0) for p in self.projections)
        # Everything up to this id was committed before the select below, so a
        # short batch means the projections are current up to it.
        newest = self.source.max_notification_id() or 0
        notifications = self.select_rows(start + 1, self.batch_size)
        count = self._apply_notifications(notifications, writer)
        if count < self.batch_size and newest > start:
            self._advance_to(newest)
        return count

    def select_rows(
        self,
        start: int,
        limit: int,
        stop: int | None = None,
        cursor: Cursor | None = None,
    ) -> Sequence[Any]:
        """Stored events these projections apply, from ``start`` on, as rows
        (id, originator id, version, topic, state) or notifications."""
        if self._events_table is None:
            return self.source.select_notifications(
                start, limit, stop=stop, topics=self.topics
            )
        marks = ",".join("?" * len(self.topics))
        statement = (
            "SELECT rowid, originator_id, originator_version, topic, state "
            f"FROM {self._events_table} WHERE rowid>=? AND topic IN ({marks}) "
        )
        params: list[Any] = [start, *self.topics]
        if stop is not None:
            statement += "AND rowid<=? "
            params.append(stop)
        statement += "ORDER BY rowid LIMIT ?"
        params.append(limit)
        if cursor is None:
            return self.database.fetch_all(statement, params)
        cursor.execute(statement, params)
        return list(cursor.fetchall())

    def apply_rows(self, cursor: Cursor, notifications: Sequence[Any]) -> None:
        """Apply notifications, or stored rows, inside the caller's write
        transaction, skipping what each projection has already applied."""
        events = self._stored.decode(as_rows(notifications))
        positions = self._positions_in(cursor)
        classes = [event_class_of(item) for _, item in events]
        for projection in self.projections:
            self._apply_to(cursor, projection, positions, events, classes)

    def _apply_notifications(
        self, notifications: Sequence[Any], writer: Writer | None = None
    ) -> int:
        """Apply notifications, or stored rows, in one transaction."""
        if not notifications:
            return 0
        events = self._stored.decode(as_rows(notifications))
        with (writer or self.database).transaction(commit=True) as cursor:
            # Read positions again inside the write: another process may have
            # applied some of these events since the batch was selected.
            positions = self._positions_in(cursor)
            classes = [event_class_of(item) for _, item in events]
            for projection in self.projections:
                self._apply_to(cursor, projection, positions, events, classes)
        return len(notifications)

    def _apply_to(
        self,
        cursor: Cursor,
        projection: Projection,
        positions: dict[str, int],
        events: list[tuple[int, Any]],
        classes: list[type],
        move: bool = True,
    ) -> None:
        """Apply to one projection the events after its position (``classes``
        holds each event's class, worked out once for all projections), and
        with ``move``, record its new position."""
        done = positions.get(projection.name, 0)
        wanted = self._wanted.setdefault(projection.name, {})
        for cls in set(classes).difference(wanted):
            wanted[cls] = issubclass(cls, projection.topics_of)
        todo = [
            pair
            for pair, cls in zip(events, classes, strict=True)
            if pair[0] > done and wanted[cls]
        ]
        newer = [
            notification_id for notification_id, _ in events if notification_id > done
        ]
        apply_batch = getattr(projection, "apply_batch", None)
        if len(todo) > SMALL_BATCH and apply_batch is not None:
            apply_batch(cursor, todo)
        else:
            for notification_id, item in todo:
                event = self._stored.event_of(item)
                projection.apply(cursor, event, notification_id)
        if newer and move:
            cursor.execute(
                f"UPDATE {POSITIONS_TABLE} SET notification_id=? WHERE name=?",
                (newer[-1], projection.name),
            )

    def _advance_to(self, newest: int) -> None:
        """Move positions past events no projection applies (users, say)."""
        with self.database.transaction(commit=True) as cursor:
            for projection in self.projections:
                cursor.execute(
                    f"UPDATE {POSITIONS_TABLE} SET notification_id=? "
                    "WHERE name=? AND notification_id<?",
                    (newest, projection.name, newest),
                )

    def _positions_in(self, cursor: Cursor) -> dict[str, int]:
        cursor.execute(f"SELECT name, notification_id FROM {POSITIONS_TABLE}")
        return {row[0]: int(row[1]) for row in cursor.fetchall()}
