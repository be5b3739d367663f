"""The connection that projections use: the event store's own database."""

from __future__ import annotations

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


class Database:
    """Runs read-model SQL through the event store's connection pool.

    Sharing the pool means a projection write waits its turn behind event
    writes in this process instead of racing them for the file lock.
    """

    def __init__(self, datastore: Datastore) -> None:
        self._datastore = datastore

    @contextmanager
    def transaction(self, *, commit: bool) -> Iterator[Cursor]:
        with self._datastore.transaction(commit=commit) as cursor:
            yield cursor

    def fetch_all(self, statement: str, params: Any = ()) -> list[Any]:
        with self.transaction(commit=False) as cursor:
            cursor.execute(statement, params)
            return list(cursor.fetchall())

    def fetch_one(self, statement: str, params: Any = ()) -> Any:
        with self.transaction(commit=False) as cursor:
            cursor.execute(statement, params)
            return cursor.fetchone()
