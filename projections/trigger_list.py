"""The trigger list: one row per live trigger, as lists and the scheduler read it."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from domain.trigger import SCHEDULE_EVENTS, Trigger
from projections.database import Cursor
from projections.encoding import instant_text, json_text
from projections.records import FiredRecord, fired_record

TABLE = "trigger_list"
# SQLite allows a bounded number of bound parameters per statement.
LOOKUP_CHUNK = 500
COLUMNS = (
    "trigger_id",
    "owner_id",
    "spec",
    "status",
    "created_at",
    "updated_at",
    "next_fire_at",
    "last_fired_at",
    "fire_count",
    "version",
)
SPEC = COLUMNS.index("spec")
STATUS = COLUMNS.index("status")
UPDATED_AT = COLUMNS.index("updated_at")
NEXT_FIRE_AT = COLUMNS.index("next_fire_at")
LAST_FIRED_AT = COLUMNS.index("last_fired_at")
FIRE_COUNT = COLUMNS.index("fire_count")
VERSION = COLUMNS.index("version")
_UPDATABLE = range(1, len(COLUMNS))


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
        return self.table_statements() + self.index_statements()

    def table_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            "trigger_id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, "
            "spec TEXT NOT NULL, status TEXT NOT NULL, "
            "created_at TEXT NOT NULL, updated_at TEXT NOT NULL, "
            "next_fire_at TEXT, last_fired_at TEXT, "
            "fire_count INTEGER NOT NULL, version INTEGER NOT NULL)",
        ]

    def index_statements(self) -> list[str]:
        """Indexes for the queries alone; applying events needs none of them."""
        return [
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

    def apply_batch(self, cursor: Cursor, events: Sequence[tuple[int, Any]]) -> None:
        """Apply many events as ``apply`` would one by one, with a few
        statements: each trigger's events are folded into its final row.

        Every row a trigger in the batch has is read first, so the fold
        starts from what the table holds.
        """
        by_trigger: dict[str, list[Any]] = {}
        for _, item in events:
            if type(item) is not FiredRecord:
                if isinstance(item, Trigger.Fired):
                    item = fired_record(item)
                trigger_id = str(item.originator_id)
            else:
                trigger_id = item.originator_id
            found = by_trigger.get(trigger_id)
            if found is None:
                by_trigger[trigger_id] = [item]
            else:
                found.append(item)
        before = self._rows(cursor, list(by_trigger))
        inserts: list[list[Any]] = []
        # Rows to update, grouped by the columns that changed: assigning an
        # indexed column, even its own value, rewrites its index entries.
        updates: dict[tuple[int, ...], list[list[Any]]] = {}
        deletes: list[tuple[str]] = []
        for trigger_id, items in by_trigger.items():
            old = before.get(trigger_id)
            row = None if old is None else list(old)
            for item in items:
                row = self._fold(row, trigger_id, item)
            if row is None:
                if old is not None:
                    deletes.append((trigger_id,))
            elif old is None:
                inserts.append(row)
            elif row != old:
                changed = tuple(i for i in _UPDATABLE if row[i] != old[i])
                values = [row[i] for i in changed]
                values.append(trigger_id)
                updates.setdefault(changed, []).append(values)
        if deletes:
            cursor.executemany(f"DELETE FROM {self.table} WHERE trigger_id=?", deletes)
        for changed, rows in updates.items():
            assignments = ", ".join(f"{COLUMNS[i]}=?" for i in changed)
            cursor.executemany(
                f"UPDATE {self.table} SET {assignments} WHERE trigger_id=?", rows
            )
        if inserts:
            cursor.executemany(
                f"INSERT INTO {self.table} VALUES (?,?,?,?,?,?,?,?,?,?)", inserts
            )

    def _fold(self, row: list[Any] | None, trigger_id: str, item: Any) -> Any:
        """The row after one event, as the statements ``apply`` runs leave it
        (an update of a missing row changes nothing)."""
        if type(item) is FiredRecord:
            if row is not None:
                row[UPDATED_AT] = item.timestamp
                row[VERSION] = item.originator_version
                if not item.is_test:
                    row[NEXT_FIRE_AT] = item.next_due_at
                    row[LAST_FIRED_AT] = item.timestamp
                    row[FIRE_COUNT] += 1
            return row
        if isinstance(item, Trigger.Created):
            if row is not None:
                raise sqlite3.IntegrityError(
                    f"UNIQUE constraint failed: {self.table}.trigger_id"
                )
            return list(self._created_row(trigger_id, item))
        if isinstance(item, Trigger.Deleted):
            return None
        if row is None:
            if isinstance(item, Trigger.Updated):
                # As in apply, which reads the spec of the row it updates.
                raise LookupError(f"no {self.table} row for trigger {trigger_id}")
            return None
        row[UPDATED_AT] = instant_text(item.timestamp)
        row[VERSION] = item.originator_version
        if isinstance(item, Trigger.Updated):
            spec = json.loads(row[SPEC])
            spec.update(item.changes)
            row[SPEC] = json_text(spec)
            row[NEXT_FIRE_AT] = instant_text(item.next_due_at)
            if item.next_due_at is not None and row[STATUS] == "completed":
                row[STATUS] = "active"
        elif isinstance(item, Trigger.Skipped):
            row[NEXT_FIRE_AT] = instant_text(item.next_due_at)
        elif isinstance(item, Trigger.Resumed):
            row[STATUS] = "active"
            row[NEXT_FIRE_AT] = instant_text(item.next_due_at)
        elif isinstance(item, Trigger.Paused):
            row[STATUS] = "paused"
            row[NEXT_FIRE_AT] = None
        elif isinstance(item, Trigger.Completed):
            row[STATUS] = "completed"
            row[NEXT_FIRE_AT] = None
        return row

    def _rows(self, cursor: Cursor, trigger_ids: list[str]) -> dict[str, list[Any]]:
        rows: dict[str, list[Any]] = {}
        for start in range(0, len(trigger_ids), LOOKUP_CHUNK):
            chunk = trigger_ids[start : start + LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            cursor.execute(
                f"SELECT * FROM {self.table} WHERE trigger_id IN ({marks})", chunk
            )
            for row in cursor.fetchall():
                rows[row[0]] = list(row)
        return rows

    def _created_row(self, trigger_id: str, event: Any) -> tuple[Any, ...]:
        created = instant_text(event.timestamp)
        return (
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
        )

    def _insert(self, cursor: Cursor, trigger_id: str, event: Any) -> None:
        cursor.execute(
            f"INSERT INTO {self.table} VALUES (?,?,?,?,?,?,?,?,?,?)",
            self._created_row(trigger_id, event),
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
