"""The connection that projections use: the event store's own database."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

# The page cache of a connection that applies a long run of batches (the
# default is 2 MiB).
BULK_CACHE_KIB = 256 * 1024


class Cursor(Protocol):
    def execute(self, statement: str, params: Any = ...) -> Any: ...

    def executemany(self, statement: str, params: Any) -> Any: ...

    def fetchall(self) -> Any: ...

    def fetchone(self) -> Any: ...


class Datastore(Protocol):
    def transaction(self, *, commit: bool) -> Any: ...

    def get_connection(self, *, commit: bool) -> Any: ...


class Writer(Protocol):
    def transaction(self, *, commit: bool) -> Any: ...


class _Connection:
    """Write transactions on one SQLite connection."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    @contextmanager
    def transaction(self, *, commit: bool) -> Iterator[Cursor]:
        cursor = self._connection.cursor()
        # As the pool's writers do: the write lock before the first read.
        cursor.execute("BEGIN IMMEDIATE" if commit else "BEGIN")
        try:
            yield cursor
        except BaseException:
            self._connection.rollback()
            raise
        finally:
            cursor.close()
        if commit:
            self._connection.commit()
        else:
            self._connection.rollback()


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

    @contextmanager
    def bulk(self) -> Iterator[Writer]:
        """Write transactions, one after another, on a connection of their own.

        The pool hands out its connections in turn, and a connection finding
        that another one wrote since its last transaction starts again with
        an empty page cache; a long run of batches would read every index
        page it touches back in for each batch. This connection keeps its
        (large) cache from one batch to the next. It takes SQLite's write
        lock as any other writer does, so batches still take turns with
        everyone else's commits; in-memory stores use the pool.
        """
        pool = getattr(self._datastore, "pool", None)
        name = getattr(pool, "db_name", None)
        if not isinstance(name, str) or getattr(pool, "is_sqlite_memory_mode", True):
            yield self
            return
        connection = sqlite3.connect(
            name,
            uri=True,
            isolation_level=None,
            check_same_thread=False,
            timeout=getattr(pool, "lock_timeout", None) or 5,
        )
        try:
            connection.row_factory = sqlite3.Row
            connection.execute(f"PRAGMA cache_size={-BULK_CACHE_KIB}")
            yield _Connection(connection)
        finally:
            connection.close()

    def fetch_all(self, statement: str, params: Any = ()) -> list[Any]:
        with self.transaction(commit=False) as cursor:
            cursor.execute(statement, params)
            return list(cursor.fetchall())

    def fetch_one(self, statement: str, params: Any = ()) -> Any:
        with self.transaction(commit=False) as cursor:
            cursor.execute(statement, params)
            return cursor.fetchone()
