"""A trigger's webhook signing secret: read it, rotate it. Owner only.

The secret appears in these two answers and nowhere else: not in trigger
lists, not in the history, not in logs. Answers are marked ``no-store`` so
no cache keeps a copy.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from api.auth import current_user
from api.context import context_of
from api.openapi import operation
from api.responses import JSONResponse
from api.triggers import ONE, trigger_id_in
from domain.timezones import format_instant
from eventtrigger.service import TriggerService
from eventtrigger.signing import SigningSecret

PATH = ONE + "/signing-secret"


def present_secret(secret: SigningSecret) -> dict[str, object]:
    until = secret.previous_secret_valid_until
    return {
        "secret": secret.secret,
        "generation": secret.generation,
        "previous_secret_valid_until": format_instant(until) if until else None,
    }


def secret_response(secret: SigningSecret) -> JSONResponse:
    return JSONResponse(present_secret(secret), headers={"Cache-Control": "no-store"})


@operation(
    "Read the secret that signs this trigger's webhooks",
    tag="triggers",
    errors=(400, 404),
)
async def read_signing_secret(request: Request) -> JSONResponse:
    return await _answer_secret(request, TriggerService.signing_secret)


@operation(
    "Rotate the signing secret; the old one also signs for a grace period",
    tag="triggers",
    errors=(400, 404),
)
async def rotate_signing_secret(request: Request) -> JSONResponse:
    return await _answer_secret(request, TriggerService.rotate_signing_secret)


async def _answer_secret(
    request: Request, command: Callable[[TriggerService, str, str], SigningSecret]
) -> JSONResponse:
    user_id = await current_user(request)
    trigger_id = trigger_id_in(request)
    service = context_of(request).service
    secret = await run_in_threadpool(command, service, user_id, trigger_id)
    return secret_response(secret)


routes = [
    Route(PATH, read_signing_secret, methods=["GET"], name="read_signing_secret"),
    Route(
        PATH + "/rotate",
        rotate_signing_secret,
        methods=["POST"],
        name="rotate_signing_secret",
    ),
]
