"""What every handler needs, held once per application."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request

from eventtrigger.service import TriggerService
from eventtrigger.settings import Settings

if TYPE_CHECKING:
    from api.auth import LoginLimiter, TokenIssuer


@dataclass(frozen=True)
class ApiContext:
    """The application service, the settings and the auth helpers."""

    service: TriggerService
    settings: Settings
    tokens: TokenIssuer
    limiter: LoginLimiter


def context_of(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.context
    return context
