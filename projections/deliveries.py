"""The outbox: every firing with an endpoint, and how its delivery stands.

A ``Fired`` event that names an endpoint adds a pending row; each delivery
attempt updates it. The delivery worker reads what is due from here, so
what remains to be sent is always derived from the store. A second table
keeps each trigger's signing generation, so the worker signs without
loading the trigger.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from domain.delivery import FINAL_OUTCOMES, PENDING, Delivery
from domain.trigger import Trigger
from projections.database import Cursor
from projections.encoding import instant_text
from projections.records import FiredRecord, fired_record

TABLE = "deliveries"
# SQLite allows a bounded number of bound parameters per statement.
LOOKUP_CHUNK = 500


class DeliveriesProjection:
    """Answers "what is left to deliver, and when" and "how did it go"."""

    name = "deliveries"
    topics_of = (
        Trigger.Created,
        Trigger.SigningSecretRotated,
        Trigger.Fired,
        Delivery.Attempted,
    )

    # Compaction removes a firing's row with its events, once its delivery has
    # ended, so the live store alone rebuilds the outbox.
    needs_full_history = False

    def __init__(self, table: str = TABLE) -> None:
        self.table = table

    @property
    def tables(self) -> list[str]:
        return [self.table, f"{self.table}_signing"]

    def create_statements(self) -> list[str]:
        return self.table_statements() + self.index_statements()

    def table_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            "firing_id TEXT PRIMARY KEY, position INTEGER NOT NULL, "
            "trigger_id TEXT NOT NULL, endpoint TEXT NOT NULL, "
            "reason TEXT NOT NULL, is_test INTEGER NOT NULL, "
            "due_at TEXT, fired_at TEXT NOT NULL, payload TEXT NOT NULL, "
            "status TEXT NOT NULL, attempts INTEGER NOT NULL, "
            "next_attempt_at TEXT, last_attempt_at TEXT, "
            "last_status_code INTEGER, last_error TEXT)",
            f"CREATE TABLE IF NOT EXISTS {self.table}_signing ("
            "trigger_id TEXT PRIMARY KEY, generation INTEGER NOT NULL, "
            "rotated_at TEXT)",
        ]

    def index_statements(self) -> list[str]:
        """Indexes for the queries alone; applying events needs none of them."""
        return [
            f"CREATE INDEX IF NOT EXISTS {self.table}_due "
            f"ON {self.table} (next_attempt_at) WHERE status = '{PENDING}'",
            f"CREATE INDEX IF NOT EXISTS {self.table}_by_trigger "
            f"ON {self.table} (trigger_id, position)",
        ]

    def apply(self, cursor: Cursor, event: Any, notification_id: int) -> None:
        if isinstance(event, Trigger.Created):
            cursor.execute(*self._created(event))
        elif isinstance(event, Trigger.SigningSecretRotated):
            cursor.execute(*self._rotated(event))
        elif isinstance(event, Trigger.Fired):
            if event.endpoint is not None:
                self._add_firing(cursor, event, notification_id)
        else:
            self._apply_attempt(cursor, event)

    def apply_batch(self, cursor: Cursor, events: Sequence[tuple[int, Any]]) -> None:
        """Apply many events as ``apply`` would one by one: the statements are
        the same and in the same order within each table, and a run of one
        statement goes to SQLite as one ``executemany``."""
        runs: dict[str, list[tuple[str, list[Any]]]] = {"signing": [], "outbox": []}
        for notification_id, item in events:
            if type(item) is FiredRecord or isinstance(item, Trigger.Fired):
                record = item if type(item) is FiredRecord else fired_record(item)
                if record.endpoint is not None:
                    _add(runs["outbox"], *self._firing(record, notification_id))
            elif isinstance(item, Trigger.Created):
                _add(runs["signing"], *self._created(item))
            elif isinstance(item, Trigger.SigningSecretRotated):
                _add(runs["signing"], *self._rotated(item))
            else:
                _add(runs["outbox"], *self._attempt(item))
        for run in runs.values():
            for statement, params in run:
                cursor.executemany(statement, params)

    def _created(self, event: Any) -> tuple[str, tuple[Any, ...]]:
        return (
            f"INSERT INTO {self.table}_signing VALUES (?, 1, NULL)",
            (str(event.originator_id),),
        )

    def _rotated(self, event: Any) -> tuple[str, tuple[Any, ...]]:
        return (
            f"UPDATE {self.table}_signing SET generation=?, rotated_at=? "
            "WHERE trigger_id=?",
            (
                event.generation,
                instant_text(event.timestamp),
                str(event.originator_id),
            ),
        )

    def _firing(
        self, record: FiredRecord, notification_id: int
    ) -> tuple[str, tuple[Any, ...]]:
        return (
            f"INSERT INTO {self.table} VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                record.firing_id,
                notification_id,
                record.originator_id,
                record.endpoint,
                record.reason,
                int(record.is_test),
                record.due_at,
                record.timestamp,
                payload_text(record.payload),
                PENDING,
                0,
                record.timestamp,
                None,
                None,
                None,
            ),
        )

    def _attempt(self, event: Any) -> tuple[str, tuple[Any, ...]]:
        status = event.outcome if event.outcome in FINAL_OUTCOMES else PENDING
        return (
            f"UPDATE {self.table} SET status=?, attempts=?, next_attempt_at=?, "
            "last_attempt_at=?, last_status_code=?, last_error=? WHERE firing_id=?",
            (
                status,
                event.attempt,
                instant_text(event.next_attempt_at),
                instant_text(event.timestamp),
                event.status_code,
                event.error,
                str(event.originator_id),
            ),
        )

    def _add_firing(self, cursor: Cursor, event: Any, notification_id: int) -> None:
        cursor.execute(*self._firing(fired_record(event), notification_id))

    def _apply_attempt(self, cursor: Cursor, event: Any) -> None:
        cursor.execute(*self._attempt(event))


def _add(
    run: list[tuple[str, list[Any]]], statement: str, params: tuple[Any, ...]
) -> None:
    if run and run[-1][0] == statement:
        run[-1][1].append(params)
    else:
        run.append((statement, [params]))


# Built once: json.dumps with arguments builds an encoder on every call.
_PAYLOAD_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def payload_text(payload: Any) -> str:
    """The payload as compact JSON in the order it was given, as it is sent."""
    return _PAYLOAD_JSON.encode(payload)


class DeliveriesView:
    """Queries on the outbox."""

    def __init__(self, database: Any, table: str = TABLE) -> None:
        self.database = database
        self.table = table

    def due(self, now: datetime, limit: int) -> list[Any]:
        """Pending deliveries whose next attempt has come, oldest due first,
        each with its trigger's signing generation."""
        return self.database.fetch_all(
            f"SELECT d.*, s.generation, s.rotated_at FROM {self.table} d "
            f"JOIN {self.table}_signing s ON s.trigger_id = d.trigger_id "
            "WHERE d.status=? AND d.next_attempt_at<=? "
            "ORDER BY d.next_attempt_at, d.position LIMIT ?",
            (PENDING, instant_text(now), limit),
        )

    def next_attempt_after(self, now: datetime) -> datetime | None:
        """When the earliest pending delivery that is not yet due comes due."""
        row = self.database.fetch_one(
            f"SELECT MIN(next_attempt_at) FROM {self.table} "
            "WHERE status=? AND next_attempt_at>?",
            (PENDING, instant_text(now)),
        )
        if row is None or row[0] is None:
            return None
        return datetime.fromisoformat(row[0])

    def for_firings(self, firing_ids: Sequence[str]) -> dict[str, Any]:
        rows: dict[str, Any] = {}
        for start in range(0, len(firing_ids), LOOKUP_CHUNK):
            chunk = list(firing_ids[start : start + LOOKUP_CHUNK])
            marks = ",".join("?" * len(chunk))
            found = self.database.fetch_all(
                f"SELECT * FROM {self.table} WHERE firing_id IN ({marks})", chunk
            )
            rows.update((row["firing_id"], row) for row in found)
        return rows

    def for_trigger(self, trigger_id: str) -> list[Any]:
        return self.database.fetch_all(
            f"SELECT * FROM {self.table} WHERE trigger_id=? ORDER BY position",
            (trigger_id,),
        )
