"""Builds the Starlette application around one application service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from api import auth, event_logs, health, seed, triggers
from api.access_log import AccessLogMiddleware
from api.auth import LoginLimiter, TokenIssuer
from api.context import ApiContext
from api.errors import EXCEPTION_HANDLERS, InternalErrorMiddleware
from api.limits import BodyLimitMiddleware
from api.openapi import openapi_document
from eventtrigger.service import TriggerService
from eventtrigger.settings import Settings

log = logging.getLogger(__name__)

Lifespan = Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]


class Scheduler(Protocol):
    """The loop that fires due triggers, run alongside the API."""

    async def run(self) -> None:
        """Run until cancelled."""

    def wake(self) -> None:
        """Look at the store again now; safe to call from any thread."""


def create_app(
    service: TriggerService, settings: Settings, scheduler: Scheduler | None = None
) -> Starlette:
    """The HTTP API over ``service``; with ``scheduler``, also runs its loop."""
    context = ApiContext(
        service=service,
        settings=settings,
        tokens=TokenIssuer(
            settings.resolved_jwt_secret(), settings.token_ttl_seconds, service.clock
        ),
        limiter=LoginLimiter(
            settings.login_attempts_per_window,
            settings.login_window_seconds,
            service.clock,
        ),
    )
    app = Starlette(
        routes=[
            *auth.routes,
            *triggers.routes,
            *event_logs.routes,
            *seed.routes,
            *health.routes,
            Route("/openapi.json", openapi_document, methods=["GET"], name="openapi"),
        ],
        middleware=[
            Middleware(AccessLogMiddleware),
            Middleware(InternalErrorMiddleware),
            Middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=_lifespan(service, scheduler),
    )
    app.state.context = context
    return app


def _lifespan(service: TriggerService, scheduler: Scheduler | None) -> Lifespan:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if scheduler is None:
            yield
            return
        wake = scheduler.wake
        service.after_save.append(wake)
        task = asyncio.create_task(scheduler.run(), name="scheduler")
        task.add_done_callback(_report_stop)
        try:
            yield
        finally:
            task.cancel()
            # wait() neither raises the cancellation nor a crash logged earlier.
            await asyncio.wait([task])
            service.after_save.remove(wake)

    return lifespan


def _report_stop(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the scheduler loop stopped", exc_info=task.exception())
