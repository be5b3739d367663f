"""The APScheduler job: one durable sqlite3 insert per firing.

Referenced by text ("bench.aps_jobs:record_firing") so the SQLAlchemy job
store can pickle it. The sink uses the settings the event store uses: WAL
and SQLite's default synchronous=FULL, one commit per firing.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from pathlib import Path

JOB_REF = "bench.aps_jobs:record_firing"
# A job never starts before its due time; this only absorbs float rounding.
EARLY_SLACK = 1e-3


class Sink:
    """Where firings are recorded, and what the benchmark reads back."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.expected = 0
        self.records: list[tuple[float, float, float]] = []
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []

    def reset(self, path: Path, expected: int = 0) -> None:
        self.close()
        self.path, self.expected = path, expected
        self.records = []
        self.done = threading.Event()
        self._local = threading.local()
        with sqlite3.connect(path) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS firings "
                "(due REAL NOT NULL, started REAL NOT NULL)"
            )
        connection.close()

    def record(self, due: float, started: float) -> None:
        connection = self._connection()
        connection.execute("INSERT INTO firings VALUES (?, ?)", (due, started))
        connection.commit()
        recorded = time.time()
        with self._lock:
            self.records.append((due, started, recorded))
            if self.expected and len(self.records) >= self.expected:
                self.done.set()

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections = []

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            assert self.path is not None
            connection = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection


SINK = Sink()


def record_firing(anchor: float, period: float) -> None:
    """The job: work out which due time this run is for, and record it."""
    started = time.time()
    due = anchor
    if period > 0:
        due = anchor + math.floor((started - anchor + EARLY_SLACK) / period) * period
    SINK.record(due, started)
