"""The event log: one row per firing, test firings included."""

from __future__ import annotations

from typing import Any

from domain.trigger import Trigger
from projections.database import Cursor
from projections.encoding import instant_text, json_text

TABLE = "event_log"


class EventLogProjection:
    """Answers "what fired, when it was due, and when it really fired"."""

    name = "event_log"
    topics_of = (Trigger.Created, Trigger.Fired)

    # Archived firings have left the log; it is built from the live store.
    needs_full_history = False

    def __init__(self, table: str = TABLE) -> None:
        self.table = table
        # A trigger's owner never changes, so remembering it is always right.
        self._owners: dict[str, str] = {}

    @property
    def tables(self) -> list[str]:
        return [self.table, f"{self.table}_owners"]

    def _owner_of(self, cursor: Cursor, trigger_id: str) -> str:
        owner = self._owners.get(trigger_id)
        if owner is None:
            cursor.execute(
                f"SELECT owner_id FROM {self.table}_owners WHERE trigger_id=?",
                (trigger_id,),
            )
            owner = str(cursor.fetchone()[0])
            self._owners[trigger_id] = owner
        return owner

    def create_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            "firing_id TEXT PRIMARY KEY, position INTEGER NOT NULL, "
            "trigger_id TEXT NOT NULL, owner_id TEXT NOT NULL, "
            "reason TEXT NOT NULL, is_test INTEGER NOT NULL, "
            "due_at TEXT, fired_at TEXT NOT NULL, payload TEXT NOT NULL, "
            "covered_count INTEGER NOT NULL, misfired INTEGER NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {self.table}_by_owner "
            f"ON {self.table} (owner_id, position)",
            f"CREATE INDEX IF NOT EXISTS {self.table}_by_trigger "
            f"ON {self.table} (trigger_id, position)",
            f"CREATE TABLE IF NOT EXISTS {self.table}_owners ("
            "trigger_id TEXT PRIMARY KEY, owner_id TEXT NOT NULL)",
        ]

    def apply(self, cursor: Cursor, event: Any, notification_id: int) -> None:
        if isinstance(event, Trigger.Created):
            # Firings carry no owner; remember it here so the log needs no
            # other table, even after the trigger leaves the trigger list.
            cursor.execute(
                f"INSERT INTO {self.table}_owners VALUES (?, ?)",
                (str(event.originator_id), event.owner_id),
            )
            return
        trigger_id = str(event.originator_id)
        owner_id = self._owner_of(cursor, trigger_id)
        cursor.execute(
            f"INSERT INTO {self.table} VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                event.firing_id,
                notification_id,
                trigger_id,
                owner_id,
                event.reason,
                int(event.is_test),
                instant_text(event.due_at),
                instant_text(event.timestamp),
                json_text(event.payload),
                event.covered_count,
                int(event.misfired),
            ),
        )


class EventLogView:
    """Queries on the event log, newest firing first."""

    def __init__(self, database: Any, table: str = TABLE) -> None:
        self.database = database
        self.table = table

    def page_for_owner(
        self,
        owner_id: str,
        *,
        trigger_id: str | None = None,
        fired_after: str | None = None,
        fired_at_or_before: str | None = None,
        before_position: int | None = None,
        limit: int = 100,
    ) -> list[Any]:
        statement = f"SELECT * FROM {self.table} WHERE owner_id=?"
        params: list[Any] = [owner_id]
        for clause, value in (
            ("trigger_id=?", trigger_id),
            ("fired_at>?", fired_after),
            ("fired_at<=?", fired_at_or_before),
            ("position<?", before_position),
        ):
            if value is not None:
                statement += f" AND {clause}"
                params.append(value)
        statement += " ORDER BY position DESC LIMIT ?"
        params.append(limit)
        return self.database.fetch_all(statement, params)
