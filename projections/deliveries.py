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
        return [
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            "firing_id TEXT PRIMARY KEY, position INTEGER NOT NULL, "
            "trigger_id TEXT NOT NULL, endpoint TEXT NOT NULL, "
            "reason TEXT NOT NULL, is_test INTEGER NOT NULL, "
            "due_at TEXT, fired_at TEXT NOT NULL, payload TEXT NOT NULL, "
            "status TEXT NOT NULL, attempts INTEGER NOT NULL, "
            "next_attempt_at TEXT, last_attempt_at TEXT, "
            "last_status_code INTEGER, last_error TEXT)",
            f"CREATE INDEX IF NOT EXISTS {self.table}_due "
            f"ON {self.table} (next_attempt_at) WHERE status = '{PENDING}'",
            f"CREATE INDEX IF NOT EXISTS {self.table}_by_trigger "
            f"ON {self.table} (trigger_id, position)",
            f"CREATE TABLE IF NOT EXISTS {self.table}_signing ("
            "trigger_id TEXT PRIMARY KEY, generation INTEGER NOT NULL, "
            "rotated_at TEXT)",
        ]

    def apply(self, cursor: Cursor, event: Any, notification_id: int) -> None:
        if isinstance(event, Trigger.Created):
            cursor.execute(
                f"INSERT INTO {self.table}_signing VALUES (?, 1, NULL)",
                (str(event.originator_id),),
            )
        elif isinstance(event, Trigger.SigningSecretRotated):
            cursor.execute(
                f"UPDATE {self.table}_signing SET generation=?, rotated_at=? "
                "WHERE trigger_id=?",
                (
                    event.generation,
                    instant_text(event.timestamp),
                    str(event.originator_id),
                ),
            )
        elif isinstance(event, Trigger.Fired):
            if event.endpoint is not None:
                self._add_firing(cursor, event, notification_id)
        else:
            self._apply_attempt(cursor, event)

    def _add_firing(self, cursor: Cursor, event: Any, notification_id: int) -> None:
        fired_at = instant_text(event.timestamp)
        cursor.execute(
            f"INSERT INTO {self.table} VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                event.firing_id,
                notification_id,
                str(event.originator_id),
                event.endpoint,
                event.reason,
                int(event.is_test),
                instant_text(event.due_at),
                fired_at,
                payload_text(event.payload),
                PENDING,
                0,
                fired_at,
                None,
                None,
                None,
            ),
        )

    def _apply_attempt(self, cursor: Cursor, event: Any) -> None:
        status = event.outcome if event.outcome in FINAL_OUTCOMES else PENDING
        cursor.execute(
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


def payload_text(payload: Any) -> str:
    """The payload as compact JSON in the order it was given, as it is sent."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


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
