"""Webhook delivery by the real server, to a real receiver on 127.0.0.1."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from eventtrigger.signing import verify
from tests.e2e.test_server_flow import Server, free_port, login
from tests.receiver import Received, Receiver, running_receiver

pytestmark = pytest.mark.e2e

DELIVERY_ENV = {
    "EVENTTRIGGER_ALLOW_PRIVATE_TARGETS": "1",
    "EVENTTRIGGER_DELIVERY_TIMEOUT_SECONDS": "2",
    "EVENTTRIGGER_DELIVERY_BACKOFF_BASE_SECONDS": "0.2",
    "EVENTTRIGGER_DELIVERY_BACKOFF_CAP_SECONDS": "0.5",
    "EVENTTRIGGER_DELIVERY_MAX_ATTEMPTS": "50",
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running_receiver()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path, env=DELIVERY_ENV)
    yield running
    running.stop()


def create_trigger(
    server: Server, headers: dict[str, str], **fields: Any
) -> tuple[str, str]:
    """Create a trigger; answer its id and its signing secret."""
    created = httpx.post(server.base + "/api/v1/triggers", json=fields, headers=headers)
    assert created.status_code == 201, created.text
    trigger_id = created.json()["trigger_id"]
    secret = httpx.get(
        f"{server.base}/api/v1/triggers/{trigger_id}/signing-secret", headers=headers
    ).json()["secret"]
    return trigger_id, secret


def signed_by(request: Received, secret: str) -> bool:
    timestamp = request.header("X-Eventtrigger-Timestamp") or ""
    header = request.header("X-Eventtrigger-Signature") or ""
    return verify(header, secret, timestamp, request.body, time.time())


def delivery_state(
    server: Server, headers: dict[str, str], firing_id: str, status: str
) -> dict[str, Any]:
    """The firing's delivery in the event log, once it reads ``status``."""
    deadline = time.monotonic() + 10
    while True:
        items = httpx.get(server.base + "/api/v1/event-logs", headers=headers).json()
        entry = next(e for e in items["items"] if e["firing_id"] == firing_id)
        if entry["delivery"]["status"] == status or time.monotonic() > deadline:
            return dict(entry["delivery"])
        time.sleep(0.1)


def test_a_firing_recorded_before_a_kill_is_delivered_once_after_restart(
    server: Server, receiver: Receiver
) -> None:
    server.start(role="api")  # no scheduler, no delivery: firings wait
    headers = login(server.base)
    trigger_id, secret = create_trigger(
        server,
        headers,
        trigger_type="api",
        api_endpoint=receiver.url(),
        api_payload={"order": 42},
    )
    fired = httpx.post(
        f"{server.base}/api/v1/triggers/{trigger_id}/fire", headers=headers
    ).json()
    assert fired["delivery"]["status"] == "pending"
    time.sleep(0.5)
    assert receiver.requests == []

    server.kill()
    server.start(role="all")
    [request] = receiver.wait_for(1, within=10)
    state = delivery_state(server, headers, fired["firing_id"], "delivered")
    time.sleep(1.0)  # time enough for a second copy to arrive, were one sent

    assert len(receiver.requests) == 1
    assert request.header("Idempotency-Key") == fired["firing_id"]
    assert json.loads(request.body)["payload"] == {"order": 42}
    assert signed_by(request, secret)
    assert (state["status"], state["attempts"], state["last_status_code"]) == (
        "delivered",
        1,
        200,
    )


def test_a_scheduled_trigger_delivers_on_schedule_signed(
    server: Server, receiver: Receiver
) -> None:
    server.start()
    headers = login(server.base)
    due = datetime.fromtimestamp(math.ceil(time.time()) + 2, UTC)
    trigger_id, secret = create_trigger(
        server,
        headers,
        trigger_type="scheduled",
        schedule_time=due.isoformat(),
        api_endpoint=receiver.url(),
    )

    [request] = receiver.wait_for(1, within=10)
    arrived = datetime.now(UTC)

    body = json.loads(request.body)
    assert due <= arrived < due + timedelta(seconds=2)
    assert request.header("X-Eventtrigger-Due-At") == due.isoformat()
    assert (body["trigger_id"], body["reason"], body["due_at"]) == (
        trigger_id,
        "scheduled",
        due.isoformat(),
    )
    assert signed_by(request, secret)


def test_a_receiver_that_was_down_receives_every_firing_when_it_is_back(
    server: Server,
) -> None:
    server.start()
    headers = login(server.base)
    port = free_port()
    trigger_id, secret = create_trigger(
        server,
        headers,
        trigger_type="api",
        api_endpoint=f"http://127.0.0.1:{port}/hook",
    )
    fire_url = f"{server.base}/api/v1/triggers/{trigger_id}/fire"
    fired = [httpx.post(fire_url, headers=headers).json() for _ in range(3)]
    time.sleep(1.0)  # every delivery fails to connect at least once

    receiver = Receiver(port)
    receiver.start()
    try:
        requests = receiver.wait_for(3, within=10)
        states = [
            delivery_state(server, headers, f["firing_id"], "delivered") for f in fired
        ]
        time.sleep(0.5)
    finally:
        receiver.stop()

    keys = [r.header("Idempotency-Key") for r in receiver.requests]
    assert sorted(keys) == sorted(f["firing_id"] for f in fired)
    assert all(signed_by(r, secret) for r in requests)
    assert all(s["status"] == "delivered" and s["attempts"] >= 2 for s in states)
