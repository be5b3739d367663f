"""Group commit: concurrent commands share one transaction, and one fsync.

Each commit to the SQLite file waits for its write-ahead log to reach the
disk (about 0.6 ms here), and commits take turns. When many requests arrive
together, the first to find no commit under way becomes the leader: it saves
everything queued so far in one transaction. Whatever queued meanwhile is
led by the first of those callers, so nobody's answer waits for commits that
came after its own; the others wait for their own aggregate's outcome.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class _Pending:
    def __init__(self, aggregate: Any) -> None:
        self.aggregate = aggregate
        # Set when the outcome is known, or when this caller is to lead.
        self.woken = threading.Event()
        self.leads = False
        self.finished = False
        self.error: BaseException | None = None


class GroupCommit:
    """Saves aggregates handed in from many threads, batched.

    ``save`` is the application's save, which records any number of
    aggregates atomically. When the store refuses a batch (another writer got
    to one of its aggregates first), every command in it gets the refusal
    and runs again.
    """

    def __init__(self, save: Callable[..., Any], max_batch: int = 100) -> None:
        self._save = save
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._committing = False

    def save(self, aggregate: Any) -> None:
        pending = _Pending(aggregate)
        with self._lock:
            self._queue.append(pending)
            if not self._committing:
                self._committing = True
                pending.leads = True
        if not pending.leads:
            pending.woken.wait()
        if not pending.finished:
            # Leading: this caller is first in the queue, so in the batch.
            self._commit_next_batch()
        if pending.error is not None:
            raise pending.error

    def _commit_next_batch(self) -> None:
        with self._lock:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
        try:
            self._commit(batch)
        finally:
            with self._lock:
                if self._queue:
                    following = self._queue[0]
                    following.leads = True
                    following.woken.set()
                else:
                    self._committing = False

    def _commit(self, batch: list[_Pending]) -> None:
        # A failed batch fails every command in it, and only through their
        # callers; the next batch still gets a leader, so nobody is left
        # waiting. A refused batch (IntegrityError) had its pending events
        # collected, so each caller runs its command again on the aggregate
        # as it now is.
        try:
            self._save(*(p.aggregate for p in batch))
        except Exception as error:
            for pending in batch:
                pending.error = error
        for pending in batch:
            pending.finished = True
            pending.woken.set()
