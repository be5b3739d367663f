from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime

import jwt
import pytest
from starlette.testclient import TestClient

from api.app import create_app
from domain.user import User
from eventtrigger.service import TriggerService
from eventtrigger.settings import Settings

Headers = dict[str, str]
PASSWORD = "correct horse battery"
SECRET = "test-secret-not-for-production-use-only"
NOW = int(datetime(2026, 12, 4, 12, 0, tzinfo=UTC).timestamp())
ALICE_ID = str(User.id_for("alice"))


def credentials(username: str = "alice", password: str = PASSWORD) -> dict[str, str]:
    return {"username": username, "password": password}


def test_register_answers_the_new_user_id(client: TestClient) -> None:
    response = client.post("/auth/register", json=credentials())

    assert response.status_code == 201
    assert response.json() == {
        "message": "User registered successfully",
        "user_id": ALICE_ID,
    }


def test_register_twice_conflicts(client: TestClient) -> None:
    client.post("/auth/register", json=credentials())

    response = client.post("/auth/register", json=credentials(password="other"))

    assert response.status_code == 409
    assert response.json() == {
        "error": "conflict",
        "message": "Username already exists",
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": "x"}, "username"),
        ({"username": "alice"}, "password"),
        ({"username": "", "password": "x"}, "username"),
        ({"username": "alice", "password": ""}, "password"),
        ({"username": 7, "password": "x"}, "username"),
        ({"username": "alice", "password": None}, "password"),
    ],
)
def test_register_needs_both_credentials(
    client: TestClient, body: dict[str, object], field: str
) -> None:
    response = client.post("/auth/register", json=body)

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_input",
        "message": "Username and password are required",
        "field": field,
    }


def test_register_refuses_a_very_long_username(client: TestClient) -> None:
    response = client.post("/auth/register", json=credentials("a" * 151))

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_input",
        "message": "username must be at most 150 characters",
        "field": "username",
    }


def test_login_issues_a_token_with_the_seed_claims(
    client: TestClient, settings: Settings
) -> None:
    client.post("/auth/register", json=credentials())

    response = client.post("/auth/login", json=credentials())

    body = response.json()
    assert response.status_code == 200
    assert body["message"] == "Login successful"
    assert body["user_id"] == ALICE_ID
    claims = jwt.decode(
        body["token"], SECRET, algorithms=["HS256"], options={"verify_exp": False}
    )
    assert claims == {
        "username": "alice",
        "userid": ALICE_ID,
        "iat": NOW,
        "exp": NOW + settings.token_ttl_seconds,
    }


@pytest.mark.parametrize("username", ["alice", "nobody"])
def test_login_with_a_wrong_password_or_name_is_refused(
    client: TestClient, username: str
) -> None:
    client.post("/auth/register", json=credentials())

    response = client.post("/auth/login", json=credentials(username, "wrong"))

    assert response.status_code == 401
    assert response.json() == {
        "error": "unauthorized",
        "message": "Invalid username or password",
    }


def test_login_needs_both_credentials(client: TestClient) -> None:
    response = client.post("/auth/login", json={"username": "alice"})

    assert response.status_code == 400
    assert response.json()["message"] == "Username and password are required"


def limited_client(service: TriggerService, settings: Settings) -> TestClient:
    limited = dataclasses.replace(
        settings, login_attempts_per_window=3, login_window_seconds=60
    )
    return TestClient(create_app(service, limited))


def test_login_failures_beyond_the_limit_get_429(
    service: TriggerService, settings: Settings, clock
) -> None:
    client = limited_client(service, settings)
    client.post("/auth/register", json=credentials())
    for _ in range(3):
        assert (
            client.post("/auth/login", json=credentials(password="no")).status_code
            == 401
        )

    refused = client.post("/auth/login", json=credentials())

    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "60"
    assert refused.json() == {
        "error": "too_many_attempts",
        "message": "Too many failed login attempts for this username; try again later",
    }
    assert client.post("/auth/login", json=credentials("bob", "no")).status_code == 401
    clock.advance(seconds=60)
    assert client.post("/auth/login", json=credentials()).status_code == 200


def test_a_successful_login_clears_the_failures(
    service: TriggerService, settings: Settings
) -> None:
    client = limited_client(service, settings)
    client.post("/auth/register", json=credentials())
    for _ in range(2):
        client.post("/auth/login", json=credentials(password="no"))

    assert client.post("/auth/login", json=credentials()).status_code == 200
    for _ in range(2):
        client.post("/auth/login", json=credentials(password="no"))
    assert client.post("/auth/login", json=credentials()).status_code == 200


def token_for(user_id: str, exp: int = NOW + 60, secret: str = SECRET) -> str:
    claims = {"username": "alice", "userid": user_id, "exp": exp}
    return jwt.encode(claims, secret, algorithm="HS256")


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Token is missing"),
        ({"Authorization": ""}, "Token is missing"),
        ({"Authorization": "Bearer "}, "Token is missing"),
        ({"Authorization": "Bearer not-a-jwt"}, "Invalid token"),
        ({"Authorization": "Basic YWxpY2U6eA=="}, "Invalid token"),
        (
            {"Authorization": "Bearer " + token_for(ALICE_ID, secret="x" * 32)},
            "Invalid token",
        ),
        (
            {"Authorization": "Bearer " + token_for(str(User.id_for("ghost")))},
            "Invalid token",
        ),
        ({"Authorization": "Bearer " + token_for("not-a-uuid")}, "Invalid token"),
        (
            {"Authorization": "Bearer " + token_for(ALICE_ID, exp=NOW)},
            "Token has expired",
        ),
    ],
)
def test_trigger_routes_need_a_good_token(
    client: TestClient, alice: Headers, headers: Headers, message: str
) -> None:
    response = client.get("/api/v1/triggers", headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json() == {"error": "unauthorized", "message": message}


def test_a_token_expires_after_its_ttl(
    client: TestClient, alice: Headers, clock, settings: Settings
) -> None:
    clock.advance(seconds=settings.token_ttl_seconds - 1)
    assert client.get("/trigger/list-triggers", headers=alice).status_code == 200

    clock.advance(seconds=1)
    response = client.get("/trigger/list-triggers", headers=alice)

    assert response.status_code == 401
    assert response.json()["message"] == "Token has expired"


def test_passwords_and_tokens_stay_out_of_the_log(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client.post("/auth/register", json=credentials())
    token = client.post("/auth/login", json=credentials()).json()["token"]
    client.get("/api/v1/triggers", headers={"Authorization": f"Bearer {token}"})

    assert PASSWORD not in caplog.text
    assert token not in caplog.text


@pytest.mark.parametrize("username", [" ada", "ada ", "a\x00da", "ad\na"])
def test_register_refuses_names_with_invisible_characters(
    client: TestClient, username: str
) -> None:
    answer = client.post(
        "/auth/register", json={"username": username, "password": "pw"}
    )

    assert answer.status_code == 400
    assert answer.json()["field"] == "username"


def test_a_token_with_one_changed_character_is_refused_after_the_good_one(
    client: TestClient, alice: Headers
) -> None:
    assert client.get("/api/v1/triggers", headers=alice).status_code == 200
    good = alice["Authorization"]
    # A character inside the signature: the last one carries padding bits.
    inside = good[-10]
    forged = good[:-10] + ("A" if inside != "A" else "B") + good[-9:]

    response = client.get("/api/v1/triggers", headers={"Authorization": forged})

    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized", "message": "Invalid token"}


@pytest.mark.parametrize("padding", ["=", "=="])
def test_a_padded_copy_of_a_good_token_is_refused(
    client: TestClient, alice: Headers, padding: str
) -> None:
    padded = {"Authorization": alice["Authorization"] + padding}

    response = client.get("/api/v1/triggers", headers=padded)

    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized", "message": "Invalid token"}
