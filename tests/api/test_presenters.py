from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from starlette.testclient import TestClient

from api.presenters import instant, json_value, present_new_firing
from domain.timezones import format_instant
from domain.trigger import Firing
from eventtrigger.service import TriggerService

Headers = dict[str, str]


def test_a_new_firing_without_its_log_row_has_the_same_shape() -> None:
    firing = Firing(
        firing_id="f-1",
        trigger_id="t-1",
        reason="scheduled",
        due_at=datetime(2026, 12, 4, 12, 0, tzinfo=UTC),
        fired_at=datetime(2026, 12, 4, 12, 0, 1, 250000, tzinfo=UTC),
        is_test=False,
    )

    assert present_new_firing(firing, {"a": 1}) == {
        "firing_id": "f-1",
        "trigger_id": "t-1",
        "reason": "scheduled",
        "is_test": False,
        "due_at": "2026-12-04T12:00:00+00:00",
        "fired_at": "2026-12-04T12:00:01.250000+00:00",
        "lateness_ms": 1250.0,
        "covered_count": 1,
        "misfired": False,
        "api_payload": {"a": 1},
        "status": "triggered",
        "state": "active",
        "delivery": None,
    }


def test_event_values_become_plain_json() -> None:
    value = {
        "at": datetime(2027, 1, 1, 10, 0, tzinfo=UTC),
        "ids": (UUID(int=1),),
        "n": 3,
    }

    assert json_value(value) == {
        "at": "2027-01-01T10:00:00+00:00",
        "ids": ["00000000-0000-0000-0000-000000000001"],
        "n": 3,
    }


def test_fire_answers_even_when_the_log_row_is_not_found(
    client: TestClient,
    alice: Headers,
    create: Callable[..., dict[str, Any]],
    service: TriggerService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trigger = create(alice, api_payload="stored")
    monkeypatch.setattr(service, "list_firings", lambda *args, **kwargs: [])

    response = client.post(
        f"/api/v1/triggers/{trigger['trigger_id']}/fire", headers=alice
    )

    assert response.status_code == 201
    assert response.json()["api_payload"] == "stored"
    assert response.json()["fired_at"] == "2026-12-04T12:00:00+00:00"


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-04T12:00:00+00:00",
        "2026-12-04T12:00:00.000000+00:00",
        "2026-12-04T12:00:00.000001+00:00",
        "2026-12-04T12:00:00.120000+00:00",
        "2026-12-04T12:00:00+02:00",
        "2026-12-04T12:00:00.500000-05:30",
        "2026-12-04T12:00:00.5+00:00",
    ],
)
def test_a_stored_instant_reads_as_format_instant_writes_it(text: str) -> None:
    assert instant(text) == format_instant(datetime.fromisoformat(text))


def test_stored_instants_lose_only_zero_microseconds() -> None:
    assert [
        instant("2026-12-04T12:00:00.000000+00:00"),
        instant("2026-12-04T12:00:00.000001+00:00"),
        instant("2026-12-04T14:00:00+02:00"),
        instant(None),
    ] == [
        "2026-12-04T12:00:00+00:00",
        "2026-12-04T12:00:00.000001+00:00",
        "2026-12-04T12:00:00+00:00",
        None,
    ]
