"""The event log: one row per firing, test firings included."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.trigger import Trigger
from projections.database import Cursor
from projections.encoding import instant_text, json_text
from projections.records import FiredRecord, fired_record

TABLE = "event_log"
# SQLite allows a bounded number of bound parameters per statement.
LOOKUP_CHUNK = 500


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
        return self.table_statements() + self.index_statements()

    def table_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            "firing_id TEXT PRIMARY KEY, position INTEGER NOT NULL, "
            "trigger_id TEXT NOT NULL, owner_id TEXT NOT NULL, "
            "reason TEXT NOT NULL, is_test INTEGER NOT NULL, "
            "due_at TEXT, fired_at TEXT NOT NULL, payload TEXT NOT NULL, "
            "covered_count INTEGER NOT NULL, misfired INTEGER NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.table}_owners ("
            "trigger_id TEXT PRIMARY KEY, owner_id TEXT NOT NULL)",
        ]

    def index_statements(self) -> list[str]:
        """Indexes for the queries alone; applying events needs none of them."""
        return [
            f"CREATE INDEX IF NOT EXISTS {self.table}_by_owner "
            f"ON {self.table} (owner_id, position)",
            f"CREATE INDEX IF NOT EXISTS {self.table}_by_trigger "
            f"ON {self.table} (trigger_id, position)",
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

    def apply_batch(self, cursor: Cursor, events: Sequence[tuple[int, Any]]) -> None:
        """Apply many events as ``apply`` would one by one, with one insert
        per table: owners and firings are rows of different tables, and a
        firing's owner is known from its trigger's creation."""
        owners: list[tuple[str, str]] = []
        firings: list[tuple[int, FiredRecord]] = []
        for notification_id, item in events:
            if type(item) is FiredRecord:
                firings.append((notification_id, item))
            elif isinstance(item, Trigger.Created):
                trigger_id = str(item.originator_id)
                owners.append((trigger_id, item.owner_id))
                # Every creation has a new id and an owner for good, so this
                # is right even if the transaction is rolled back.
                self._owners[trigger_id] = item.owner_id
            else:
                firings.append((notification_id, fired_record(item)))
        if owners:
            cursor.executemany(f"INSERT INTO {self.table}_owners VALUES (?, ?)", owners)
        if not firings:
            return
        known = self._owners
        self._look_up_owners(
            cursor, {r.originator_id for _, r in firings} - known.keys()
        )
        cursor.executemany(
            f"INSERT INTO {self.table} VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    record.firing_id,
                    notification_id,
                    record.originator_id,
                    known[record.originator_id],
                    record.reason,
                    int(record.is_test),
                    record.due_at,
                    record.timestamp,
                    json_text(record.payload),
                    record.covered_count,
                    int(record.misfired),
                )
                for notification_id, record in firings
            ],
        )

    def _look_up_owners(self, cursor: Cursor, trigger_ids: set[str]) -> None:
        wanted = sorted(trigger_ids)
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            cursor.execute(
                f"SELECT trigger_id, owner_id FROM {self.table}_owners "
                f"WHERE trigger_id IN ({marks})",
                chunk,
            )
            for trigger_id, owner_id in cursor.fetchall():
                self._owners[trigger_id] = str(owner_id)
        missing = trigger_ids - self._owners.keys()
        if missing:
            # As in apply, which finds no owner row to read.
            raise LookupError(f"no owner recorded for trigger {min(missing)}")


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
