from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from eventtrigger.service import TriggerService

Headers = dict[str, str]
Create = Callable[..., dict[str, Any]]
BAD_CURSOR = "cursor must be the next_cursor of an earlier page of this list"


def cursor_of(*key: object) -> str:
    raw = json.dumps(key).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def fire(client: TestClient, headers: Headers, trigger_id: str) -> dict[str, Any]:
    response = client.post(f"/api/v1/triggers/{trigger_id}/fire", headers=headers)
    return response.json()


def log_ids(client: TestClient, headers: Headers, **params: Any) -> list[str]:
    response = client.get("/api/v1/event-logs", params=params, headers=headers)
    return [item["firing_id"] for item in response.json()["items"]]


def test_an_entry_is_active_then_archived_then_gone(
    client: TestClient,
    alice: Headers,
    create: Create,
    clock,
    log_in: Callable[[str], Headers],
) -> None:
    firing = fire(client, alice, create(alice)["trigger_id"])

    clock.advance(hours=2, seconds=-1)
    active = client.get("/api/v1/event-logs", headers=alice).json()["items"]
    assert [entry["state"] for entry in active] == ["active"]
    assert log_ids(client, alice, state="active") == [firing["firing_id"]]
    assert log_ids(client, alice, state="archived") == []

    clock.advance(seconds=1)
    alice = log_in("alice")
    archived = client.get("/api/v1/event-logs", headers=alice).json()["items"]
    assert archived == [{**firing, "state": "archived"}]
    assert log_ids(client, alice, state="active") == []
    assert log_ids(client, alice, state="archived") == [firing["firing_id"]]

    clock.advance(hours=46, seconds=-1)
    alice = log_in("alice")
    assert log_ids(client, alice, state="archived") == [firing["firing_id"]]
    clock.advance(seconds=1)
    assert log_ids(client, alice) == []
    assert log_ids(client, alice, state="archived") == []


def test_the_log_is_newest_first_and_filters_by_trigger(
    client: TestClient, alice: Headers, create: Create, clock
) -> None:
    first, second = create(alice)["trigger_id"], create(alice)["trigger_id"]
    a = fire(client, alice, first)["firing_id"]
    clock.advance(seconds=1)
    b = fire(client, alice, second)["firing_id"]
    clock.advance(seconds=1)
    c = fire(client, alice, first)["firing_id"]

    assert log_ids(client, alice) == [c, b, a]
    assert log_ids(client, alice, trigger_id=first) == [c, a]


def test_log_pages_cover_every_entry_once(
    client: TestClient, alice: Headers, create: Create
) -> None:
    trigger_id = create(alice)["trigger_id"]
    fired = [fire(client, alice, trigger_id)["firing_id"] for _ in range(5)]

    first = client.get("/api/v1/event-logs", params={"limit": 2}, headers=alice).json()
    second = client.get(
        "/api/v1/event-logs",
        params={"limit": 2, "cursor": first["next_cursor"]},
        headers=alice,
    ).json()
    third = client.get(
        "/api/v1/event-logs",
        params={"limit": 2, "cursor": second["next_cursor"]},
        headers=alice,
    ).json()

    pages = [first, second, third]
    seen = [item["firing_id"] for page in pages for item in page["items"]]
    assert seen == fired[::-1]
    assert third["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"state": "old"}, "state", "state must be one of 'active' or 'archived'"),
        (
            {"trigger_id": "42"},
            "trigger_id",
            "trigger_id must be a trigger id as given when it was created",
        ),
        ({"limit": "-1"}, "limit", "limit must be at least 1"),
        ({"cursor": cursor_of("triggers", "x", "y")}, "cursor", BAD_CURSOR),
        ({"cursor": cursor_of("event-logs", 1e30)}, "cursor", BAD_CURSOR),
        ({"cursor": cursor_of("event-logs", 10**25)}, "cursor", BAD_CURSOR),
        ({"cursor": cursor_of("event-logs", 0)}, "cursor", BAD_CURSOR),
    ],
)
def test_the_log_query_is_checked(
    client: TestClient,
    alice: Headers,
    params: dict[str, str],
    field: str,
    message: str,
) -> None:
    response = client.get("/api/v1/event-logs", params=params, headers=alice)

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_input",
        "message": message,
        "field": field,
    }


def test_a_scheduled_firing_reports_its_lateness(
    client: TestClient,
    alice: Headers,
    create: Create,
    service: TriggerService,
    clock,
) -> None:
    trigger = create(
        alice, trigger_type="scheduled", schedule_time="2026-12-04T12:10:00Z"
    )
    clock.advance(minutes=10, seconds=2.5)
    service.fire_due(
        [(trigger["trigger_id"], datetime(2026, 12, 4, 12, 10, tzinfo=UTC))]
    )

    entry = client.get("/api/v1/event-logs", headers=alice).json()["items"][0]

    assert entry["reason"] == "scheduled"
    assert entry["due_at"] == "2026-12-04T12:10:00+00:00"
    assert entry["fired_at"] == "2026-12-04T12:10:02.500000+00:00"
    assert entry["lateness_ms"] == 2500.0
