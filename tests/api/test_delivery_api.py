"""Delivery as the API shows it: event-log entries, history, signing secrets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from eventtrigger.delivery import DeliveryWorker
from eventtrigger.service import TriggerService
from eventtrigger.settings import Settings
from tests.conftest import TEST_SECRET
from tests.receiver import Answer, Receiver, running_receiver

Headers = dict[str, str]
Create = Callable[..., dict[str, Any]]
NOW = "2026-12-04T12:00:00+00:00"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path, jwt_secret=TEST_SECRET, allow_private_targets=True
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running_receiver()


def deliver_due(service: TriggerService, settings: Settings) -> None:
    async def one_pass() -> None:
        worker = DeliveryWorker(service, settings, random_fraction=lambda: 0.5)
        try:
            await worker.deliver_due()
        finally:
            await worker.stop()

    asyncio.run(one_pass())


def test_the_event_log_shows_how_each_delivery_stands(
    client: TestClient,
    alice: Headers,
    create: Create,
    service: TriggerService,
    settings: Settings,
    receiver: Receiver,
) -> None:
    with_endpoint = create(alice, api_endpoint=receiver.url())
    without = create(alice)
    receiver.answer(Answer(503, b"busy"))
    fired = client.post(
        f"/api/v1/triggers/{with_endpoint['trigger_id']}/fire", headers=alice
    ).json()
    plain = client.post(
        f"/api/v1/triggers/{without['trigger_id']}/fire", headers=alice
    ).json()
    deliver_due(service, settings)

    entries = client.get("/api/v1/event-logs", headers=alice).json()["items"]

    assert fired["delivery"] == {
        "status": "pending",
        "attempts": 0,
        "last_status_code": None,
        "last_error": None,
        "last_attempt_at": None,
        "next_attempt_at": NOW,
    }
    assert plain["delivery"] is None
    by_id = {e["firing_id"]: e for e in entries}
    assert by_id[plain["firing_id"]]["delivery"] is None
    assert by_id[fired["firing_id"]]["delivery"] == {
        "status": "pending",
        "attempts": 1,
        "last_status_code": 503,
        "last_error": None,
        "last_attempt_at": NOW,
        "next_attempt_at": by_id[fired["firing_id"]]["delivery"]["next_attempt_at"],
    }
    assert by_id[fired["firing_id"]]["delivery"]["next_attempt_at"] > NOW


def test_the_history_tells_every_attempt(
    client: TestClient,
    alice: Headers,
    create: Create,
    service: TriggerService,
    settings: Settings,
    receiver: Receiver,
    clock: Any,
) -> None:
    trigger = create(alice, api_endpoint=receiver.url())
    url = f"/api/v1/triggers/{trigger['trigger_id']}"
    receiver.answer(Answer(500, b"oops"))
    firing = client.post(url + "/fire", headers=alice).json()
    deliver_due(service, settings)
    clock.advance(seconds=5)
    deliver_due(service, settings)

    history = client.get(url + "/history", headers=alice).json()

    assert [e["type"] for e in history["events"]] == ["Created", "Fired"]
    assert history["events"][1]["endpoint"] == receiver.url()
    [delivery] = history["deliveries"]
    assert delivery["firing_id"] == firing["firing_id"]
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 2)
    assert [e["type"] for e in delivery["events"]] == [
        "Created",
        "Attempted",
        "Attempted",
    ]
    first, second = delivery["events"][1:]
    assert (first["attempt"], first["status_code"], first["outcome"]) == (
        1,
        500,
        "retrying",
    )
    assert first["response_excerpt"] == "oops"
    assert (second["attempt"], second["status_code"], second["outcome"]) == (
        2,
        200,
        "delivered",
    )


def test_the_owner_reads_and_rotates_the_signing_secret(
    client: TestClient,
    alice: Headers,
    bob: Headers,
    create: Create,
    clock: Any,
    log_in: Callable[[str], Headers],
) -> None:
    trigger = create(alice)
    url = f"/api/v1/triggers/{trigger['trigger_id']}/signing-secret"

    read = client.get(url, headers=alice)
    clock.advance(minutes=1)
    rotated = client.post(url + "/rotate", headers=alice)
    read_again = client.get(url, headers=alice)
    clock.advance(days=1)
    after_grace = client.get(url, headers=log_in("alice"))

    assert read.status_code == 200
    assert read.headers["Cache-Control"] == "no-store"
    assert read.json()["generation"] == 1
    assert read.json()["previous_secret_valid_until"] is None
    assert read.json()["secret"].startswith("whsec_")
    assert rotated.status_code == 200
    assert rotated.json()["generation"] == 2
    assert rotated.json()["secret"] != read.json()["secret"]
    assert rotated.json()["previous_secret_valid_until"] == "2026-12-05T12:01:00+00:00"
    assert read_again.json() == rotated.json()
    assert after_grace.json()["previous_secret_valid_until"] is None
    bob = log_in("bob")
    assert client.get(url, headers=bob).status_code == 404
    assert client.post(url + "/rotate", headers=bob).status_code == 404


def test_the_secret_appears_in_no_other_answer(
    client: TestClient, alice: Headers, create: Create
) -> None:
    trigger = create(alice, api_endpoint="https://hooks.example.com/in")
    url = f"/api/v1/triggers/{trigger['trigger_id']}"
    secret = client.get(url + "/signing-secret", headers=alice).json()["secret"]
    rotated = client.post(url + "/signing-secret/rotate", headers=alice).json()
    client.post(url + "/fire", headers=alice)

    answers = [
        client.get("/api/v1/triggers", headers=alice).text,
        client.get("/trigger/list-triggers", headers=alice).text,
        client.get(url, headers=alice).text,
        client.get(url + "/history", headers=alice).text,
        client.get("/api/v1/event-logs", headers=alice).text,
    ]

    for text in answers:
        assert secret not in text and rotated["secret"] not in text
    history = client.get(url + "/history", headers=alice).json()
    assert history["events"][-2]["type"] == "SigningSecretRotated"
    assert history["events"][-2]["generation"] == 2


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://127.0.0.1:8080/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.7/hook",
        "http://[::1]/hook",
        "http://[::ffff:192.168.0.1]/hook",
    ],
)
def test_a_literal_private_endpoint_is_refused_when_not_allowed(
    client: TestClient,
    alice: Headers,
    create: Create,
    service: TriggerService,
    settings: Settings,
    endpoint: str,
) -> None:
    service.settings = replace(settings, allow_private_targets=False)
    trigger = create(alice)

    created = client.post(
        "/api/v1/triggers",
        json={"trigger_type": "api", "api_endpoint": endpoint},
        headers=alice,
    )
    changed = client.patch(
        f"/api/v1/triggers/{trigger['trigger_id']}",
        json={"api_endpoint": endpoint},
        headers=alice,
    )

    for answer in (created, changed):
        assert answer.status_code == 400
        assert answer.json()["field"] == "api_endpoint"
        assert "EVENTTRIGGER_ALLOW_PRIVATE_TARGETS" in answer.json()["message"]


def test_a_private_endpoint_is_accepted_when_allowed(
    client: TestClient, alice: Headers
) -> None:
    created = client.post(
        "/api/v1/triggers",
        json={"trigger_type": "api", "api_endpoint": "http://127.0.0.1:9/hook"},
        headers=alice,
    )

    assert created.status_code == 201
