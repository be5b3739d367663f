"""The trigger list: one row per live trigger, as lists and the scheduler read it."""

from __future__ import annotations

import json
from typing import Any

from domain.trigger import SCHEDULE_EVENTS, Trigger
from projections.database import Cursor
from projections.encoding import instant_text, json_text

TABLE = "trigger_list"


class TriggerListProjection:
    """Answers "which triggers does this person have" and "what is due when"."""

    name = "trigger_list"
    topics_of = (
        *SCHEDULE_EVENTS,
        # Changes only version and updated_at, which must not lag the history.
        Trigger.SigningSecretRotated,
    )

    # Its fire counts come from every firing, archived ones included.
    needs_full_history = True

    def __init__(self, table: str = TABLE) -> None:
        self.table = table

    @property
    def tables(self) -> list[str]:
        return [self.table]

    def create_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            "trigger_id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, "
            "spec TEXT NOT NULL, status TEXT NOT NULL, "
            "created_at TEXT NOT NULL, updated_at TEXT NOT NULL, "
            "next_fire_at TEXT, last_fired_at TEXT, "
            "fire_count INTEGER NOT NULL, version INTEGER NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {self.table}_by_owner "
            f"ON {self.table} (owner_id, created_at, trigger_id)",
            f"CREATE INDEX IF NOT EXISTS {self.table}_by_due "
            f"ON {self.table} (next_fire_at)",
        ]

    def apply(self, cursor: Cursor, event: Any, notification_id: int) -> None:
        trigger_id = str(event.originator_id)
        if isinstance(event, Trigger.Created):
            self._insert(cursor, trigger_id, event)
            return
        if isinstance(event, Trigger.Deleted):
            cursor.execute(
                f"DELETE FROM {self.table} WHERE trigger_id=?", (trigger_id,)
            )
            return
        if isinstance(event, Trigger.Fired) and not event.is_test:
            # Counting in SQL spares a read of the row for every firing.
            cursor.execute(
                f"UPDATE {self.table} SET updated_at=?, version=?, "
                "next_fire_at=?, last_fired_at=?, fire_count=fire_count+1 "
                "WHERE trigger_id=?",
                (
                    instant_text(event.timestamp),
                    event.originator_version,
                    instant_text(event.next_due_at),
                    instant_text(event.timestamp),
                    trigger_id,
                ),
            )
            return
        changes: dict[str, Any] = {
            "updated_at": instant_text(event.timestamp),
            "version": event.originator_version,
        }
        changes.update(self._changes_for(cursor, trigger_id, event))
        assignments = ", ".join(f"{column}=?" for column in changes)
        status = ""
        if isinstance(event, Trigger.Updated) and event.next_due_at is not None:
            # An update that gives a completed trigger a future time
            # reactivates it.
            status = (
                ", status=CASE status WHEN 'completed' THEN 'active' ELSE status END"
            )
        cursor.execute(
            f"UPDATE {self.table} SET {assignments}{status} WHERE trigger_id=?",
            (*changes.values(), trigger_id),
        )

    def _insert(self, cursor: Cursor, trigger_id: str, event: Any) -> None:
        created = instant_text(event.timestamp)
        cursor.execute(
            f"INSERT INTO {self.table} VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                trigger_id,
                event.owner_id,
                json_text(event.spec),
                "active",
                created,
                created,
                instant_text(event.next_due_at),
                None,
                0,
                event.originator_version,
            ),
        )

    def _changes_for(self, cursor: Cursor, trigger_id: str, event: Any) -> dict:
        if isinstance(event, Trigger.Updated):
            spec = self._spec(cursor, trigger_id)
            spec.update(event.changes)
            return {
                "spec": json_text(spec),
                "next_fire_at": instant_text(event.next_due_at),
            }
        if isinstance(event, Trigger.Skipped):
            return {"next_fire_at": instant_text(event.next_due_at)}
        if isinstance(event, Trigger.Resumed):
            return {"status": "active", "next_fire_at": instant_text(event.next_due_at)}
        if isinstance(event, Trigger.Paused):
            return {"status": "paused", "next_fire_at": None}
        if isinstance(event, Trigger.Completed):
            return {"status": "completed", "next_fire_at": None}
        return {}

    def _spec(self, cursor: Cursor, trigger_id: str) -> dict[str, Any]:
        cursor.execute(
            f"SELECT spec FROM {self.table} WHERE trigger_id=?", (trigger_id,)
        )
        return json.loads(cursor.fetchone()[0])


class TriggerListView:
    """Queries on the trigger list."""

    def __init__(self, database: Any, table: str = TABLE) -> None:
        self.database = database
        self.table = table

    def page_for_owner(
        self, owner_id: str, limit: int | None, after: tuple[str, str] | None
    ) -> list[Any]:
        """The owner's triggers in creation order, after a (created_at, id) key."""
        statement = f"SELECT * FROM {self.table} WHERE owner_id=? "
        params: list[Any] = [owner_id]
        if after is not None:
            statement += "AND (created_at, trigger_id) > (?, ?) "
            params.extend(after)
        statement += "ORDER BY created_at, trigger_id"
        if limit is not None:
            statement += " LIMIT ?"
            params.append(limit)
        return self.database.fetch_all(statement, params)

    def get(self, owner_id: str, trigger_id: str) -> Any | None:
        return self.database.fetch_one(
            f"SELECT * FROM {self.table} WHERE trigger_id=? AND owner_id=?",
            (trigger_id, owner_id),
        )

    def scheduled(self) -> list[Any]:
        """(trigger_id, next_fire_at, version) of every trigger that is due later."""
        return self.database.fetch_all(
            f"SELECT trigger_id, next_fire_at, version FROM {self.table} "
            "WHERE next_fire_at IS NOT NULL"
        )
