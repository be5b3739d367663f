"""Builds the Starlette application around one application service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Protocol

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from api import auth, event_logs, health, seed, signing_secrets, triggers
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
BackgroundJob = Callable[[], Awaitable[None]]


class Scheduler(Protocol):
    """The loop that fires due triggers, run alongside the API."""

    async def run(self) -> None:
        """Run until cancelled."""

    def wake(self) -> None:
        """Look at the store again now; safe to call from any thread."""


def create_app(
    service: TriggerService,
    settings: Settings,
    scheduler: Scheduler | None = None,
    background: Sequence[BackgroundJob] = (),
) -> Starlette:
    """The HTTP API over ``service``; with ``scheduler``, also runs its loop.

    Each of ``background`` (retention, delivery) runs as a task for as long as
    the application does.
    """
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
            *signing_secrets.routes,
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
        lifespan=_lifespan(service, scheduler, background),
    )
    app.state.context = context
    return app


def _lifespan(
    service: TriggerService,
    scheduler: Scheduler | None,
    background: Sequence[BackgroundJob],
) -> Lifespan:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(job(), name=getattr(job, "__qualname__", "job"))
            for job in background
        ]
        wake = scheduler.wake if scheduler is not None else None
        if scheduler is not None and wake is not None:
            service.after_save.append(wake)
            tasks.append(asyncio.create_task(scheduler.run(), name="scheduler"))
        for task in tasks:
            task.add_done_callback(_report_stop)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                # wait() neither raises the cancellation nor a crash logged earlier.
                await asyncio.wait(tasks)
            if wake is not None:
                service.after_save.remove(wake)

    return lifespan


def _report_stop(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error(
            "background task %s stopped", task.get_name(), exc_info=task.exception()
        )
