"""Webhook delivery against a real receiver on 127.0.0.1.

The service runs on a fake clock; retries come due by moving it, so no test
sleeps through a backoff. The random fraction of the jitter is fixed.
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from domain.delivery import AttemptResult
from domain.spec import TriggerSpec
from eventtrigger.delivery import DeliveryWorker, WebhookSender
from eventtrigger.rebuild import ProjectionRebuilder
from eventtrigger.service import TriggerService
from eventtrigger.settings import Settings
from eventtrigger.signing import verify
from eventtrigger.targets import GuardedBackend
from retention import ArchiveStore
from tests.conftest import TEST_SECRET, FakeClock
from tests.receiver import Answer, Receiver, running_receiver

OWNER = "owner"
T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
FRACTION = 0.5


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        jwt_secret=TEST_SECRET,
        allow_private_targets=True,
        delivery_timeout_seconds=0.5,
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running_receiver()


def api_trigger(service: TriggerService, endpoint: str, payload: Any = None) -> str:
    spec = TriggerSpec(trigger_type="api", api_endpoint=endpoint, api_payload=payload)
    return service.create_trigger(OWNER, spec).trigger_id


def fire(service: TriggerService, trigger_id: str, **options: Any) -> str:
    return service.fire_trigger(OWNER, trigger_id, **options).firing_id


def delivery_of(service: TriggerService, firing_id: str) -> Any:
    return service.delivery_states([firing_id])[firing_id]


def attempts_of(service: TriggerService, firing_id: str) -> list[Any]:
    events = service.events.get(UUID(firing_id))
    return [e for e in events if type(e).__name__ == "Attempted"]


def run_passes(
    service: TriggerService,
    settings: Settings,
    clock: FakeClock,
    passes: int,
    **options: Any,
) -> None:
    """Deliver what is due, then move the clock to the next retry; repeat."""

    async def scenario() -> None:
        worker = DeliveryWorker(
            service, settings, random_fraction=lambda: FRACTION, **options
        )
        try:
            for _ in range(passes):
                await worker.deliver_due()
                _, next_due = service.due_deliveries(1)
                if next_due is None:
                    return
                clock.now = max(clock.now, next_due)
        finally:
            await worker.stop()

    asyncio.run(scenario())


def test_body_and_headers_are_exactly_as_documented(
    service: TriggerService,
    settings: Settings,
    clock: FakeClock,
    receiver: Receiver,
) -> None:
    trigger_id = api_trigger(service, receiver.url("/hook?x=1"), {"b": 1, "a": [1, 2]})
    firing_id = fire(service, trigger_id)

    run_passes(service, settings, clock, 1)

    [request] = receiver.requests
    body = (
        f'{{"firing_id":"{firing_id}","trigger_id":"{trigger_id}","reason":"api",'
        '"is_test":false,"due_at":null,"fired_at":"2026-12-04T12:00:00+00:00",'
        '"payload":{"b":1,"a":[1,2]}}'
    ).encode()
    assert (request.method, request.path, request.body) == ("POST", "/hook?x=1", body)
    signature = request.headers.pop("X-Eventtrigger-Signature")
    assert request.headers == {
        "Host": f"127.0.0.1:{receiver.port}",
        "Accept": "*/*",
        "Accept-Encoding": "identity",
        "Connection": "keep-alive",
        "User-Agent": "eventtrigger/0.1.0",
        "Content-Type": "application/json",
        "Idempotency-Key": firing_id,
        "X-Eventtrigger-Timestamp": str(int(T0.timestamp())),
        "X-Eventtrigger-Attempt": "1",
        "Content-Length": str(len(body)),
    }
    assert signature.startswith("v1=") and "," not in signature
    assert delivery_of(service, firing_id)["status"] == "delivered"


def test_the_signature_verifies_and_fails_after_one_body_byte_changes(
    service: TriggerService,
    settings: Settings,
    clock: FakeClock,
    receiver: Receiver,
) -> None:
    trigger_id = api_trigger(service, receiver.url(), {"n": 1})
    fire(service, trigger_id)
    run_passes(service, settings, clock, 1)
    [request] = receiver.requests
    secret = service.signing_secret(OWNER, trigger_id).secret
    timestamp = request.header("X-Eventtrigger-Timestamp") or ""
    header = request.header("X-Eventtrigger-Signature") or ""

    # The documented algorithm, written out without the service's helpers.
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    changed = bytearray(request.body)
    changed[-3] ^= 0x01
    now = int(timestamp)
    assert header == f"v1={expected}"
    assert verify(header, secret, timestamp, request.body, now)
    assert not verify(header, secret, timestamp, bytes(changed), now)
    assert not verify(header, secret + "x", timestamp, request.body, now)
    assert not verify(header, secret, timestamp, request.body, now + 301)


def test_a_scheduled_firing_names_its_due_time(
    service: TriggerService,
    settings: Settings,
    clock: FakeClock,
    receiver: Receiver,
) -> None:
    due = T0 + timedelta(minutes=5)
    spec = TriggerSpec(
        trigger_type="scheduled", schedule_time=due, api_endpoint=receiver.url()
    )
    trigger_id = service.create_trigger(OWNER, spec).trigger_id
    clock.now = due + timedelta(seconds=1)
    [firing] = service.fire_due([(trigger_id, due)])

    run_passes(service, settings, clock, 1)

    [request] = receiver.requests
    body = json.loads(request.body)
    assert request.header("X-Eventtrigger-Due-At") == "2026-12-04T12:05:00+00:00"
    assert (body["reason"], body["due_at"], body["fired_at"]) == (
        "scheduled",
        "2026-12-04T12:05:00+00:00",
        "2026-12-04T12:05:01+00:00",
    )
    assert request.header("Idempotency-Key") == firing.firing_id


def test_test_firings_are_delivered_and_say_so(
    service: TriggerService,
    settings: Settings,
    clock: FakeClock,
    receiver: Receiver,
) -> None:
    trigger_id = api_trigger(service, receiver.url(), "stored")
    fire(service, trigger_id, is_test=True, payload={"try": True})

    run_passes(service, settings, clock, 1)

    body = json.loads(receiver.requests[0].body)
    assert (body["reason"], body["is_test"], body["payload"]) == (
        "test",
        True,
        {"try": True},
    )


def test_after_a_rotation_both_secrets_sign_until_the_grace_period_ends(
    service: TriggerService,
    settings: Settings,
    clock: FakeClock,
    receiver: Receiver,
) -> None:
    trigger_id = api_trigger(service, receiver.url())
    old = service.signing_secret(OWNER, trigger_id).secret
    clock.advance(minutes=1)
    new = service.rotate_signing_secret(OWNER, trigger_id)
    fire(service, trigger_id)
    run_passes(service, settings, clock, 1)
    clock.now = new.previous_secret_valid_until or T0
    fire(service, trigger_id)
    run_passes(service, settings, clock, 1)

    during, after = receiver.requests
    assert new.generation == 2 and new.secret != old
    assert new.previous_secret_valid_until == T0 + timedelta(minutes=1, days=1)
    header = during.header("X-Eventtrigger-Signature") or ""
    timestamp = during.header("X-Eventtrigger-Timestamp") or ""
    first, second = header.split(",")
    now = int(timestamp)
    assert verify(first, new.secret, timestamp, during.body, now)
    assert verify(second, old, timestamp, during.body, now)
    assert not verify(first, old, timestamp, during.body, now)
    later = after.header("X-Eventtrigger-Signature") or ""
    later_timestamp = after.header("X-Eventtrigger-Timestamp") or ""
    assert "," not in later
    assert verify(later, new.secret, later_timestamp, after.body, int(later_timestamp))


def test_retries_keep_the_idempotency_key_and_back_off_exponentially(
    service: TriggerService,
    settings: Settings,
    clock: FakeClock,
    receiver: Receiver,
) -> None:
    receiver.fail(3, status=503)
    firing_id = fire(service, api_trigger(service, receiver.url()))

    run_passes(service, settings, clock, 10)

    requests = receiver.requests
    attempts = attempts_of(service, firing_id)
    assert len(requests) == 4
    assert {r.header("Idempotency-Key") for r in requests} == {firing_id}
    assert [r.header("X-Eventtrigger-Attempt") for r in requests] == [
        "1",
        "2",
        "3",
        "4",
    ]
    assert [a.outcome for a in attempts] == ["retrying"] * 3 + ["delivered"]
    assert [a.status_code for a in attempts] == [503, 503, 503, 200]
    # Full jitter with the fraction fixed at 0.5: half of 1 s, 2 s, 4 s.
    assert [round(wait_after(a), 3) for a in attempts[:3]] == [0.5, 1.0, 2.0]
    state = delivery_of(service, firing_id)
    assert (state["status"], state["attempts"], state["last_status_code"]) == (
        "delivered",
        4,
        200,
    )
    assert state["next_attempt_at"] is None


def wait_after(attempt: Any) -> float:
    """Seconds between the end of an attempt and the next one."""
    finished = attempt.timestamp + timedelta(milliseconds=attempt.duration_ms)
    return (attempt.next_attempt_at - finished).total_seconds()


def test_backoff_stops_at_the_cap_and_attempts_at_the_limit(
    service: TriggerService,
    settings: Settings,
    clock: FakeClock,
    receiver: Receiver,
) -> None:
    settings = replace(
        settings, delivery_backoff_cap_seconds=3.0, delivery_max_attempts=5
    )
    service.settings = settings
    receiver.default = Answer(500, b"down")
    firing_id = fire(service, api_trigger(service, receiver.url()))

    run_passes(service, settings, clock, 10)

    attempts = attempts_of(service, firing_id)
    assert len(receiver.requests) == 5
    assert [round(wait_after(a), 3) for a in attempts[:4]] == [0.5, 1.0, 1.5, 1.5]
    assert attempts[-1].outcome == "failed"
    assert attempts[-1].next_attempt_at is None
    assert delivery_of(service, firing_id)["status"] == "failed"


@pytest.mark.parametrize("status", [400, 404, 410, 422])
def test_other_client_errors_fail_at_once(
    service: TriggerService,
    settings: Settings,
    clock: FakeClock,
    receiver: Receiver,
    status: int,
) -> None:
    receiver.default = Answer(status, b"no such hook " + b"x" * 5000)
    firing_id = fire(service, api_trigger(service, receiver.url()))

    run_passes(service, settings, clock, 5)

    [attempt] = attempts_of(service, firing_id)
    assert len(receiver.requests) == 1
    assert (attempt.outcome, attempt.status_code) == ("failed", status)
    # The body is read up to the cap, and the excerpt is no longer than that.
    assert attempt.response_excerpt == "no such hook " + "x" * 1011
    state = delivery_of(service, firing_id)
    assert (state["status"], state["last_status_code"]) == ("failed", status)


def test_a_redirect_is_not_followed(
    service: TriggerService,
    settings: Settings,
    clock: FakeClock,
    receiver: Receiver,
) -> None:
    receiver.default = Answer(302, b"", {"Location": "http://169.254.169.254/"})
    firing_id = fire(service, api_trigger(service, receiver.url()))

    run_passes(service, settings, clock, 5)

    [attempt] = attempts_of(service, firing_id)
    assert len(receiver.requests) == 1
    assert attempt.outcome == "failed"
    assert attempt.error == (
        "redirects are not followed (Location: http://169.254.169.254/)"
    )


@pytest.mark.parametrize(
    ("retry_after", "expected_wait"),
    [("7", 7.0), ("Fri, 04 Dec 2026 12:00:30 GMT", 30.0)],
)
def test_429_waits_as_long_as_retry_after_says(
    service: TriggerService,
    settings: Settings,
    clock: FakeClock,
    receiver: Receiver,
    retry_after: str,
    expected_wait: float,
) -> None:
    receiver.answer(Answer(429, b"slow down", {"Retry-After": retry_after}))
    firing_id = fire(service, api_trigger(service, receiver.url()))

    run_passes(service, settings, clock, 3)

    first, second = attempts_of(service, firing_id)
    assert (first.outcome, first.status_code) == ("retrying", 429)
    # An HTTP-date counts from when the answer came, not from the attempt's end.
    assert wait_after(first) == pytest.approx(expected_wait, abs=0.01)
    assert second.outcome == "delivered"
    assert second.timestamp >= first.next_attempt_at


def test_a_hanging_receiver_times_out_and_is_tried_again(
    service: TriggerService,
    settings: Settings,
    clock: FakeClock,
    receiver: Receiver,
) -> None:
    settings = replace(settings, delivery_timeout_seconds=0.2)
    receiver.answer(Answer(hang=2.0))
    firing_id = fire(service, api_trigger(service, receiver.url()))

    run_passes(service, settings, clock, 3)

    first, second = attempts_of(service, firing_id)
    assert (first.outcome, first.status_code) == ("retrying", None)
    assert first.error == "no answer within 0.2 s"
    assert 200 <= first.duration_ms < 1000
    assert second.outcome == "delivered"
    state = delivery_of(service, firing_id)
    assert (state["attempts"], state["last_error"]) == (2, None)


def test_a_connection_refused_is_retried(
    service: TriggerService,
    settings: Settings,
    clock: FakeClock,
    receiver: Receiver,
) -> None:
    closed = Receiver()
    endpoint = closed.url()
    closed.stop()
    settings = replace(settings, delivery_max_attempts=2)
    service.settings = settings
    firing_id = fire(service, api_trigger(service, endpoint))

    run_passes(service, settings, clock, 5)

    first, second = attempts_of(service, firing_id)
    assert first.outcome == "retrying"
    assert (first.error or "").startswith("could not connect")
    assert second.outcome == "failed"


def test_a_refused_address_is_recorded_and_not_retried(
    service: TriggerService,
    settings: Settings,
    clock: FakeClock,
    receiver: Receiver,
) -> None:
    settings = replace(settings, allow_private_targets=False)

    async def private_answer(host: str, port: int) -> list[str]:
        return ["10.1.2.3"]

    sender = WebhookSender(settings, backend=GuardedBackend(False, private_answer))
    firing_id = fire(service, api_trigger(service, "http://hooks.example.test/in"))

    run_passes(service, settings, clock, 3, sender=sender)

    [attempt] = attempts_of(service, firing_id)
    assert attempt.outcome == "failed"
    assert attempt.error == (
        "refused: hooks.example.test resolves to 10.1.2.3, a private address"
    )
    assert receiver.requests == []


def test_a_slow_endpoint_delays_another_only_through_the_bound(
    settings: Settings, tmp_path: Path, receiver: Receiver
) -> None:
    slow = Receiver()
    slow.start()
    slow.default = Answer(hang=1.0)
    waited = {}
    try:
        for bound in (2, 1):
            bounded = replace(
                settings, data_dir=tmp_path / str(bound), delivery_concurrency=bound
            )
            service = TriggerService(bounded)
            try:
                waited[bound] = time_to_reach_fast_endpoint(
                    service, bounded, slow, receiver
                )
            finally:
                service.close()
    finally:
        slow.stop()

    # With room for both, the fast one is not held up by the hanging one;
    # with room for one, it waits for the hanging one's timeout (0.5 s).
    assert waited[2] < 0.4
    assert waited[1] >= 0.45


def time_to_reach_fast_endpoint(
    service: TriggerService, settings: Settings, slow: Receiver, fast: Receiver
) -> float:
    slow_trigger = api_trigger(service, slow.url())
    fast_trigger = api_trigger(service, fast.url())
    already = len(fast.requests)

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        worker = DeliveryWorker(service, settings, random_fraction=lambda: FRACTION)
        task = asyncio.create_task(worker.run())
        started = loop.time()
        fire(service, slow_trigger)
        # Firing never waits on delivery, even with a request hanging.
        fire(service, fast_trigger)
        assert loop.time() - started < 0.2
        await asyncio.to_thread(fast.wait_for, already + 1, 3.0)
        waited = loop.time() - started
        task.cancel()
        await asyncio.wait([task])
        return waited

    return asyncio.run(scenario())


def test_a_firing_recorded_before_a_crash_is_delivered_after_restart_once(
    settings: Settings, clock: FakeClock, receiver: Receiver
) -> None:
    first = TriggerService(settings, clock=clock)
    firing_id = fire(first, api_trigger(first, receiver.url()))
    first.close()  # the process died before delivering

    second = TriggerService(settings, clock=clock)
    try:
        run_passes(second, settings, clock, 3)
        run_passes(second, settings, clock, 3)
        assert delivery_of(second, firing_id)["status"] == "delivered"
    finally:
        second.close()

    assert [r.header("Idempotency-Key") for r in receiver.requests] == [firing_id]


def test_an_attempt_recorded_elsewhere_first_is_not_recorded_twice(
    service: TriggerService,
    settings: Settings,
    clock: FakeClock,
    receiver: Receiver,
) -> None:
    firing_id = fire(service, api_trigger(service, receiver.url()))
    [row], _ = service.due_deliveries(10)
    run_passes(service, settings, clock, 1)

    again = service.record_delivery_attempt(
        row, 1, clock(), AttemptResult(status_code=200), FRACTION
    )

    assert again is None
    assert len(attempts_of(service, firing_id)) == 1


def test_a_firing_without_endpoint_has_no_delivery(
    service: TriggerService, settings: Settings, clock: FakeClock
) -> None:
    trigger = service.create_trigger(OWNER, TriggerSpec(trigger_type="api"))
    firing_id = fire(service, trigger.trigger_id)

    assert service.delivery_states([firing_id]) == {}
    assert service.due_deliveries(10) == ([], None)


def test_the_secret_never_reaches_the_logs(
    service: TriggerService,
    settings: Settings,
    clock: FakeClock,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    trigger_id = api_trigger(service, receiver.url())
    old = service.signing_secret(OWNER, trigger_id).secret
    new = service.rotate_signing_secret(OWNER, trigger_id).secret
    fire(service, trigger_id)
    run_passes(service, settings, clock, 1)

    logged = " ".join(
        f"{record.getMessage()} {vars(record)}" for record in caplog.records
    )
    assert "delivery attempt 1: delivered" in logged
    assert old not in logged and new not in logged
    signature = receiver.requests[0].header("X-Eventtrigger-Signature") or ""
    assert signature.split(",")[0].removeprefix("v1=") not in logged


def readme_verifier() -> Any:
    """The ``verified`` function of the README's sample receiver, as printed."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("### Verifying the signature", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    kept = [
        node
        for node in ast.parse(code).body
        if isinstance(node, ast.Import | ast.ImportFrom)
        or (isinstance(node, ast.FunctionDef) and node.name == "verified")
        or (isinstance(node, ast.Assign) and ast.unparse(node).startswith("TOLERANCE"))
    ]
    namespace: dict[str, Any] = {}
    exec(compile(ast.Module(kept, []), "README.md", "exec"), namespace)
    return namespace["verified"]


def test_the_readme_receiver_verifies_a_real_delivery(
    service: TriggerService,
    settings: Settings,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The sample checks the timestamp against the real time.
    monkeypatch.setattr(service, "clock", lambda: datetime.now(UTC))
    trigger_id = api_trigger(service, receiver.url(), {"order": 42})
    old = service.signing_secret(OWNER, trigger_id).secret
    new = service.rotate_signing_secret(OWNER, trigger_id).secret
    fire(service, trigger_id)
    run_passes(service, settings, FakeClock(T0), 1)
    [request] = receiver.requests
    verified = readme_verifier()

    assert verified(new, request.headers, request.body)
    assert verified(old, request.headers, request.body)
    assert not verified("whsec_other", request.headers, request.body)
    assert not verified(new, request.headers, request.body.replace(b"42", b"43"))


def test_the_outbox_rebuilds_to_the_same_rows(
    service: TriggerService,
    settings: Settings,
    clock: FakeClock,
    receiver: Receiver,
) -> None:
    receiver.fail(1, status=500)
    first = api_trigger(service, receiver.url(), {"z": 1, "a": "é"})
    second = api_trigger(service, receiver.url("/other"))
    service.rotate_signing_secret(OWNER, second)
    for trigger_id in (first, second, first):
        fire(service, trigger_id)
    run_passes(service, settings, clock, 5)
    fire(service, second)  # still pending when rebuilt

    rebuilder = ProjectionRebuilder(service, ArchiveStore(settings.archive_path))
    [verified] = rebuilder.verify(["deliveries"])
    [rebuilt] = rebuilder.rebuild(["deliveries"])

    assert verified.matches
    assert verified.rows == {"deliveries": 4, "deliveries_signing": 2}
    assert rebuilt.checksum == verified.live_checksum
    assert len(service.due_deliveries(10)[0]) == 1


def test_a_delivery_finishing_while_the_outbox_is_read_is_not_sent_again(
    service: TriggerService, settings: Settings, receiver: Receiver
) -> None:
    # The outbox read starts while the delivery is in flight, and the
    # delivery records its outcome before the read returns: the rows read
    # still say pending, and must not start it again.
    firing_id = fire(service, api_trigger(service, receiver.url()))
    read_started = threading.Event()
    outcome_recorded = threading.Event()
    read_outbox = service.due_deliveries
    record = service.record_delivery_attempt

    def slow_read(limit: int) -> Any:
        rows = read_outbox(limit)
        read_started.set()
        outcome_recorded.wait(5)
        return rows

    def record_then_signal(*args: Any) -> Any:
        read_started.wait(5)
        try:
            return record(*args)
        finally:
            outcome_recorded.set()

    async def scenario() -> None:
        worker = DeliveryWorker(service, settings, random_fraction=lambda: FRACTION)
        try:
            await worker.dispatch()
            service.due_deliveries = slow_read  # type: ignore[method-assign]
            service.record_delivery_attempt = record_then_signal  # type: ignore[method-assign]
            again = await worker.dispatch()
            if again:
                await asyncio.wait(again)
            await asyncio.sleep(0.2)
        finally:
            await worker.stop()

    asyncio.run(scenario())

    assert [r.headers["Idempotency-Key"] for r in receiver.requests] == [firing_id]
    assert delivery_of(service, firing_id)["status"] == "delivered"
