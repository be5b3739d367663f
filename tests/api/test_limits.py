from __future__ import annotations

from collections.abc import Iterator

from starlette.testclient import TestClient

from eventtrigger.settings import Settings

Headers = dict[str, str]


def too_large(settings: Settings) -> dict[str, str]:
    return {
        "error": "payload_too_large",
        "message": f"The request body must be at most {settings.max_body_bytes} bytes",
    }


def test_a_declared_length_over_the_limit_is_refused(
    client: TestClient, alice: Headers, settings: Settings
) -> None:
    body = b'{"trigger_type": "api", "api_payload": "' + b"x" * 70_000 + b'"}'

    response = client.post(
        "/api/v1/triggers",
        content=body,
        headers={**alice, "Content-Type": "application/json"},
    )

    assert response.status_code == 413
    assert response.json() == too_large(settings)


def test_a_streamed_body_over_the_limit_is_refused(
    client: TestClient, alice: Headers, settings: Settings
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"trigger_type": "api", "api_payload": "'
        for _ in range(20):
            yield b"x" * 4096
        yield b'"}'

    response = client.post(
        "/trigger/create-trigger",
        content=chunks(),
        headers={**alice, "Content-Type": "application/json"},
    )

    assert response.status_code == 413
    assert response.json() == too_large(settings)


def test_a_body_at_the_limit_is_read(
    client: TestClient, alice: Headers, settings: Settings
) -> None:
    head = b'{"trigger_type": "api", "api_payload": "'
    padding = settings.max_body_bytes - len(head) - 2
    body = head + b"x" * padding + b'"}'

    response = client.post(
        "/api/v1/triggers",
        content=body,
        headers={**alice, "Content-Type": "application/json"},
    )

    assert len(body) == settings.max_body_bytes
    assert response.status_code == 201


def test_an_unreadable_content_length_is_refused(client: TestClient) -> None:
    response = client.post(
        "/auth/login", content=b"{}", headers={"Content-Length": "lots"}
    )

    assert response.status_code == 400
    assert response.json()["field"] == "Content-Length"
