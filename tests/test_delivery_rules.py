"""The delivery rules as pure code: outcomes, backoff, Retry-After, settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.delivery import (
    CONNECTION,
    MAX_RETRY_AFTER_SECONDS,
    REFUSED_ADDRESS,
    TIMEOUT,
    AttemptResult,
    Delivery,
    RetryPolicy,
)
from domain.errors import ConflictError
from eventtrigger.delivery import retry_after_seconds
from eventtrigger.settings import SettingsError, load_settings

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
FIRING = "5a0c6c1e-0a53-5a8e-9d0e-3f6b0e1d2c3b"
POLICY = RetryPolicy(base_seconds=1, cap_seconds=300, max_attempts=8)


def new_delivery() -> Delivery:
    return Delivery.open(FIRING, "trigger", "https://example.com/", T0)


def test_full_jitter_grows_exponentially_up_to_the_cap() -> None:
    ceilings = [POLICY.backoff_ceiling(n) for n in range(1, 12)]
    result = AttemptResult(status_code=500)

    assert ceilings == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert POLICY.delay_after(3, result, 0.0) == 0
    assert POLICY.delay_after(3, result, 0.25) == 1.0
    assert POLICY.backoff_ceiling(10_000) == 300


@pytest.mark.parametrize(
    ("result", "outcome"),
    [
        (AttemptResult(status_code=200), "delivered"),
        (AttemptResult(status_code=204), "delivered"),
        (AttemptResult(status_code=408), "retrying"),
        (AttemptResult(status_code=429), "retrying"),
        (AttemptResult(status_code=500), "retrying"),
        (AttemptResult(status_code=503), "retrying"),
        (AttemptResult(status_code=599), "retrying"),
        (AttemptResult(status_code=301), "failed"),
        (AttemptResult(status_code=400), "failed"),
        (AttemptResult(status_code=401), "failed"),
        (AttemptResult(status_code=410), "failed"),
        (AttemptResult(error_kind=TIMEOUT), "retrying"),
        (AttemptResult(error_kind=CONNECTION), "retrying"),
        (AttemptResult(error_kind=REFUSED_ADDRESS), "failed"),
    ],
)
def test_what_each_answer_leads_to(result: AttemptResult, outcome: str) -> None:
    delivery = new_delivery()

    assert delivery.record_attempt(1, T0, result, POLICY, 0.5) == outcome
    assert (delivery.next_attempt_at is None) == (outcome != "retrying")


def test_the_last_allowed_attempt_fails_for_good() -> None:
    delivery = new_delivery()
    policy = RetryPolicy(max_attempts=2)

    first = delivery.record_attempt(1, T0, AttemptResult(status_code=500), policy, 0)
    second = delivery.record_attempt(2, T0, AttemptResult(status_code=500), policy, 0)

    assert (first, second) == ("retrying", "failed")


def test_nothing_follows_a_final_outcome_and_attempts_have_no_gaps() -> None:
    delivery = new_delivery()

    with pytest.raises(ConflictError):
        delivery.record_attempt(2, T0, AttemptResult(status_code=200), POLICY, 0)
    delivery.record_attempt(1, T0, AttemptResult(status_code=200), POLICY, 0)
    with pytest.raises(ConflictError):
        delivery.record_attempt(2, T0, AttemptResult(status_code=200), POLICY, 0)


def test_retry_after_replaces_the_backoff_within_bounds() -> None:
    delivery = new_delivery()
    result = AttemptResult(status_code=429, duration_ms=250, retry_after_seconds=90)

    delivery.record_attempt(1, T0, result, POLICY, 0.9)

    assert delivery.next_attempt_at == T0 + timedelta(seconds=90.25)
    huge = AttemptResult(status_code=503, retry_after_seconds=10**9)
    assert POLICY.delay_after(1, huge, 0.5) == MAX_RETRY_AFTER_SECONDS


def test_long_errors_and_excerpts_are_capped() -> None:
    delivery = new_delivery()
    result = AttemptResult(
        status_code=500, error="e" * 10_000, response_excerpt="x" * 10_000
    )

    delivery.record_attempt(1, T0, result, POLICY, 0)

    [event] = [e for e in delivery.collect_events() if type(e).__name__ == "Attempted"]
    assert len(event.error) == 500
    assert len(event.response_excerpt) == 4096


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Fri, 04 Dec 2026 12:01:00 GMT", 60.0),
        ("Fri, 04 Dec 2026 11:00:00 GMT", 0.0),
        ("soon", None),
        ("-5", None),
        (None, None),
    ],
)
def test_retry_after_reads_seconds_or_an_http_date(
    value: str | None, seconds: float | None
) -> None:
    assert retry_after_seconds(value, T0) == seconds


def test_delivery_settings_are_read_and_checked() -> None:
    settings = load_settings(
        {
            "EVENTTRIGGER_ALLOW_PRIVATE_TARGETS": "yes",
            "EVENTTRIGGER_DELIVERY_MAX_ATTEMPTS": "3",
            "EVENTTRIGGER_SECRET_GRACE_SECONDS": "60",
        }
    )

    assert settings.allow_private_targets is True
    assert (settings.delivery_max_attempts, settings.secret_grace_seconds) == (3, 60)
    assert load_settings({}).allow_private_targets is False
    for name, value in [
        ("ALLOW_PRIVATE_TARGETS", "maybe"),
        ("DELIVERY_CONCURRENCY", "0"),
        ("DELIVERY_TIMEOUT_SECONDS", "-1"),
        ("DELIVERY_BACKOFF_BASE_SECONDS", "nan"),
        ("SECRET_GRACE_SECONDS", "-1"),
    ]:
        with pytest.raises(SettingsError, match=name):
            load_settings({f"EVENTTRIGGER_{name}": value})
