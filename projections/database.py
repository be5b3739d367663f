"""The connection that projections use: the event store's own database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol


class Cursor(Protocol):
    def execute(self, statement: str, params: Any = ...) -> Any: ...

    def executemany(self, statement: str, params: Any) -> Any: ...

    def fetchall(self) -> Any: ...

    def fetchone(self) -> Any: ...


class Datastore(Protocol):
    def transaction(self, *, commit: bool) -> Any: ...

    def get_connection(self, *, commit: bool) -> Any: ...


class Database:
    """Runs read-model SQL through the event store's connection pool.

    Sharing the pool means a projection write waits its turn behind event
    writes in this process instead of racing them for the file lock.
    """

    def __init__(self, datastore: Datastore) -> None:
        self._datastore = datastore
        self._reading = threading.local()

    @contextmanager
    def reading(self) -> Iterator[Cursor]:
        """One read transaction for every fetch this thread makes inside it:
        the reads agree with each other, and cost one connection and BEGIN."""
        with self._datastore.transaction(commit=False) as cursor:
            self._reading.cursor = cursor
            try:
                yield cursor
            finally:
                self._reading.cursor = None

    @contextmanager
    def transaction(self, *, commit: bool) -> Iterator[Cursor]:
        if not commit:
            pinned = getattr(self._reading, "cursor", None)
            if pinned is not None:
                yield pinned
                return
            with self._datastore.transaction(commit=False) as cursor:
                yield cursor
            return
        with self._datastore.get_connection(commit=True) as connection:
            cursor = connection.cursor()
            # Take the write lock before the first read: a transaction that
            # reads and then writes while another process commits would be
            # refused at once, where this one waits for the lock its turn.
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                connection.rollback()
                raise
            connection.commit()

    def fetch_all(self, statement: str, params: Any = ()) -> list[Any]:
        with self.transaction(commit=False) as cursor:
            cursor.execute(statement, params)
            return list(cursor.fetchall())

    def fetch_one(self, statement: str, params: Any = ()) -> Any:
        with self.transaction(commit=False) as cursor:
            cursor.execute(statement, params)
            return cursor.fetchone()
