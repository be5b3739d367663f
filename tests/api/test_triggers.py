from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from domain.user import User

Headers = dict[str, str]
Create = Callable[..., dict[str, Any]]
NOW = "2026-12-04T12:00:00+00:00"


def test_create_answers_the_trigger_and_its_location(
    client: TestClient, alice: Headers
) -> None:
    body = {
        "trigger_type": "cron",
        "cron": "0 9 * * 1-5",
        "timezone": "Europe/Paris",
        "end_at": "2027-06-30T18:00",
        "max_fires": 100,
        "misfire_policy": "skip",
        "misfire_grace_seconds": 30,
        "api_endpoint": "https://hooks.example.com/wake",
        "api_payload": {"room": 7},
    }

    response = client.post("/api/v1/triggers", json=body, headers=alice)

    trigger = response.json()
    assert response.status_code == 201
    assert response.headers["Location"] == f"/api/v1/triggers/{trigger['trigger_id']}"
    assert trigger == {
        "trigger_id": trigger["trigger_id"],
        "user_id": str(User.id_for("alice")),
        "trigger_type": "cron",
        "schedule_time": None,
        "interval": None,
        "is_recurring": False,
        "api_endpoint": "https://hooks.example.com/wake",
        "api_payload": {"room": 7},
        "created_at": NOW,
        "updated_at": NOW,
        "status": "active",
        "cron": "0 9 * * 1-5",
        "timezone": "Europe/Paris",
        "start_at": None,
        "end_at": "2027-06-30T16:00:00+00:00",
        "max_fires": 100,
        "misfire_policy": "skip",
        "misfire_grace_seconds": 30,
        "next_fire_at": "2026-12-07T08:00:00+00:00",
        "last_fired_at": None,
        "fire_count": 0,
        "version": 1,
    }


def test_a_created_trigger_is_in_the_next_list(
    client: TestClient, alice: Headers, create: Create
) -> None:
    trigger = create(alice, api_payload="hello")

    listed = client.get("/api/v1/triggers", headers=alice).json()
    single = client.get(f"/api/v1/triggers/{trigger['trigger_id']}", headers=alice)

    assert listed == {"items": [trigger], "next_cursor": None}
    assert single.json() == trigger


def test_pages_cover_every_trigger_once(
    client: TestClient, alice: Headers, create: Create, clock
) -> None:
    created = []
    for _ in range(7):
        created.append(create(alice)["trigger_id"])
        clock.advance(seconds=1)

    seen: list[str] = []
    sizes = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/triggers", params=params, headers=alice).json()
        seen.extend(item["trigger_id"] for item in page["items"])
        sizes.append(len(page["items"]))
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert sizes == [3, 3, 1]
    assert seen == created


def cursor_of(*key: object) -> str:
    raw = json.dumps(key).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_trigger_list_cursor_is_checked(client: TestClient, alice: Headers) -> None:
    for cursor in (
        "garbage",
        cursor_of("event-logs", 3),
        cursor_of("triggers", "\ud800", "x"),
        cursor_of("triggers", 1, 2),
    ):
        response = client.get(
            "/api/v1/triggers", params={"cursor": cursor}, headers=alice
        )

        assert response.status_code == 400
        assert response.json() == {
            "error": "invalid_input",
            "message": "cursor must be the next_cursor of an earlier page of this list",
            "field": "cursor",
        }


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        ("0", "limit must be at least 1"),
        ("501", "limit must be at most 500"),
        ("many", "limit must be a whole number"),
    ],
)
def test_a_page_limit_is_checked(
    client: TestClient, alice: Headers, limit: str, message: str
) -> None:
    response = client.get("/api/v1/triggers", params={"limit": limit}, headers=alice)

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_input",
        "message": message,
        "field": "limit",
    }


def test_patch_changes_only_the_fields_sent(
    client: TestClient, alice: Headers, create: Create, clock
) -> None:
    trigger = create(
        alice,
        trigger_type="scheduled",
        schedule_time="2026-12-05T10:00:00Z",
        api_endpoint="https://example.com/a",
        api_payload=[1, 2],
    )
    clock.advance(minutes=5)

    response = client.patch(
        f"/api/v1/triggers/{trigger['trigger_id']}",
        json={"schedule_time": "2026-12-06T08:15", "api_endpoint": None},
        headers=alice,
    )

    changed = response.json()
    assert response.status_code == 200
    assert changed == {
        **trigger,
        "schedule_time": "2026-12-06T08:15:00+00:00",
        "next_fire_at": "2026-12-06T08:15:00+00:00",
        "api_endpoint": None,
        "updated_at": "2026-12-04T12:05:00+00:00",
        "version": 2,
    }


def test_patch_reads_times_in_the_trigger_zone(
    client: TestClient, alice: Headers, create: Create
) -> None:
    trigger = create(
        alice,
        trigger_type="scheduled",
        schedule_time="2026-12-05T10:00",
        timezone="America/New_York",
    )
    url = f"/api/v1/triggers/{trigger['trigger_id']}"

    moved = client.patch(url, json={"schedule_time": "2026-12-06T10:00"}, headers=alice)
    rezoned = client.patch(
        url,
        json={"timezone": None, "schedule_time": "2026-12-07T10:00"},
        headers=alice,
    )

    assert moved.json()["schedule_time"] == "2026-12-06T15:00:00+00:00"
    assert rezoned.json()["timezone"] == "UTC"
    assert rezoned.json()["schedule_time"] == "2026-12-07T10:00:00+00:00"


def test_patch_cannot_clear_the_trigger_type(
    client: TestClient, alice: Headers, create: Create
) -> None:
    trigger = create(alice)

    response = client.patch(
        f"/api/v1/triggers/{trigger['trigger_id']}",
        json={"trigger_type": None},
        headers=alice,
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_input",
        "message": "trigger_type cannot be cleared",
        "field": "trigger_type",
    }


def test_an_empty_patch_records_nothing(
    client: TestClient, alice: Headers, create: Create
) -> None:
    trigger = create(alice)

    response = client.patch(
        f"/api/v1/triggers/{trigger['trigger_id']}", json={}, headers=alice
    )

    assert response.json() == trigger


def test_delete_answers_204_and_the_trigger_is_gone(
    client: TestClient, alice: Headers, create: Create
) -> None:
    url = f"/api/v1/triggers/{create(alice)['trigger_id']}"

    deleted = client.delete(url, headers=alice)

    assert deleted.status_code == 204
    assert deleted.content == b""
    assert client.get(url, headers=alice).status_code == 404
    assert client.delete(url, headers=alice).status_code == 404


def test_fire_records_a_firing_with_the_payload_sent(
    client: TestClient, alice: Headers, create: Create
) -> None:
    trigger = create(alice, api_payload={"stored": True})
    url = f"/api/v1/triggers/{trigger['trigger_id']}"

    with_payload = client.post(url + "/fire", json={"payload": [1, "x"]}, headers=alice)
    without_body = client.post(url + "/fire", headers=alice)

    firing = with_payload.json()
    assert with_payload.status_code == 201
    assert firing == {
        "firing_id": firing["firing_id"],
        "trigger_id": trigger["trigger_id"],
        "reason": "api",
        "is_test": False,
        "due_at": None,
        "fired_at": NOW,
        "lateness_ms": None,
        "covered_count": 1,
        "misfired": False,
        "api_payload": [1, "x"],
        "status": "triggered",
        "state": "active",
        "delivery": None,
    }
    assert without_body.json()["api_payload"] == {"stored": True}
    after = client.get(url, headers=alice).json()
    assert after["fire_count"] == 2
    assert after["last_fired_at"] == NOW


def test_a_test_firing_is_not_counted(
    client: TestClient, alice: Headers, create: Create
) -> None:
    trigger = create(alice, api_payload="p")
    url = f"/api/v1/triggers/{trigger['trigger_id']}"

    response = client.post(url + "/test", headers=alice)

    assert response.status_code == 201
    assert response.json()["is_test"] is True
    assert response.json()["reason"] == "test"
    assert response.json()["api_payload"] == "p"
    assert client.get(url, headers=alice).json()["fire_count"] == 0


def test_fire_beyond_max_fires_conflicts(
    client: TestClient, alice: Headers, create: Create
) -> None:
    url = f"/api/v1/triggers/{create(alice, max_fires=1)['trigger_id']}"
    client.post(url + "/fire", headers=alice)

    response = client.post(url + "/fire", headers=alice)

    assert response.status_code == 409
    assert response.json() == {
        "error": "conflict",
        "message": "The trigger has already fired max_fires times",
    }


def test_fire_refuses_unknown_body_fields(
    client: TestClient, alice: Headers, create: Create
) -> None:
    url = f"/api/v1/triggers/{create(alice)['trigger_id']}/fire"

    response = client.post(url, json={"payload": 1, "extra": 2}, headers=alice)

    assert response.status_code == 400
    assert response.json()["field"] == "extra"


def test_pause_and_resume(client: TestClient, alice: Headers, create: Create) -> None:
    trigger = create(alice, trigger_type="scheduled", interval=60, is_recurring=True)
    url = f"/api/v1/triggers/{trigger['trigger_id']}"

    paused = client.post(url + "/pause", headers=alice)
    paused_again = client.post(url + "/pause", headers=alice)
    resumed = client.post(url + "/resume", headers=alice)
    resumed_again = client.post(url + "/resume", headers=alice)

    assert paused.status_code == 200
    assert paused.json()["status"] == "paused"
    assert paused.json()["next_fire_at"] is None
    assert paused_again.status_code == 409
    assert paused_again.json() == {
        "error": "conflict",
        "message": "Only an active trigger can be paused; it is paused",
    }
    assert resumed.json()["status"] == "active"
    assert resumed.json()["next_fire_at"] == "2026-12-04T13:00:00+00:00"
    assert resumed_again.status_code == 409
    assert resumed_again.json()["message"] == (
        "Only a paused trigger can be resumed; it is active"
    )


def test_history_lists_the_domain_events(
    client: TestClient, alice: Headers, create: Create, clock
) -> None:
    trigger = create(alice)
    url = f"/api/v1/triggers/{trigger['trigger_id']}"
    clock.advance(minutes=1)
    client.patch(url, json={"api_payload": 5}, headers=alice)
    clock.advance(minutes=1)
    firing = client.post(url + "/fire", headers=alice).json()

    history = client.get(url + "/history", headers=alice).json()

    alice_id = str(User.id_for("alice"))
    assert history["trigger_id"] == trigger["trigger_id"]
    assert [(e["type"], e["version"], e["at"]) for e in history["events"]] == [
        ("Created", 1, NOW),
        ("Updated", 2, "2026-12-04T12:01:00+00:00"),
        ("Fired", 3, "2026-12-04T12:02:00+00:00"),
    ]
    assert history["events"][1]["changes"] == {"api_payload": 5}
    assert history["events"][2] == {
        "type": "Fired",
        "version": 3,
        "at": "2026-12-04T12:02:00+00:00",
        "firing_id": firing["firing_id"],
        "reason": "api",
        "due_at": None,
        "is_test": False,
        "payload": 5,
        "covered_count": 1,
        "covered_first_due_at": None,
        "misfired": False,
        "next_due_at": None,
        "actor": alice_id,
        "endpoint": None,
    }


def test_upcoming_marks_a_fire_time_moved_by_dst(
    client: TestClient, alice: Headers, create: Create
) -> None:
    trigger = create(
        alice, trigger_type="cron", cron="30 2 * * *", timezone="America/New_York"
    )

    response = client.get(
        f"/api/v1/triggers/{trigger['trigger_id']}/upcoming",
        params={"count": 3, "after": "2027-03-13T00:00"},
        headers=alice,
    )

    assert response.status_code == 200
    assert response.json() == {
        "trigger_id": trigger["trigger_id"],
        "timezone": "America/New_York",
        "fire_times": [
            {
                "at": "2027-03-13T07:30:00+00:00",
                "local": "2027-03-13T02:30:00-05:00",
                "dst_shifted": False,
            },
            {
                "at": "2027-03-14T07:00:00+00:00",
                "local": "2027-03-14T03:00:00-04:00",
                "dst_shifted": True,
            },
            {
                "at": "2027-03-15T06:30:00+00:00",
                "local": "2027-03-15T02:30:00-04:00",
                "dst_shifted": False,
            },
        ],
    }


def test_upcoming_defaults_to_ten_from_now(
    client: TestClient, alice: Headers, create: Create
) -> None:
    trigger = create(alice, trigger_type="scheduled", interval=15, is_recurring=True)

    response = client.get(
        f"/api/v1/triggers/{trigger['trigger_id']}/upcoming", headers=alice
    )

    times = [t["at"] for t in response.json()["fire_times"]]
    assert len(times) == 10
    assert times[0] == "2026-12-04T12:15:00+00:00"
    assert times[-1] == "2026-12-04T14:30:00+00:00"


def test_an_api_trigger_has_no_upcoming_fire_times(
    client: TestClient, alice: Headers, create: Create
) -> None:
    trigger = create(alice)

    response = client.get(
        f"/api/v1/triggers/{trigger['trigger_id']}/upcoming", headers=alice
    )

    assert response.json()["fire_times"] == []


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"count": "0"}, "count", "count must be at least 1"),
        ({"count": "1001"}, "count", "count must be at most 1000"),
        (
            {"after": "tomorrow"},
            "after",
            "after must be an ISO-8601 date and time, e.g. 2026-12-05T10:30:00Z",
        ),
    ],
)
def test_upcoming_checks_its_query(
    client: TestClient,
    alice: Headers,
    create: Create,
    params: dict[str, str],
    field: str,
    message: str,
) -> None:
    url = f"/api/v1/triggers/{create(alice)['trigger_id']}/upcoming"

    response = client.get(url, params=params, headers=alice)

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_input",
        "message": message,
        "field": field,
    }


def test_a_bad_cron_is_refused_on_a_trigger_of_any_kind(
    client: TestClient, alice: Headers, create: Create
) -> None:
    scheduled = {
        "trigger_type": "scheduled",
        "schedule_time": "2030-01-01T00:00:00Z",
        "interval": 5,
        "is_recurring": True,
    }
    refused = client.post(
        "/api/v1/triggers", json={**scheduled, "cron": "bad"}, headers=alice
    )
    trigger = create(alice, **scheduled)
    changed = client.patch(
        f"/api/v1/triggers/{trigger['trigger_id']}", json={"cron": "bad"}, headers=alice
    )
    after = client.get(f"/api/v1/triggers/{trigger['trigger_id']}", headers=alice)

    for response in (refused, changed):
        assert response.status_code == 400
        assert response.json()["field"] == "cron"
        assert response.json()["message"].startswith("The cron expression 'bad'")
    assert (after.json()["cron"], after.json()["version"]) == (None, 1)
