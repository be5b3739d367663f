"""The scheduling loop: knows every next fire time and fires what is due.

It keeps only (due time, trigger id, version) per trigger in a heap. What it
knows comes from the event store, never from another part's memory, so it
behaves the same whether the API runs in this process or elsewhere: it loads
the trigger list once, then follows new events from the position it loaded at.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from datetime import datetime
from typing import Any

from eventsourcing.utils import get_topic

from domain.trigger import SCHEDULE_EVENTS

log = logging.getLogger(__name__)

TRIGGER_TOPICS = sorted(get_topic(cls) for cls in SCHEDULE_EVENTS)
FOLLOW_BATCH = 5000
# The loop's timer wakes late by up to a millisecond and more (epoll counts
# whole milliseconds); the last stretch before a due time is slept in the
# worker thread instead, whose sleep is precise.
PRECISE_WAKE_SECONDS = 0.002


def next_due_after_event(event: Any) -> datetime | None:
    """Where an event leaves the trigger's next due time."""
    return getattr(event, "next_due_at", None)


class DueQueue:
    """Next due time per trigger, earliest first; stale heap entries are skipped."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, str, int]] = []
        self._known: dict[str, tuple[datetime, int]] = {}

    def __len__(self) -> int:
        return len(self._known)

    def set(self, trigger_id: str, due_at: datetime | None, version: int) -> None:
        current = self._known.get(trigger_id)
        if current is not None and current[1] > version:
            return
        if due_at is None:
            self._known.pop(trigger_id, None)
            return
        self._known[trigger_id] = (due_at, version)
        heapq.heappush(self._heap, (due_at, trigger_id, version))

    def earliest(self) -> datetime | None:
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: datetime, limit: int) -> list[tuple[str, datetime]]:
        due: list[tuple[str, datetime]] = []
        while len(due) < limit:
            self._drop_stale()
            if not self._heap or self._heap[0][0] > now:
                break
            due_at, trigger_id, _ = heapq.heappop(self._heap)
            del self._known[trigger_id]
            due.append((trigger_id, due_at))
        return due

    def _drop_stale(self) -> None:
        while self._heap:
            due_at, trigger_id, version = self._heap[0]
            if self._known.get(trigger_id) == (due_at, version):
                return
            heapq.heappop(self._heap)


class SchedulerLoop:
    """Sleeps until the earliest due time or a change, then fires what is due."""

    def __init__(
        self,
        service: Any,
        *,
        batch_size: int = 500,
        poll_interval: float = 0.5,
    ) -> None:
        self.service = service
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.queue = DueQueue()
        self.position = 0
        self.fired_total = 0
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def load(self) -> None:
        """Fill the queue from the trigger list and remember its position."""
        projections = self.service.projections
        projections.catch_up()
        with projections.database.transaction(commit=False) as cursor:
            # One read transaction: the rows and the position agree.
            cursor.execute(
                "SELECT notification_id FROM projection_positions WHERE name=?",
                ("trigger_list",),
            )
            self.position = int(cursor.fetchone()[0])
            cursor.execute(
                "SELECT trigger_id, next_fire_at, version FROM trigger_list "
                "WHERE next_fire_at IS NOT NULL"
            )
            rows = cursor.fetchall()
        for trigger_id, next_fire_at, version in rows:
            self.queue.set(trigger_id, datetime.fromisoformat(next_fire_at), version)
        log.info(
            "scheduler loaded",
            extra={"scheduled_triggers": len(self.queue), "position": self.position},
        )

    def follow_store(self) -> int:
        """Apply events recorded since the last look; return how many."""
        recorder = self.service.recorder
        mapper = self.service.mapper
        total = 0
        while True:
            # Everything up to here was committed before the select: once a
            # short batch has been read, the loop has seen all of it.
            newest = recorder.max_notification_id() or 0
            notifications = recorder.select_notifications(
                self.position + 1, FOLLOW_BATCH, topics=TRIGGER_TOPICS
            )
            for notification in notifications:
                event = mapper.to_domain_event(notification)
                self.queue.set(
                    str(event.originator_id),
                    next_due_after_event(event),
                    event.originator_version,
                )
                self.position = notification.id
            total += len(notifications)
            if len(notifications) < FOLLOW_BATCH:
                self.position = max(self.position, newest)
                return total

    def fire_due_now(self) -> int:
        """Fire every trigger due by now, in batches; return the firings."""
        fired = 0
        while True:
            due = self.queue.pop_due(self.service.clock(), self.batch_size)
            if not due:
                return fired
            firings, recorded = self.service.fire_due_recorded(due)
            fired += len(firings)
            self.take_recorded(recorded)
            self.follow_store()

    def take_recorded(self, recorded: list[tuple[int, Any]]) -> None:
        """Learn from events this loop just recorded, without reading them
        back, when they follow on from what it has seen; else the next look
        at the store reads them."""
        ids = [notification_id for notification_id, _ in recorded]
        if not ids or ids[0] != self.position + 1:
            return
        if ids != list(range(ids[0], ids[0] + len(ids))):
            return
        for _, event in recorded:
            if isinstance(event, SCHEDULE_EVENTS):
                self.queue.set(
                    str(event.originator_id),
                    next_due_after_event(event),
                    event.originator_version,
                )
        self.position = ids[-1]

    def wake(self) -> None:
        """Ask the loop to look at the store now; safe from any thread."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        await asyncio.to_thread(self.load)
        while True:
            self._wake.clear()
            try:
                await asyncio.to_thread(self._step)
            except Exception:
                # One bad pass must not stop every trigger from firing.
                log.exception("scheduler pass failed")
            await self._sleep()

    def _step(self) -> None:
        self.follow_store()
        self._sleep_until_imminent_due()
        self.fired_total += self.fire_due_now()

    def _sleep_until_imminent_due(self) -> None:
        earliest = self.queue.earliest()
        if earliest is None:
            return
        wait = (earliest - self.service.clock()).total_seconds()
        if 0 < wait <= PRECISE_WAKE_SECONDS:
            time.sleep(wait)

    async def _sleep(self) -> None:
        assert self._wake is not None
        timeout = self.poll_interval
        earliest = self.queue.earliest()
        if earliest is not None:
            until_due = (earliest - self.service.clock()).total_seconds()
            timeout = max(0.0, min(timeout, until_due - PRECISE_WAKE_SECONDS))
        log.debug("scheduler sleeping", extra={"seconds": round(timeout, 4)})
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            pass
