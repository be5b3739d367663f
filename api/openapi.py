"""The OpenAPI 3.1 document, built from the route table and the request schemas.

Each endpoint declares its operation with ``@operation``; the document walks
the application's routes, so a route without a declaration is an error rather
than a silent gap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from api.responses import JSONResponse

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])

TITLE = "eventtrigger"
VERSION = "1.0.0"
REF = "#/components/schemas/{model}"
ERROR_DESCRIPTIONS = {
    400: "Invalid input; `field` names the input at fault",
    401: "Missing, expired or invalid bearer token",
    404: "No such trigger, or not the caller's",
    409: "The trigger's state does not allow this",
    413: "Request body too large",
    429: "Too many failed login attempts",
}


@dataclass(frozen=True)
class Operation:
    """What the document says about one endpoint."""

    summary: str
    tag: str
    status: int = 200
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: type[BaseModel] | None = None
    secured: bool = True
    errors: tuple[int, ...] = (400,)


_OPERATIONS: dict[Callable[..., Any], Operation] = {}


def operation(
    summary: str, *, tag: str, **details: Any
) -> Callable[[Endpoint], Endpoint]:
    """Declare an endpoint's operation for the document."""

    def declare(endpoint: Endpoint) -> Endpoint:
        _OPERATIONS[endpoint] = Operation(summary, tag, **details)
        return endpoint

    return declare


def build_document(routes: Iterable[BaseRoute]) -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": _ERROR_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route):
            continue
        declared = _OPERATIONS.get(route.endpoint)
        if declared is None:
            raise LookupError(f"route {route.path} declares no operation")
        for method in sorted((route.methods or set()) - {"HEAD"}):
            item = _operation_object(route, declared, schemas)
            paths.setdefault(route.path, {})[method.lower()] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                }
            },
        },
    }


@operation("This OpenAPI document", tag="meta", secured=False, errors=())
async def openapi_document(request: Request) -> JSONResponse:
    state = request.app.state
    if getattr(state, "openapi", None) is None:
        state.openapi = build_document(request.app.routes)
    return JSONResponse(state.openapi)


def _operation_object(
    route: Route, declared: Operation, schemas: dict[str, Any]
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "operationId": route.name,
        "summary": declared.summary,
        "tags": [declared.tag],
        "responses": _responses(declared),
    }
    parameters = _path_parameters(route) + _query_parameters(declared.query)
    if parameters:
        item["parameters"] = parameters
    if declared.body is not None:
        item["requestBody"] = {
            "required": declared.body_required,
            "content": {
                "application/json": {"schema": _reference(declared.body, schemas)}
            },
        }
    if declared.secured:
        item["security"] = [{"bearerAuth": []}]
    return item


def _responses(declared: Operation) -> dict[str, Any]:
    errors = set(declared.errors)
    if declared.secured:
        errors.add(401)
    if declared.body is not None:
        errors.add(413)
    responses: dict[str, Any] = {str(declared.status): {"description": "Success"}}
    for status in sorted(errors):
        responses[str(status)] = {
            "description": ERROR_DESCRIPTIONS[status],
            "content": {
                "application/json": {"schema": {"$ref": REF.format(model="Error")}}
            },
        }
    return responses


def _path_parameters(route: Route) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in route.param_convertors
    ]


def _query_parameters(model: type[BaseModel] | None) -> list[dict[str, Any]]:
    if model is None:
        return []
    properties = model.model_json_schema()["properties"]
    parameters = []
    for name, field in model.model_fields.items():
        schema = dict(properties[name])
        parameter = {"name": name, "in": "query", "required": field.is_required()}
        if "description" in schema:
            parameter["description"] = schema.pop("description")
        schema.pop("title", None)
        parameters.append({**parameter, "schema": schema})
    return parameters


def _reference(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template=REF)
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return {"$ref": REF.format(model=model.__name__)}


_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "examples": ["invalid_input"]},
        "message": {"type": "string"},
        "field": {"type": "string"},
    },
}
