"""Two users never see or touch each other's triggers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

Headers = dict[str, str]
Create = Callable[..., dict[str, Any]]
NOT_FOUND = {"error": "not_found", "message": "Trigger not found"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/triggers/{id}", None),
        ("PATCH", "/api/v1/triggers/{id}", {"api_payload": 1}),
        ("DELETE", "/api/v1/triggers/{id}", None),
        ("POST", "/api/v1/triggers/{id}/fire", None),
        ("POST", "/api/v1/triggers/{id}/test", None),
        ("POST", "/api/v1/triggers/{id}/pause", None),
        ("POST", "/api/v1/triggers/{id}/resume", None),
        ("GET", "/api/v1/triggers/{id}/history", None),
        ("GET", "/api/v1/triggers/{id}/upcoming", None),
        ("POST", "/trigger/trigger_event/{id}", None),
        ("POST", "/trigger/test_trigger/{id}", None),
        ("PUT", "/trigger/update-trigger/{id}", {"api_payload": 1}),
        ("DELETE", "/trigger/delete-trigger/{id}", None),
    ],
)
def test_another_users_trigger_is_not_found(
    client: TestClient,
    alice: Headers,
    bob: Headers,
    create: Create,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    trigger = create(alice, trigger_type="scheduled", interval=5, is_recurring=True)
    url = path.format(id=trigger["trigger_id"])

    response = client.request(method, url, json=body, headers=bob)

    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    unchanged = client.get(f"/api/v1/triggers/{trigger['trigger_id']}", headers=alice)
    assert unchanged.json() == trigger


def test_a_bad_body_for_another_users_trigger_is_still_not_found(
    client: TestClient, alice: Headers, bob: Headers, create: Create
) -> None:
    trigger = create(alice)

    response = client.patch(
        f"/api/v1/triggers/{trigger['trigger_id']}",
        json={"schedule_time": "not a time"},
        headers=bob,
    )

    assert response.status_code == 404


def test_lists_and_event_logs_are_disjoint(
    client: TestClient, alice: Headers, bob: Headers, create: Create
) -> None:
    alices = {create(alice)["trigger_id"] for _ in range(2)}
    bobs = {create(bob)["trigger_id"]}
    for trigger_id in alices | bobs:
        owner = alice if trigger_id in alices else bob
        client.post(f"/api/v1/triggers/{trigger_id}/fire", headers=owner)

    def listed(headers: Headers) -> set[str]:
        items = client.get("/api/v1/triggers", headers=headers).json()["items"]
        return {item["trigger_id"] for item in items}

    def logged(headers: Headers) -> set[str]:
        items = client.get("/api/v1/event-logs", headers=headers).json()["items"]
        return {item["trigger_id"] for item in items}

    assert listed(alice) == alices
    assert listed(bob) == bobs
    assert {
        t["trigger_id"]
        for t in client.get("/trigger/list-triggers", headers=bob).json()
    } == bobs
    assert logged(alice) == alices
    assert logged(bob) == bobs


def test_filtering_the_log_by_another_users_trigger_finds_nothing(
    client: TestClient, alice: Headers, bob: Headers, create: Create
) -> None:
    trigger_id = create(alice)["trigger_id"]
    client.post(f"/api/v1/triggers/{trigger_id}/fire", headers=alice)

    response = client.get(
        "/api/v1/event-logs", params={"trigger_id": trigger_id}, headers=bob
    )

    assert response.json() == {"items": [], "next_cursor": None}
