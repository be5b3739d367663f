"""The SQLite recorder that also brings read models up to date, in the same
transaction as the events it records."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

InTransaction = Callable[[Any, Sequence[tuple[int, Any]]], bool]


class ProjectingSQLiteRecorder(SQLiteApplicationRecorder):
    """Records events, then hands them with their notification ids to
    ``project`` inside the same transaction, so a command costs one commit
    (one fsync) and its read-model rows are visible the moment it returns.

    The domain events come in as the ``projected_events`` keyword of
    ``insert_events``; without them, or without ``project``, it records as
    its base class does.
    """

    project: InTransaction | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._local = threading.local()

    @property
    def projected_last_insert(self) -> bool:
        """Whether this thread's last insert also updated the read models."""
        return bool(getattr(self._local, "projected", False))

    def _insert_events(
        self,
        c: SQLiteCursor,
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        domain_events = kwargs.get("projected_events")
        projected = False
        if self.project is not None and ids and domain_events is not None:
            projected = self.project(c, list(zip(ids, domain_events, strict=True)))
        self._local.projected = projected
        return ids
