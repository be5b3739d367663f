"""The delivery worker: POSTs each recorded firing to its endpoint, signed.

The outbox is the event store. Every ``Fired`` event that names an endpoint
is a pending delivery until an attempt records a final outcome, so a process
killed between firing and delivering delivers after its restart, and a
delivery whose success was recorded is never sent again. The promise is at
least once: a process killed after a receiver answered but before the answer
was recorded sends that firing again, with the same idempotency key.

Firing never waits on delivery: the scheduler records firings and moves on;
this worker runs beside it, with a bounded number of requests in flight.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import time
from collections.abc import Callable
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from domain.delivery import (
    CONNECTION,
    PROTOCOL,
    REFUSED_ADDRESS,
    TIMEOUT,
    UNEXPECTED,
    AttemptResult,
)
from domain.timezones import format_instant
from eventtrigger import __version__
from eventtrigger.settings import Settings
from eventtrigger.signing import signature_header
from eventtrigger.targets import GuardedBackend, GuardedTransport, RefusedTargetError

log = logging.getLogger(__name__)

USER_AGENT = f"eventtrigger/{__version__}"
IDEMPOTENCY_HEADER = "Idempotency-Key"
TIMESTAMP_HEADER = "X-Eventtrigger-Timestamp"
SIGNATURE_HEADER = "X-Eventtrigger-Signature"
DUE_AT_HEADER = "X-Eventtrigger-Due-At"
ATTEMPT_HEADER = "X-Eventtrigger-Attempt"
# A delivery whose attempt could not be recorded waits this long before it is
# tried again, so a store that refuses writes is not met with a request storm.
RECORD_FAILURE_PAUSE_SECONDS = 5.0
READ_CHUNK = 4096
# httpx logs every request with its full URL, and an endpoint's URL may carry
# credentials; each attempt is logged here instead, by ids.
logging.getLogger("httpx").setLevel(logging.WARNING)


# The request ------------------------------------------------------------------


def request_body(row: Any) -> bytes:
    """The JSON body for an outbox row: compact, keys always in this order."""
    document = {
        "firing_id": row["firing_id"],
        "trigger_id": row["trigger_id"],
        "reason": row["reason"],
        "is_test": bool(row["is_test"]),
        "due_at": _instant(row["due_at"]),
        "fired_at": _instant(row["fired_at"]),
        "payload": json.loads(row["payload"]),
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def request_headers(
    row: Any, body: bytes, timestamp: int, attempt: int, secrets: list[str]
) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        IDEMPOTENCY_HEADER: row["firing_id"],
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature_header(secrets, timestamp, body),
        ATTEMPT_HEADER: str(attempt),
    }
    due_at = _instant(row["due_at"])
    if due_at is not None:
        headers[DUE_AT_HEADER] = due_at
    return headers


def _instant(text: str | None) -> str | None:
    return None if text is None else format_instant(datetime.fromisoformat(text))


# Sending ----------------------------------------------------------------------


class WebhookSender:
    """Sends one request and says what came of it; the endpoint's faults are
    results, never exceptions."""

    def __init__(
        self,
        settings: Settings,
        *,
        backend: GuardedBackend | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.timeout = settings.delivery_timeout_seconds
        self.excerpt_bytes = settings.delivery_excerpt_bytes
        self.clock = clock
        limits = httpx.Limits(
            max_connections=settings.delivery_concurrency,
            max_keepalive_connections=settings.delivery_concurrency,
        )
        backend = backend or GuardedBackend(settings.allow_private_targets)
        self.client = httpx.AsyncClient(
            transport=GuardedTransport(backend, limits),
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(self.timeout),
            # Plain bodies: the excerpt cap then bounds what is read, and no
            # compressed answer can expand into a large one.
            headers={"Accept-Encoding": "identity"},
        )

    async def send(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> AttemptResult:
        started = time.perf_counter()
        try:
            # One deadline for the whole exchange; httpx's own timeouts apply
            # per read, which a receiver trickling bytes would never hit.
            async with asyncio.timeout(self.timeout):
                status, response_headers, excerpt = await self._post(url, body, headers)
        except Exception as error:  # every failure becomes a recorded result
            return _failure(error, self.timeout, _elapsed_ms(started))
        return _answer(
            status, response_headers, excerpt, _elapsed_ms(started), self._now()
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, httpx.Headers, str]:
        async with self.client.stream(
            "POST", url, content=body, headers=headers
        ) as response:
            excerpt = await self._read_excerpt(response)
            return response.status_code, response.headers, excerpt

    async def _read_excerpt(self, response: httpx.Response) -> str:
        taken = bytearray()
        if self.excerpt_bytes > 0:
            async for chunk in response.aiter_raw(READ_CHUNK):
                taken += chunk
                if len(taken) >= self.excerpt_bytes:
                    break
        return bytes(taken[: self.excerpt_bytes]).decode("utf-8", errors="replace")

    def _now(self) -> datetime:
        if self.clock is not None:
            return self.clock()
        return datetime.now().astimezone()


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _answer(
    status: int,
    headers: httpx.Headers,
    excerpt: str,
    duration_ms: float,
    now: datetime,
) -> AttemptResult:
    error = None
    if 300 <= status <= 399:
        location = headers.get("Location", "")
        error = f"redirects are not followed (Location: {location[:300]})"
    return AttemptResult(
        status_code=status,
        error=error,
        duration_ms=duration_ms,
        response_excerpt=excerpt or None,
        retry_after_seconds=retry_after_seconds(headers.get("Retry-After"), now),
    )


def _failure(error: Exception, timeout: float, duration_ms: float) -> AttemptResult:
    kind, message = describe_failure(error, timeout)
    if kind == UNEXPECTED:
        log.error("unexpected delivery failure", exc_info=error)
    return AttemptResult(error_kind=kind, error=message, duration_ms=duration_ms)


def describe_failure(error: Exception, timeout: float) -> tuple[str, str]:
    """The kind of a failed exchange, and a sentence for the event log."""
    if isinstance(error, RefusedTargetError):
        return REFUSED_ADDRESS, f"refused: {error}"
    if isinstance(error, TimeoutError | httpx.TimeoutException):
        return TIMEOUT, f"no answer within {timeout:g} s"
    if isinstance(error, httpx.ConnectError):
        return CONNECTION, f"could not connect: {error or type(error).__name__}"
    if isinstance(error, httpx.TransportError):
        detail = str(error) or type(error).__name__
        return PROTOCOL, f"the exchange broke off: {detail}"
    return UNEXPECTED, f"unexpected error: {type(error).__name__}"


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP-date."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


# The worker -------------------------------------------------------------------


class DeliveryWorker:
    """Delivers pending firings as they come due, a bounded number at once.

    It wakes when this process saves an event, when the next retry comes due,
    and every poll interval to see firings that other processes recorded.
    """

    def __init__(
        self,
        service: Any,
        settings: Settings,
        *,
        sender: WebhookSender | None = None,
        random_fraction: Callable[[], float] = random.random,
    ) -> None:
        self.service = service
        self.limit = settings.delivery_concurrency
        self.poll_interval = settings.poll_interval_seconds
        self.sender = sender or WebhookSender(settings, clock=service.clock)
        self.random_fraction = random_fraction
        self.in_flight: dict[str, asyncio.Task[None]] = {}
        self._finished_while_reading: set[str] | None = None
        self.delivered_total = 0
        self._held_back: dict[str, float] = {}
        self._next_due: datetime | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Look at the outbox again now; safe to call from any thread."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        """Deliver until cancelled; unfinished attempts are sent again later."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.service.after_save.append(self.wake)
        try:
            while True:
                self._wake.clear()
                try:
                    await self.dispatch()
                except Exception:
                    # One failed look at the outbox must not end delivery.
                    log.exception("delivery pass failed")
                await self._sleep()
        finally:
            self.service.after_save.remove(self.wake)
            await self.stop()

    async def dispatch(self) -> list[asyncio.Task[None]]:
        """Start every due delivery that fits in the bound; answer the tasks."""
        free = self.limit - len(self.in_flight)
        if free <= 0:
            return []
        # A delivery that finishes while the outbox is read has recorded its
        # outcome, but the rows read may predate that record: skip it.
        self._finished_while_reading = set()
        # Rows already in flight come back too, so ask for enough to skip them.
        rows, self._next_due = await asyncio.to_thread(
            self.service.due_deliveries,
            free + len(self.in_flight) + len(self._held_back),
        )
        finished, self._finished_while_reading = self._finished_while_reading, None
        started = []
        for row in rows:
            if len(self.in_flight) >= self.limit:
                break
            firing_id = row["firing_id"]
            if firing_id in self.in_flight or firing_id in finished:
                continue
            if self._is_held_back(row):
                continue
            started.append(self._start(row))
        return started

    async def deliver_due(self) -> int:
        """One pass, waiting for what it started; answer how many it started."""
        tasks = await self.dispatch()
        if tasks:
            await asyncio.wait(tasks)
        return len(tasks)

    async def stop(self) -> None:
        tasks = list(self.in_flight.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        await self.sender.aclose()

    def _start(self, row: Any) -> asyncio.Task[None]:
        firing_id = row["firing_id"]
        task = asyncio.create_task(self._deliver(row), name=f"delivery {firing_id}")
        self.in_flight[firing_id] = task
        task.add_done_callback(functools.partial(self._finished, firing_id))
        return task

    def _finished(self, firing_id: str, task: asyncio.Task[None]) -> None:
        self.in_flight.pop(firing_id, None)
        if self._finished_while_reading is not None:
            self._finished_while_reading.add(firing_id)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "delivery task failed",
                exc_info=task.exception(),
                extra={"firing_id": firing_id},
            )
            self._hold_back(firing_id)
        # A slot is free, and the outbox has changed.
        if self._wake is not None:
            self._wake.set()

    async def _deliver(self, row: Any) -> None:
        attempt = int(row["attempts"]) + 1
        started_at = self.service.clock()
        timestamp = int(started_at.timestamp())
        secrets = self.service.secrets_for_delivery(row, started_at)
        body = request_body(row)
        headers = request_headers(row, body, timestamp, attempt, secrets)
        result = await self.sender.send(row["endpoint"], body, headers)
        outcome = await asyncio.to_thread(
            self.service.record_delivery_attempt,
            row,
            attempt,
            started_at,
            result,
            self.random_fraction(),
        )
        if outcome == "delivered":
            self.delivered_total += 1
        _log_attempt(row, attempt, result, outcome)

    def _hold_back(self, firing_id: str) -> None:
        self._held_back[firing_id] = time.monotonic() + RECORD_FAILURE_PAUSE_SECONDS

    def _is_held_back(self, row: Any) -> bool:
        until = self._held_back.get(row["firing_id"])
        if until is None:
            return False
        if until > time.monotonic():
            return True
        del self._held_back[row["firing_id"]]
        return False

    async def _sleep(self) -> None:
        assert self._wake is not None
        timeout = self.poll_interval
        if self._next_due is not None and len(self.in_flight) < self.limit:
            until_due = (self._next_due - self.service.clock()).total_seconds()
            timeout = max(0.0, min(timeout, until_due))
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            pass


def _log_attempt(
    row: Any, attempt: int, result: AttemptResult, outcome: str | None
) -> None:
    level = logging.INFO if result.succeeded else logging.WARNING
    log.log(
        level,
        "delivery attempt %d: %s",
        attempt,
        outcome or "already recorded elsewhere",
        extra={
            "trigger_id": row["trigger_id"],
            "firing_id": row["firing_id"],
            "attempt": attempt,
            "status_code": result.status_code,
            "error": result.error,
            "duration_ms": round(result.duration_ms, 1),
            "outcome": outcome,
        },
    )
