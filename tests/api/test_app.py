from __future__ import annotations

import asyncio
import logging
import sqlite3

import pytest
from starlette.testclient import TestClient

from api.app import create_app
from eventtrigger.service import TriggerService
from eventtrigger.settings import Settings

Headers = dict[str, str]


class FakeScheduler:
    """Records what the application asks of its scheduler."""

    def __init__(self) -> None:
        self.started = False
        self.cancelled = False
        self.wakes = 0

    async def run(self) -> None:
        self.started = True
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise

    def wake(self) -> None:
        self.wakes += 1


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_when_the_store_answers(client: TestClient) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "projection_lag": 0}


def test_readyz_when_the_store_fails(
    client: TestClient, service: TriggerService, monkeypatch: pytest.MonkeyPatch
) -> None:
    def locked() -> int:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(service.projections, "lag", locked)

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}


def test_the_scheduler_runs_for_the_life_of_the_app(
    service: TriggerService, settings: Settings
) -> None:
    scheduler = FakeScheduler()
    app = create_app(service, settings, scheduler=scheduler)

    with TestClient(app) as client:
        credentials = {"username": "alice", "password": "pw"}
        client.post("/auth/register", json=credentials)
        assert scheduler.started
        assert scheduler.wakes == 1
        assert service.after_save == [scheduler.wake]

    assert scheduler.cancelled
    assert service.after_save == []


def test_each_request_logs_one_access_line(
    client: TestClient, alice: Headers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="eventtrigger.access")

    client.get("/api/v1/triggers?limit=5", headers=alice)

    [record] = [r for r in caplog.records if r.name == "eventtrigger.access"]
    assert record.getMessage().startswith("GET /api/v1/triggers 200 ")
    assert (record.method, record.path, record.status) == (
        "GET",
        "/api/v1/triggers",
        200,
    )
    assert alice["Authorization"].split()[1] not in caplog.text
