"""Bad input of every kind answers 400 naming the field, never 500."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from eventtrigger.service import TriggerService
from projections.trigger_list import TriggerListView

Headers = dict[str, str]
Create = Callable[..., dict[str, Any]]
NOT_JSON = ("The request body must be valid JSON", "body")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"trigger_type": ',
        b"",
        b"\xff\xfe\x00",
        b'{"trigger_type": "api", "api_payload": NaN}',
        b'{"trigger_type": "api", "api_payload": 1e400}',
        b'{"trigger_type": "api", "api_payload": "\\ud800"}',
        b"[" * 20000 + b"]" * 20000,
    ],
)
def test_a_body_that_is_not_json_is_refused(
    client: TestClient, alice: Headers, raw: bytes
) -> None:
    response = client.post(
        "/api/v1/triggers",
        content=raw,
        headers={**alice, "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_input",
        "message": "The request body must be valid JSON",
        "field": "body",
    }


def test_a_body_nested_too_deeply_is_refused(
    client: TestClient, alice: Headers
) -> None:
    payload = "[" * 100 + "]" * 100
    raw = f'{{"trigger_type": "api", "api_payload": {payload}}}'.encode()

    response = client.post(
        "/api/v1/triggers",
        content=raw,
        headers={**alice, "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_input",
        "message": "The request body must not nest deeper than 64 levels",
        "field": "body",
    }


HOSTILE_BODIES = [
    b"{",
    b"[1, 2]",
    b'"\\ud800"',
    rb'{"payload": "\ud800"}',
    b'{"payload": Infinity}',
    b"[" * 5000,
]


@pytest.mark.parametrize("raw", HOSTILE_BODIES)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/auth/register"),
        ("POST", "/auth/login"),
        ("POST", "/trigger/create-trigger"),
        ("PUT", "/trigger/update_trigger/{id}"),
        ("PATCH", "/api/v1/triggers/{id}"),
        ("POST", "/api/v1/triggers/{id}/fire"),
        ("POST", "/api/v1/triggers/{id}/test"),
    ],
)
def test_no_body_reaches_an_internal_error(
    client: TestClient,
    alice: Headers,
    create: Create,
    method: str,
    path: str,
    raw: bytes,
) -> None:
    url = path.format(id=create(alice)["trigger_id"])

    response = client.request(
        method, url, content=raw, headers={**alice, "Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["field"] == "body"


@pytest.mark.parametrize("body", [[], "text", 3, False])
def test_a_body_that_is_not_an_object_is_refused(
    client: TestClient, alice: Headers, body: Any
) -> None:
    response = client.post("/trigger/create-trigger", json=body, headers=alice)

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_input",
        "message": "The request body must be a JSON object",
        "field": "body",
    }


# Valid as updates: an update may leave the type out, and may leave a one-shot
# in the past (it completes).
MISSING_TYPE = ({}, "trigger_type", "trigger_type is required")
PAST_ONE_SHOT = (
    {"trigger_type": "scheduled", "schedule_time": "2026-12-01T00:00Z"},
    "schedule_time",
    "schedule_time is in the past; a one-time trigger needs a future time",
)
BAD_CREATES = [
    MISSING_TYPE,
    PAST_ONE_SHOT,
    (
        {"trigger_type": 5},
        "trigger_type",
        "trigger_type must be one of 'scheduled', 'cron', 'api' or 'manual'",
    ),
    (
        {"trigger_type": "api", "colour": "red"},
        "colour",
        "Unknown field 'colour'",
    ),
    (
        {"trigger_type": "api", "timezone": "Mars/Base"},
        "timezone",
        "Unknown time zone 'Mars/Base'",
    ),
    (
        {"trigger_type": "cron", "cron": "* * * * *", "timezone": "../../etc/passwd"},
        "timezone",
        "Unknown time zone '../../etc/passwd'",
    ),
    ({"trigger_type": "api", "timezone": 5}, "timezone", "timezone must be a string"),
    (
        {"trigger_type": "cron", "cron": "61 * * * *"},
        "cron",
        "The cron expression '61 * * * *' is not valid: "
        "the minute field '61' is not understood.",
    ),
    (
        {"trigger_type": "cron", "cron": "0 0 30 2 *"},
        "cron",
        "The cron expression '0 0 30 2 *' never fires: no calendar date matches "
        "its day-of-month, month and day-of-week fields.",
    ),
    (
        {"trigger_type": "scheduled", "interval": -5},
        "interval",
        "interval must be a number of minutes greater than 0",
    ),
    (
        {"trigger_type": "scheduled", "interval": "-5"},
        "interval",
        "interval must be a number of minutes greater than 0",
    ),
    (
        {"trigger_type": "scheduled", "interval": "soon"},
        "interval",
        "interval must be a number of minutes, such as 30",
    ),
    (
        {"trigger_type": "scheduled", "interval": True},
        "interval",
        "interval must be a number",
    ),
    (
        {"trigger_type": "scheduled", "interval": 0.001},
        "interval",
        "interval must be at least one second (1/60 of a minute)",
    ),
    (
        {"trigger_type": "scheduled", "interval": 1e9},
        "interval",
        "interval must be at most 2628000 minutes (five years)",
    ),
    (
        {"trigger_type": "scheduled", "schedule_time": "2026-13-01T00:00"},
        "schedule_time",
        "schedule_time must be an ISO-8601 date and time, e.g. 2026-12-05T10:30:00Z",
    ),
    (
        {"trigger_type": "scheduled", "schedule_time": 1733000000},
        "schedule_time",
        "schedule_time must be a string",
    ),
    (
        {"trigger_type": "api", "start_at": "1900-01-01T00:00Z"},
        "start_at",
        "start_at must be between the years 1970 and 2999",
    ),
    (
        {
            "trigger_type": "scheduled",
            "interval": 5,
            "start_at": "2027-01-01T00:00Z",
            "end_at": "2026-12-30T00:00Z",
        },
        "end_at",
        "end_at must be later than start_at",
    ),
    (
        {"trigger_type": "scheduled"},
        "schedule_time",
        "A scheduled trigger needs schedule_time, interval or both",
    ),
    (
        {"trigger_type": "api", "api_endpoint": "ftp://example.com/"},
        "api_endpoint",
        "api_endpoint must be an http or https URL, such as https://example.com/",
    ),
    (
        {"trigger_type": "api", "api_endpoint": "http://[::1"},
        "api_endpoint",
        "api_endpoint must be an http or https URL, such as https://example.com/",
    ),
    (
        {"trigger_type": "api", "api_endpoint": "https://x/" + "a" * 2048},
        "api_endpoint",
        "api_endpoint must be at most 2048 characters",
    ),
    (
        {"trigger_type": "api", "misfire_policy": "sometimes"},
        "misfire_policy",
        "misfire_policy must be one of 'fire_once', 'skip' or 'fire_all'",
    ),
    (
        {"trigger_type": "api", "misfire_grace_seconds": -1},
        "misfire_grace_seconds",
        "misfire_grace_seconds must be at least 0",
    ),
    (
        {"trigger_type": "api", "max_fires": 0},
        "max_fires",
        "max_fires must be at least 1",
    ),
    (
        {"trigger_type": "api", "max_fires": 1.5},
        "max_fires",
        "max_fires must be a whole number",
    ),
    (
        {"trigger_type": "api", "is_recurring": "yes"},
        "is_recurring",
        "is_recurring must be true or false",
    ),
]


@pytest.mark.parametrize(("body", "field", "message"), BAD_CREATES)
def test_a_bad_create_names_the_field(
    client: TestClient, alice: Headers, body: dict[str, Any], field: str, message: str
) -> None:
    response = client.post("/api/v1/triggers", json=body, headers=alice)

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_input",
        "message": message,
        "field": field,
    }


BAD_UPDATES = [
    case for case in BAD_CREATES if case not in (MISSING_TYPE, PAST_ONE_SHOT)
]


@pytest.mark.parametrize(("body", "field", "message"), BAD_UPDATES)
def test_a_bad_update_names_the_field(
    client: TestClient,
    alice: Headers,
    create: Create,
    body: dict[str, Any],
    field: str,
    message: str,
) -> None:
    trigger = create(alice)

    response = client.patch(
        f"/api/v1/triggers/{trigger['trigger_id']}", json=body, headers=alice
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_input",
        "message": message,
        "field": field,
    }


def test_seed_paths_ignore_unknown_fields_but_check_known_ones(
    client: TestClient, alice: Headers
) -> None:
    body = {"trigger_type": "scheduled", "interval": "x", "colour": "red"}

    response = client.post("/trigger/create-trigger", json=body, headers=alice)

    assert response.status_code == 400
    assert response.json()["field"] == "interval"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/triggers/42",
        "/api/v1/triggers/not-an-id/fire",
        "/trigger/trigger_event/7",
    ],
)
def test_a_malformed_trigger_id_is_refused(
    client: TestClient, alice: Headers, path: str
) -> None:
    method = "GET" if path.count("/") == 4 else "POST"

    response = client.request(method, path, headers=alice)

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_input",
        "message": "trigger_id must be a trigger id as given when it was created",
        "field": "trigger_id",
    }


def test_an_unknown_path_is_not_found(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")

    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "message": "No resource lives at this path",
    }


def test_a_wrong_method_names_the_allowed_ones(client: TestClient) -> None:
    response = client.delete("/api/v1/triggers")

    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD, POST"
    assert response.json() == {
        "error": "method_not_allowed",
        "message": "This method is not allowed on this path",
    }


def test_an_unexpected_failure_answers_500_without_details(
    app: Starlette,
    service: TriggerService,
    alice: Headers,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk on fire at /var/secret")

    monkeypatch.setattr(TriggerListView, "page_for_owner", broken)

    response = TestClient(app).get("/api/v1/triggers", headers=alice)

    assert response.status_code == 500
    assert response.json() == {
        "error": "internal",
        "message": "Something went wrong on our side; the request was not completed",
    }
    assert "disk on fire" not in response.text
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.exc_info is not None
    assert record.getMessage() == "unhandled error on GET /api/v1/triggers"


@pytest.mark.parametrize("interval", ["３０", "٣٠"])
def test_interval_digits_must_be_ascii(
    client: TestClient, login: Callable[[str], dict[str, str]], interval: str
) -> None:
    headers = login("ada")

    answer = client.post(
        "/trigger/create-trigger",
        headers=headers,
        json={"trigger_type": "scheduled", "interval": interval},
    )

    assert answer.status_code == 400
    assert answer.json()["field"] == "interval"


@pytest.mark.parametrize(
    "path", ["/api/v1/triggers?state=bogus", "/api/v1/event-logs?trigger=x"]
)
def test_unknown_query_parameters_are_refused(
    client: TestClient, login: Callable[[str], dict[str, str]], path: str
) -> None:
    answer = client.get(path, headers=login("ada"))

    assert answer.status_code == 400
    assert answer.json()["field"] in ("state", "trigger")
