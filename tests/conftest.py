from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from eventtrigger.service import TriggerService
from eventtrigger.settings import Settings

TEST_SECRET = "test-secret-not-for-production-use-only"


class FakeClock:
    """A clock that moves only when a test moves it."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 12, 4, 12, 0, tzinfo=UTC))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, jwt_secret=TEST_SECRET)


@pytest.fixture
def service(settings: Settings, clock: FakeClock) -> Iterator[TriggerService]:
    app = TriggerService(settings, clock=clock)
    yield app
    app.close()


def log_in(client: Any, username: str = "ada") -> dict[str, str]:
    """Register (if need be) and log in through the API; the auth header."""
    body = {"username": username, "password": f"pw-for-{username}"}
    client.post("/auth/register", json=body)
    token = client.post("/auth/login", json=body).json()["token"]
    return {"Authorization": f"Bearer {token}"}
