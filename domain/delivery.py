"""The Delivery aggregate: every attempt to hand one firing to its endpoint.

A delivery's id is its firing's id, so a firing has one delivery and two
workers recording the same attempt collide in the store instead of both
landing. The retry rules live here too, as pure code: callers hand in the
instant an attempt started and a random fraction for the jitter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.errors import ConflictError

PENDING = "pending"
RETRYING = "retrying"
DELIVERED = "delivered"
FAILED = "failed"
FINAL_OUTCOMES = (DELIVERED, FAILED)

# Kinds of failure that left no HTTP status to judge by.
TIMEOUT = "timeout"
CONNECTION = "connection"
PROTOCOL = "protocol"
REFUSED_ADDRESS = "refused_address"
UNEXPECTED = "unexpected"
RETRYABLE_ERRORS = frozenset({TIMEOUT, CONNECTION, PROTOCOL, UNEXPECTED})

# A receiver asking for a longer pause than this gets this; the delivery
# would otherwise sit pending for as long as any endpoint cared to say.
MAX_RETRY_AFTER_SECONDS = 3600.0
MAX_EXCERPT_CHARS = 4096
MAX_ERROR_CHARS = 500
# 2**60 seconds is far past any cap; a larger exponent only risks overflow.
MAX_BACKOFF_EXPONENT = 60


def is_retryable_status(status_code: int) -> bool:
    """Timeouts, throttling and server faults may pass; other answers stand."""
    return status_code in (408, 429) or 500 <= status_code <= 599


@dataclass(frozen=True)
class AttemptResult:
    """What one request to the endpoint came to: a status, or an error."""

    status_code: int | None = None
    error_kind: str | None = None
    error: str | None = None
    duration_ms: float = 0.0
    response_excerpt: str | None = None
    retry_after_seconds: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code <= 299

    @property
    def retryable(self) -> bool:
        if self.status_code is not None:
            return is_retryable_status(self.status_code)
        return self.error_kind in RETRYABLE_ERRORS


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, and a limit on attempts."""

    base_seconds: float = 1.0
    cap_seconds: float = 300.0
    max_attempts: int = 8

    def backoff_ceiling(self, attempt: int) -> float:
        """The longest wait after failed attempt number ``attempt`` (from 1)."""
        exponent = min(max(attempt - 1, 0), MAX_BACKOFF_EXPONENT)
        return min(self.cap_seconds, self.base_seconds * 2**exponent)

    def delay_after(
        self, attempt: int, result: AttemptResult, fraction: float
    ) -> float:
        """Seconds to wait before the next attempt.

        ``fraction`` is uniform in [0, 1): full jitter spreads the retries of
        many deliveries that failed together over the whole window. A
        ``Retry-After`` from the receiver replaces the backoff.
        """
        if result.retry_after_seconds is not None:
            return min(max(result.retry_after_seconds, 0.0), MAX_RETRY_AFTER_SECONDS)
        return self.backoff_ceiling(attempt) * fraction


class Delivery(Aggregate):
    """The attempts to deliver one firing, and the outcome they came to."""

    class Created(Aggregate.Created):
        trigger_id: str
        endpoint: str

    class Attempted(Aggregate.Event):
        attempt: int
        status_code: int | None
        error: str | None
        duration_ms: float
        response_excerpt: str | None
        outcome: str
        next_attempt_at: datetime | None

        def apply(self, delivery: Delivery) -> None:
            delivery.attempts = self.attempt
            delivery.outcome = self.outcome
            delivery.next_attempt_at = self.next_attempt_at

    def __init__(self, trigger_id: str, endpoint: str) -> None:
        self.trigger_id = trigger_id
        self.endpoint = endpoint
        self.attempts = 0
        self.outcome = PENDING
        self.next_attempt_at: datetime | None = None

    @staticmethod
    def id_for(firing_id: str) -> UUID:
        return UUID(firing_id)

    @classmethod
    def open(
        cls, firing_id: str, trigger_id: str, endpoint: str, now: datetime
    ) -> Delivery:
        return cls._create(
            cls.Created,
            id=cls.id_for(firing_id),
            timestamp=now,
            trigger_id=trigger_id,
            endpoint=endpoint,
        )

    @property
    def is_final(self) -> bool:
        return self.outcome in FINAL_OUTCOMES

    def record_attempt(
        self,
        attempt: int,
        started_at: datetime,
        result: AttemptResult,
        policy: RetryPolicy,
        fraction: float,
    ) -> str:
        """Record one attempt and decide what follows it; answer the outcome.

        Attempts are numbered from 1 without gaps, and nothing follows a
        final outcome: a delivered firing is never sent again.
        """
        if self.is_final:
            raise ConflictError(f"This delivery is already final: {self.outcome}")
        if attempt != self.attempts + 1:
            raise ConflictError(
                f"Attempt {attempt} is not the next one ({self.attempts + 1})"
            )
        duration_ms = round(result.duration_ms, 1)
        outcome, next_attempt_at = self._outcome_of(
            attempt,
            started_at + timedelta(milliseconds=duration_ms),
            result,
            policy,
            fraction,
        )
        self.trigger_event(
            self.Attempted,
            timestamp=started_at,
            attempt=attempt,
            status_code=result.status_code,
            error=_capped(result.error, MAX_ERROR_CHARS),
            duration_ms=duration_ms,
            response_excerpt=_capped(result.response_excerpt, MAX_EXCERPT_CHARS),
            outcome=outcome,
            next_attempt_at=next_attempt_at,
        )
        return outcome

    def _outcome_of(
        self,
        attempt: int,
        finished_at: datetime,
        result: AttemptResult,
        policy: RetryPolicy,
        fraction: float,
    ) -> tuple[str, datetime | None]:
        if result.succeeded:
            return DELIVERED, None
        if not result.retryable or attempt >= policy.max_attempts:
            return FAILED, None
        # The wait runs from the end of this attempt, not from its start.
        delay = policy.delay_after(attempt, result, fraction)
        return RETRYING, finished_at + timedelta(seconds=delay)


def _capped(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit]
