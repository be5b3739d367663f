"""The old service's README flow and its web client, through the seed paths."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from domain.user import User

Headers = dict[str, str]
CREDENTIALS = {"username": "seeduser", "password": "seed-password"}
README_CREATE = {
    "trigger_type": "scheduled",
    "schedule_time": "2024-12-15T11:10:00",
    "interval": 30,
    "is_recurring": True,
}


def test_the_readme_flow_keeps_its_bodies_and_messages(client: TestClient) -> None:
    registered = client.post("/auth/register", json=CREDENTIALS)
    assert registered.status_code == 201
    user_id = str(User.id_for("seeduser"))
    assert registered.json() == {
        "message": "User registered successfully",
        "user_id": user_id,
    }

    logged_in = client.post("/auth/login", json=CREDENTIALS)
    assert logged_in.status_code == 200
    assert logged_in.json()["message"] == "Login successful"
    headers = {"Authorization": "Bearer " + logged_in.json()["token"]}

    created = client.post(
        "/trigger/create-trigger", json=README_CREATE, headers=headers
    )
    assert created.status_code == 201
    trigger_id = created.json()["trigger_id"]
    trigger = created.json()["trigger"]
    assert created.json()["message"] == "Trigger created successfully"
    assert trigger["trigger_id"] == trigger_id
    assert trigger["schedule_time"] == "2024-12-15T11:10:00+00:00"
    # Anchored in the past: the next one of its 30-minute steps after now.
    assert trigger["next_fire_at"] == "2026-12-04T12:10:00+00:00"

    listed = client.get("/trigger/list-triggers", headers=headers)
    assert listed.status_code == 200
    assert listed.json() == [trigger]

    fired = client.post(f"/trigger/trigger_event/{trigger_id}", headers=headers)
    assert fired.status_code == 200
    assert fired.json()["message"] == "Event triggered successfully!"
    assert fired.json()["firing"]["reason"] == "manual"

    tested = client.post(f"/trigger/test_trigger/{trigger_id}", headers=headers)
    assert tested.status_code == 200
    assert tested.json()["message"] == "Test event triggered successfully!"
    assert tested.json()["firing"]["is_test"] is True

    updated = client.put(
        f"/trigger/update-trigger/{trigger_id}",
        json={"schedule_time": "2024-12-16T12:00:00", "is_recurring": False},
        headers=headers,
    )
    assert updated.status_code == 200
    assert updated.json()["message"] == "Trigger updated successfully!"
    assert updated.json()["trigger"]["status"] == "completed"
    assert updated.json()["trigger"]["next_fire_at"] is None
    assert updated.json()["trigger"]["fire_count"] == 1

    deleted = client.delete(f"/trigger/delete-trigger/{trigger_id}", headers=headers)
    assert deleted.status_code == 200
    assert deleted.json() == {"message": "Trigger deleted successfully!"}
    assert client.get("/trigger/list-triggers", headers=headers).json() == []


def test_the_old_client_form_is_accepted(client: TestClient, alice: Headers) -> None:
    form = {
        "trigger_type": "scheduled",
        "schedule_time": "2026-12-05T10:30",
        "interval": "30",
        "is_recurring": False,
        "api_endpoint": "",
        "submitted_from": "react",
    }

    response = client.post("/trigger/create-trigger", json=form, headers=alice)

    trigger = response.json()["trigger"]
    assert response.status_code == 201
    assert trigger["schedule_time"] == "2026-12-05T10:30:00+00:00"
    assert trigger["interval"] == 30
    assert trigger["api_endpoint"] is None
    assert trigger["next_fire_at"] == "2026-12-05T10:30:00+00:00"


def test_a_seconds_less_time_is_read_in_the_trigger_zone(
    client: TestClient, alice: Headers
) -> None:
    form = {
        "trigger_type": "scheduled",
        "schedule_time": "2026-12-05T10:30",
        "interval": "1.5",
        "timezone": "Europe/Paris",
    }

    response = client.post("/trigger/create-trigger", json=form, headers=alice)

    trigger = response.json()["trigger"]
    assert trigger["schedule_time"] == "2026-12-05T09:30:00+00:00"
    assert trigger["interval"] == 1.5
    assert trigger["timezone"] == "Europe/Paris"


def test_a_manual_trigger_keeps_its_schedule_fields_but_never_comes_due(
    client: TestClient, alice: Headers
) -> None:
    form = {
        "trigger_type": "manual",
        "schedule_time": "2026-12-05T10:30",
        "interval": "30",
    }

    trigger = client.post("/trigger/create-trigger", json=form, headers=alice).json()[
        "trigger"
    ]

    assert trigger["trigger_type"] == "manual"
    assert trigger["schedule_time"] == "2026-12-05T10:30:00+00:00"
    assert trigger["interval"] == 30
    assert trigger["status"] == "active"
    assert trigger["next_fire_at"] is None


@pytest.mark.parametrize("path", ["update-trigger", "update_trigger"])
def test_both_update_spellings_change_the_trigger(
    client: TestClient,
    alice: Headers,
    create: Callable[..., dict[str, Any]],
    path: str,
) -> None:
    trigger = create(alice)

    response = client.put(
        f"/trigger/{path}/{trigger['trigger_id']}",
        json={"api_payload": {"n": 1}, "unknown": True},
        headers=alice,
    )

    assert response.status_code == 200
    assert response.json()["trigger"]["api_payload"] == {"n": 1}
    assert response.json()["trigger"]["version"] == 2


@pytest.mark.parametrize("path", ["delete-trigger", "delete_trigger"])
def test_both_delete_spellings_remove_the_trigger(
    client: TestClient,
    alice: Headers,
    create: Callable[..., dict[str, Any]],
    path: str,
) -> None:
    trigger = create(alice)

    response = client.delete(f"/trigger/{path}/{trigger['trigger_id']}", headers=alice)

    assert response.json() == {"message": "Trigger deleted successfully!"}
    assert client.get("/trigger/list-triggers", headers=alice).json() == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/trigger/trigger_event/{id}"),
        ("POST", "/trigger/test_trigger/{id}"),
        ("PUT", "/trigger/update-trigger/{id}"),
        ("DELETE", "/trigger/delete_trigger/{id}"),
    ],
)
def test_a_missing_trigger_answers_trigger_not_found(
    client: TestClient, alice: Headers, method: str, path: str
) -> None:
    url = path.format(id="00000000-0000-4000-8000-000000000000")

    response = client.request(method, url, json={}, headers=alice)

    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "message": "Trigger not found"}


def test_seed_routes_need_a_token(client: TestClient) -> None:
    response = client.post("/trigger/create-trigger", json=README_CREATE)

    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized", "message": "Token is missing"}
