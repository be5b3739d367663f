"""Liveness and readiness probes."""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from api.context import context_of
from api.openapi import operation
from api.responses import JSONResponse

log = logging.getLogger(__name__)


@operation("The process answers", tag="meta", secured=False, errors=())
async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


@operation("The event store answers", tag="meta", secured=False, errors=())
async def readyz(request: Request) -> JSONResponse:
    projections = context_of(request).service.projections
    try:
        lag = await run_in_threadpool(projections.lag)
    except Exception:
        # Whatever the store raised, the answer is the same: not ready yet.
        log.warning("readiness check failed", exc_info=True)
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok", "projection_lag": lag})


routes = [
    Route("/healthz", healthz, methods=["GET"], name="healthz"),
    Route("/readyz", readyz, methods=["GET"], name="readyz"),
]
