"""Trigger routes under /api/v1, and the handlers the seed paths share.

Each ``*_for`` coroutine is one use case: it authenticates, validates,
calls the application service in a worker thread (its calls block) and
returns the JSON to answer with. The endpoints here and in ``api.seed``
only choose the path, status code and envelope.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.auth import current_user
from api.bodies import read_object
from api.context import ApiContext, context_of
from api.cursors import TRIGGERS, decode_trigger_cursor, encode_cursor
from api.event_logs import state_of
from api.openapi import operation
from api.presenters import (
    present_delivery_history,
    present_event,
    present_fire_time,
    present_firing,
    present_new_firing,
    present_trigger,
)
from api.reads import read_views
from api.responses import JSONResponse
from api.schemas import (
    FireRequest,
    TriggerChanges,
    TriggerCreate,
    TriggerPageQuery,
    UpcomingQuery,
    canonical_trigger_id,
)
from api.trigger_input import changes_from, parse_time, spec_from, validated
from domain.errors import InvalidInputError
from domain.timezones import load_zone
from domain.trigger import Firing
from eventtrigger.service import ReadViews, TriggerService, owned_row

V1 = "/api/v1/triggers"
ONE = V1 + "/{trigger_id}"
# How far back among a trigger's newest firings to look for one just made.
RECENT_FIRINGS = 20

Command = Callable[[TriggerService, str, str], Any]


def trigger_id_in(request: Request) -> str:
    try:
        return canonical_trigger_id(request.path_params["trigger_id"])
    except ValueError as error:
        raise InvalidInputError(str(error), field="trigger_id") from None


def spec_zone(row: Any) -> str:
    zone: str = json.loads(row["spec"]).get("timezone") or "UTC"
    return zone


# Use cases shared by both sets of paths -------------------------------------


async def _present_row(
    service: TriggerService, user_id: str, trigger_id: str
) -> dict[str, Any]:
    row = await read_views(service, lambda views: owned_row(views, user_id, trigger_id))
    return present_trigger(row)


async def create_for(request: Request, *, strict: bool) -> dict[str, Any]:
    user_id = await current_user(request)
    sent = validated(TriggerCreate, await read_object(request), strict=strict)
    spec = spec_from(sent)
    service = context_of(request).service
    trigger = await run_in_threadpool(service.create_trigger, user_id, spec)
    return await _present_row(service, user_id, trigger.trigger_id)


async def update_for(request: Request, *, strict: bool) -> dict[str, Any]:
    user_id = await current_user(request)
    trigger_id = trigger_id_in(request)
    sent = validated(TriggerChanges, await read_object(request), strict=strict)
    service = context_of(request).service
    row = await run_in_threadpool(_update, service, user_id, trigger_id, sent)
    return present_trigger(row)


async def delete_for(request: Request) -> None:
    user_id = await current_user(request)
    trigger_id = trigger_id_in(request)
    service = context_of(request).service
    await run_in_threadpool(service.delete_trigger, user_id, trigger_id)


async def fire_for(
    request: Request, *, is_test: bool, read_payload: bool
) -> dict[str, Any]:
    user_id = await current_user(request)
    trigger_id = trigger_id_in(request)
    payload = None
    if read_payload:
        body = await read_object(request, required=False)
        payload = FireRequest.model_validate(body).payload
    context = context_of(request)
    service = context.service
    firing = await run_in_threadpool(
        partial(service.fire_trigger, payload=payload, is_test=is_test),
        user_id,
        trigger_id,
    )
    presented = await read_views(
        service, lambda views: _recorded_firing(context, views, user_id, firing)
    )
    if presented is not None:
        return presented
    # Only a burst of other firings of this trigger in between lands here.
    if payload is None:
        row = await read_views(
            service, lambda views: owned_row(views, user_id, trigger_id)
        )
        payload = json.loads(row["spec"]).get("api_payload")
    return present_new_firing(firing, payload)


async def list_all_for(request: Request) -> list[dict[str, Any]]:
    user_id = await current_user(request)
    service = context_of(request).service
    rows = await read_views(
        service, lambda views: views.trigger_list.page_for_owner(user_id, None, None)
    )
    return [present_trigger(row) for row in rows]


# Blocking service calls, each run in one worker thread ---------------------


def _update(
    service: TriggerService, user_id: str, trigger_id: str, sent: dict[str, Any]
) -> Any:
    # Reading the row first answers 404 for a trigger that is not the caller's
    # before anything about the request itself is judged.
    row = service.trigger_row(user_id, trigger_id)
    changes = changes_from(sent, spec_zone(row))
    if not changes:
        return row
    service.update_trigger(user_id, trigger_id, changes)
    return service.trigger_row(user_id, trigger_id)


def _recorded_firing(
    context: ApiContext, views: ReadViews, user_id: str, firing: Firing
) -> dict[str, Any] | None:
    """The firing as its event-log entry shows it, if it is among the newest."""
    recent = views.event_log.page_for_owner(
        user_id, trigger_id=firing.trigger_id, limit=RECENT_FIRINGS
    )
    for row in recent:
        if row["firing_id"] == firing.firing_id:
            state = state_of(row, context.service.clock(), context.settings)
            delivery = views.deliveries.for_firings([firing.firing_id])
            return present_firing(row, state, delivery.get(firing.firing_id))
    return None


# /api/v1 endpoints -----------------------------------------------------------


@operation("List the caller's triggers", tag="triggers", query=TriggerPageQuery)
async def list_triggers(request: Request) -> JSONResponse:
    user_id = await current_user(request)
    query = TriggerPageQuery.model_validate(dict(request.query_params))
    after = decode_trigger_cursor(query.cursor) if query.cursor else None
    service = context_of(request).service
    rows = await read_views(
        service,
        lambda views: views.trigger_list.page_for_owner(
            user_id, query.limit + 1, after
        ),
    )
    page = rows[: query.limit]
    next_cursor = None
    if len(rows) > query.limit:
        last = page[-1]
        next_cursor = encode_cursor(TRIGGERS, [last["created_at"], last["trigger_id"]])
    items = [present_trigger(row) for row in page]
    return JSONResponse({"items": items, "next_cursor": next_cursor})


@operation("Create a trigger", tag="triggers", status=201, body=TriggerCreate)
async def create_trigger(request: Request) -> JSONResponse:
    trigger = await create_for(request, strict=True)
    location = f"{V1}/{trigger['trigger_id']}"
    return JSONResponse(trigger, status_code=201, headers={"Location": location})


@operation("Read one trigger", tag="triggers", errors=(400, 404))
async def get_trigger(request: Request) -> JSONResponse:
    user_id = await current_user(request)
    trigger_id = trigger_id_in(request)
    service = context_of(request).service
    return JSONResponse(await _present_row(service, user_id, trigger_id))


@operation(
    "Change some of a trigger's fields",
    tag="triggers",
    body=TriggerChanges,
    errors=(400, 404),
)
async def change_trigger(request: Request) -> JSONResponse:
    return JSONResponse(await update_for(request, strict=True))


@operation("Delete a trigger", tag="triggers", status=204, errors=(400, 404))
async def delete_trigger(request: Request) -> Response:
    await delete_for(request)
    return Response(status_code=204)


@operation(
    "Fire a trigger now",
    tag="triggers",
    status=201,
    body=FireRequest,
    body_required=False,
    errors=(400, 404, 409),
)
async def fire_trigger(request: Request) -> JSONResponse:
    firing = await fire_for(request, is_test=False, read_payload=True)
    return JSONResponse(firing, status_code=201)


@operation(
    "Fire a trigger as a test (not counted, schedule untouched)",
    tag="triggers",
    status=201,
    body=FireRequest,
    body_required=False,
    errors=(400, 404),
)
async def test_trigger(request: Request) -> JSONResponse:
    firing = await fire_for(request, is_test=True, read_payload=True)
    return JSONResponse(firing, status_code=201)


@operation("Pause an active trigger", tag="triggers", errors=(400, 404, 409))
async def pause_trigger(request: Request) -> JSONResponse:
    return await _run_command(request, TriggerService.pause_trigger)


@operation("Resume a paused trigger", tag="triggers", errors=(400, 404, 409))
async def resume_trigger(request: Request) -> JSONResponse:
    return await _run_command(request, TriggerService.resume_trigger)


async def _run_command(request: Request, command: Command) -> JSONResponse:
    user_id = await current_user(request)
    trigger_id = trigger_id_in(request)
    service = context_of(request).service
    await run_in_threadpool(command, service, user_id, trigger_id)
    return JSONResponse(await _present_row(service, user_id, trigger_id))


@operation("A trigger's domain events, oldest first", tag="triggers", errors=(400, 404))
async def trigger_history(request: Request) -> JSONResponse:
    user_id = await current_user(request)
    trigger_id = trigger_id_in(request)
    service = context_of(request).service
    events = await run_in_threadpool(service.history, user_id, trigger_id)
    deliveries = await run_in_threadpool(service.delivery_history, user_id, trigger_id)
    return JSONResponse(
        {
            "trigger_id": trigger_id,
            "events": [present_event(e) for e in events],
            "archived": present_archived(trigger_id, events),
            "deliveries": [present_delivery_history(*d) for d in deliveries],
        }
    )


def present_archived(trigger_id: str, events: list[Any]) -> dict[str, Any] | None:
    """Which versions compaction moved to archive files, and how to read them."""
    present = [e.originator_version for e in events]
    missing = sorted(set(range(1, present[-1] + 1)) - set(present)) if present else []
    if not missing:
        return None
    ranges: list[list[int]] = []
    for version in missing:
        if ranges and ranges[-1][1] == version - 1:
            ranges[-1][1] = version
        else:
            ranges.append([version, version])
    return {
        "event_count": len(missing),
        "versions": ranges,
        "message": (
            "These events were moved to archive files; "
            f"run `eventtrigger replay {trigger_id}` to read the whole history"
        ),
    }


@operation(
    "A trigger's next fire times",
    tag="triggers",
    query=UpcomingQuery,
    errors=(400, 404),
)
async def upcoming_fire_times(request: Request) -> JSONResponse:
    user_id = await current_user(request)
    trigger_id = trigger_id_in(request)
    query = UpcomingQuery.model_validate(dict(request.query_params))
    service = context_of(request).service
    zone_name, fire_times = await run_in_threadpool(
        _upcoming, service, user_id, trigger_id, query
    )
    zone = load_zone(zone_name)
    return JSONResponse(
        {
            "trigger_id": trigger_id,
            "timezone": zone_name,
            "fire_times": [present_fire_time(t, zone) for t in fire_times],
        }
    )


def _upcoming(
    service: TriggerService, user_id: str, trigger_id: str, query: UpcomingQuery
) -> tuple[str, list[Any]]:
    row = service.trigger_row(user_id, trigger_id)
    after = None
    if query.after is not None:
        after = parse_time(query.after, spec_zone(row), "after")
    trigger, fire_times = service.upcoming(user_id, trigger_id, after, query.count)
    return trigger.spec.timezone, fire_times


routes = [
    Route(V1, list_triggers, methods=["GET"], name="list_triggers"),
    Route(V1, create_trigger, methods=["POST"], name="create_trigger"),
    Route(ONE, get_trigger, methods=["GET"], name="get_trigger"),
    Route(ONE, change_trigger, methods=["PATCH"], name="change_trigger"),
    Route(ONE, delete_trigger, methods=["DELETE"], name="delete_trigger"),
    Route(ONE + "/fire", fire_trigger, methods=["POST"], name="fire_trigger"),
    Route(ONE + "/test", test_trigger, methods=["POST"], name="test_trigger"),
    Route(ONE + "/pause", pause_trigger, methods=["POST"], name="pause_trigger"),
    Route(ONE + "/resume", resume_trigger, methods=["POST"], name="resume_trigger"),
    Route(ONE + "/history", trigger_history, methods=["GET"], name="trigger_history"),
    Route(ONE + "/upcoming", upcoming_fire_times, methods=["GET"], name="upcoming"),
]
