"""The event log: one entry per firing, active for a while, then archived.

An entry is ``active`` while it fired less than ``active_log_seconds`` ago
and ``archived`` until ``archived_log_seconds``; older entries are not listed.
Both are worked out from the service clock at query time, so the boundaries
are exact whenever retention last ran.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from api.auth import current_user
from api.context import context_of
from api.cursors import EVENT_LOGS, decode_event_log_cursor, encode_cursor
from api.openapi import operation
from api.presenters import present_firing
from api.responses import JSONResponse
from api.schemas import EventLogQuery
from eventtrigger.settings import Settings
from projections.encoding import instant_text

ACTIVE = "active"
ARCHIVED = "archived"


def state_of(row: Any, now: datetime, settings: Settings) -> str:
    fired_at = datetime.fromisoformat(row["fired_at"])
    if fired_at > now - timedelta(seconds=settings.active_log_seconds):
        return ACTIVE
    return ARCHIVED


def fired_window(
    state: str | None, now: datetime, settings: Settings
) -> tuple[str, str | None]:
    """The (fired after, fired at or before) bounds that select ``state``."""
    active_since = now - timedelta(seconds=settings.active_log_seconds)
    kept_since = now - timedelta(seconds=settings.archived_log_seconds)
    if state == ACTIVE:
        return _text(active_since), None
    if state == ARCHIVED:
        return _text(kept_since), _text(active_since)
    return _text(kept_since), None


def _text(instant: datetime) -> str:
    text = instant_text(instant)
    assert text is not None
    return text


@operation(
    "List the caller's event log, newest first",
    tag="event-logs",
    query=EventLogQuery,
)
async def list_event_logs(request: Request) -> JSONResponse:
    user_id = await current_user(request)
    query = EventLogQuery.model_validate(dict(request.query_params))
    before = decode_event_log_cursor(query.cursor) if query.cursor else None
    context = context_of(request)
    now = context.service.clock()
    fired_after, fired_at_or_before = fired_window(query.state, now, context.settings)
    rows = await run_in_threadpool(
        context.service.list_firings,
        user_id,
        trigger_id=query.trigger_id,
        fired_after=fired_after,
        fired_at_or_before=fired_at_or_before,
        before_position=before,
        limit=query.limit + 1,
    )
    page = rows[: query.limit]
    next_cursor = None
    if len(rows) > query.limit:
        next_cursor = encode_cursor(EVENT_LOGS, [page[-1]["position"]])
    deliveries = await run_in_threadpool(
        context.service.delivery_states, [row["firing_id"] for row in page]
    )
    items = [
        present_firing(
            row,
            state_of(row, now, context.settings),
            deliveries.get(row["firing_id"]),
        )
        for row in page
    ]
    return JSONResponse({"items": items, "next_cursor": next_cursor})


routes = [
    Route("/api/v1/event-logs", list_event_logs, methods=["GET"], name="event_logs"),
]
