from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from api.openapi import build_document


def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_every_route_and_method_is_documented(
    client: TestClient, app: Starlette
) -> None:
    paths = document(client)["paths"]

    served = {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {(path, method) for path, item in paths.items() for method in item}
    assert documented == served
    assert len(served) == 27


def test_bodies_come_from_the_request_schemas(client: TestClient) -> None:
    doc = document(client)

    create = doc["paths"]["/api/v1/triggers"]["post"]
    schema = doc["components"]["schemas"]["TriggerCreate"]
    assert doc["openapi"] == "3.1.0"
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TriggerCreate"
    }
    assert schema["required"] == ["trigger_type"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["trigger_type"]["enum"] == [
        "scheduled",
        "cron",
        "api",
        "manual",
    ]
    patch = doc["paths"]["/api/v1/triggers/{trigger_id}"]["patch"]
    assert patch["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TriggerChanges"
    }


def test_trigger_routes_require_the_bearer_scheme(client: TestClient) -> None:
    doc = document(client)

    assert doc["components"]["securitySchemes"] == {
        "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    assert doc["paths"]["/trigger/list-triggers"]["get"]["security"] == [
        {"bearerAuth": []}
    ]
    login = doc["paths"]["/auth/login"]["post"]
    assert "security" not in login
    assert sorted(login["responses"]) == ["200", "400", "401", "413", "429"]


def test_query_parameters_come_from_the_query_schemas(client: TestClient) -> None:
    doc = document(client)

    upcoming = doc["paths"]["/api/v1/triggers/{trigger_id}/upcoming"]["get"]
    parameters = {p["name"]: p for p in upcoming["parameters"]}
    assert parameters["trigger_id"]["in"] == "path"
    assert parameters["count"] == {
        "name": "count",
        "in": "query",
        "required": False,
        "description": "How many fire times.",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 10},
    }


def test_a_route_without_a_declared_operation_is_an_error() -> None:
    async def undeclared(request: Request) -> Response:
        return Response()

    with pytest.raises(LookupError, match="/secret declares no operation"):
        build_document([Route("/secret", undeclared)])
