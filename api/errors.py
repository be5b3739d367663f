"""The one place where exceptions become JSON error answers.

Every error body is ``{"error": code, "message": sentence}`` plus ``field``
when one input is at fault. Domain errors, request-validation errors and the
HTTP layer's own errors are mapped here and nowhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.responses import JSONResponse
from domain.errors import (
    ConflictError,
    EventTriggerError,
    InvalidInputError,
    NotFoundError,
)

log = logging.getLogger(__name__)

CODES = {
    400: "invalid_input",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    429: "too_many_attempts",
    500: "internal",
    503: "unavailable",
}
HTTP_MESSAGES = {
    404: "No resource lives at this path",
    405: "This method is not allowed on this path",
}
INTERNAL_MESSAGE = "Something went wrong on our side; the request was not completed"


class ApiError(Exception):
    """Raised by the HTTP layer for a failure that no domain rule covers.

    A missing or bad token, too many login attempts, a body that is too large
    or is not JSON.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.headers = dict(headers or {})


def unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": "Bearer"})


def error_response(
    status: int,
    message: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"error": CODES.get(status, "error"), "message": message}
    if field is not None:
        body["field"] = field
    return JSONResponse(body, status_code=status, headers=headers)


async def answer_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.field, exc.headers)


async def answer_invalid_input(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidInputError)
    return error_response(400, exc.message, exc.field)


async def answer_not_found(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NotFoundError)
    return error_response(404, exc.message)


async def answer_conflict(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConflictError)
    return error_response(409, exc.message)


async def answer_domain_error(request: Request, exc: Exception) -> Response:
    return error_response(400, str(exc))


async def answer_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    first = exc.errors(include_url=False, include_input=False)[0]
    field = field_of(first)
    return error_response(400, describe_error(first, field), field)


async def answer_client_disconnect(request: Request, exc: Exception) -> Response:
    # Nobody is left to read this answer; it only keeps the log free of a
    # traceback for something that is not a fault of the service.
    return error_response(400, "The client went away before its body arrived")


async def answer_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = HTTP_MESSAGES.get(exc.status_code, exc.detail)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request)
    return error_response(exc.status_code, message, headers=headers)


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this path.

    Starlette names only the first matching route's methods, but a path here
    often has one route per method.
    """
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, Route) and route.matches(request.scope)[0] != Match.NONE:
            methods |= route.methods or set()
    return ", ".join(sorted(methods))


EXCEPTION_HANDLERS = {
    ApiError: answer_api_error,
    InvalidInputError: answer_invalid_input,
    NotFoundError: answer_not_found,
    ConflictError: answer_conflict,
    EventTriggerError: answer_domain_error,
    ValidationError: answer_validation_error,
    HTTPException: answer_http_exception,
    ClientDisconnect: answer_client_disconnect,
}


def field_of(error: ErrorDetails) -> str:
    location = [str(part) for part in error["loc"]]
    return location[0] if location else "body"


def describe_error(error: ErrorDetails, field: str) -> str:
    """A sentence for one pydantic error, naming the field as the client sent it."""
    kind = error["type"]
    context = error.get("ctx") or {}
    if kind == "value_error":
        return str(context.get("error", error["msg"]))
    if kind in _TYPE_WORDS:
        return f"{field} must be {_TYPE_WORDS[kind]}"
    template = _TEMPLATES.get(kind)
    if template is not None:
        values = {key: _plain(value) for key, value in context.items()}
        return template.format(field=field, **values)
    return f"{field}: {error['msg']}"


def _plain(value: Any) -> Any:
    # A bound of a float field is a float; 0.0 reads better as 0.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_TYPE_WORDS = {
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "dict_type": "a JSON object",
    "list_type": "a JSON array",
}
_TEMPLATES = {
    "missing": "{field} is required",
    "extra_forbidden": "Unknown field '{field}'",
    "literal_error": "{field} must be one of {expected}",
    "greater_than": "{field} must be greater than {gt}",
    "greater_than_equal": "{field} must be at least {ge}",
    "less_than": "{field} must be less than {lt}",
    "less_than_equal": "{field} must be at most {le}",
    "string_too_short": "{field} must not be empty",
    "string_too_long": "{field} must be at most {max_length} characters",
}


class InternalErrorMiddleware:
    """Answers 500 without details for any exception nothing else handled.

    The traceback goes to the log, never to the client. Starlette's own server
    error middleware would re-raise for the server to log it a second time.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_noting_start(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_noting_start)
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if started:
                raise
            response = error_response(500, INTERNAL_MESSAGE)
            await response(scope, receive, send)
