from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from api.app import create_app
from eventtrigger import passwords
from eventtrigger.service import TriggerService
from eventtrigger.settings import Settings

Headers = dict[str, str]
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Full-cost scrypt takes ~50 ms per hash; the API tests hash hundreds.
    # Verification reads the cost from the stored hash, so both sides agree.
    monkeypatch.setattr(passwords, "SCRYPT_N", 2**4)


@pytest.fixture
def app(service: TriggerService, settings: Settings) -> Starlette:
    return create_app(service, settings)


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def log_in(client: TestClient) -> Callable[[str], Headers]:
    """Log a registered user in; answer the Authorization header to send."""

    def log_in_as(username: str) -> Headers:
        credentials = {"username": username, "password": PASSWORD}
        token = client.post("/auth/login", json=credentials).json()["token"]
        return {"Authorization": f"Bearer {token}"}

    return log_in_as


@pytest.fixture
def login(
    client: TestClient, log_in: Callable[[str], Headers]
) -> Callable[[str], Headers]:
    """Register a user and log in; answer the Authorization header to send."""

    def register_and_log_in(username: str) -> Headers:
        credentials = {"username": username, "password": PASSWORD}
        assert client.post("/auth/register", json=credentials).status_code == 201
        return log_in(username)

    return register_and_log_in


@pytest.fixture
def alice(login: Callable[[str], Headers]) -> Headers:
    return login("alice")


@pytest.fixture
def bob(login: Callable[[str], Headers]) -> Headers:
    return login("bob")


@pytest.fixture
def create(client: TestClient) -> Callable[..., dict[str, Any]]:
    """Create a trigger through /api/v1 and answer its JSON."""

    def create_trigger(headers: Headers, **fields: Any) -> dict[str, Any]:
        body = {"trigger_type": "api", **fields}
        response = client.post("/api/v1/triggers", json=body, headers=headers)
        assert response.status_code == 201, response.json()
        return response.json()

    return create_trigger
