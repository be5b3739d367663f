"""Reads answered on the event loop itself, without a worker thread.

Handing a read to a worker thread and back costs more than the read: a
trigger row is found in tens of microseconds, the hop takes hundreds. A
read on the loop must never wait, though, so it runs only where it cannot:
on a private connection that only reads (in WAL mode readers take no lock
a writer holds, and this one is told never to wait), one caller at a time,
and only while every read model has applied every recorded event.
Otherwise the caller is told to take the ordinary path, which catches the
read models up first.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from projections.runner import is_caught_up

T = TypeVar("T")


class NotNow(Exception):
    """The read could not be answered at once; take the worker-thread path."""


class _Fetcher:
    """The fetch methods the read-model views call, on one cursor."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    def fetch_all(self, statement: str, params: Any = ()) -> list[Any]:
        self._cursor.execute(statement, params)
        return self._cursor.fetchall()

    def fetch_one(self, statement: str, params: Any = ()) -> Any:
        self._cursor.execute(statement, params)
        return self._cursor.fetchone()


class LoopReads:
    """Runs a read against the read models when they are current, or refuses.

    ``views`` builds the view objects a read is given, over a fetcher.
    """

    def __init__(
        self,
        path: Path,
        projection_names: Sequence[str],
        views: Callable[[Any], T],
    ) -> None:
        self._connection = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=0
        )
        self._connection.execute("PRAGMA query_only=1")
        self._connection.row_factory = sqlite3.Row
        self._cursor = self._connection.cursor()
        self._fetcher = _Fetcher(self._cursor)
        self._views = views(self._fetcher)
        self._lock = threading.Lock()
        self._names = list(projection_names)

    def run(self, read: Callable[[Any], Any]) -> Any:
        """``read(views)`` in one read transaction; NotNow when it would wait."""
        if not self._lock.acquire(blocking=False):
            raise NotNow()
        try:
            return self._run_locked(read)
        finally:
            self._lock.release()

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def _run_locked(self, read: Callable[[Any], Any]) -> Any:
        cursor = self._cursor
        try:
            cursor.execute("BEGIN")
            if not is_caught_up(self._fetcher.fetch_one, self._names):
                raise NotNow()
            return read(self._views)
        except sqlite3.Error:
            # Busy, or the file is being recovered: not something to wait for.
            raise NotNow() from None
        finally:
            if self._connection.in_transaction:
                # Only read: ending it either way releases the snapshot.
                cursor.execute("ROLLBACK")
