"""The old service's paths, kept for its web client, scripts and collection.

They run the same use cases as /api/v1 and keep the old envelopes: a
``message`` with the old wording, plus the trigger or firing it concerns.
Unknown fields in a body are ignored here, as the old service ignored them.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from api.openapi import operation
from api.responses import JSONResponse
from api.schemas import TriggerChanges, TriggerCreate
from api.triggers import create_for, delete_for, fire_for, list_all_for, update_for

TAG = "seed"


@operation("Create a trigger (seed path)", tag=TAG, status=201, body=TriggerCreate)
async def seed_create(request: Request) -> JSONResponse:
    trigger = await create_for(request, strict=False)
    body = {
        "message": "Trigger created successfully",
        "trigger_id": trigger["trigger_id"],
        "trigger": trigger,
    }
    return JSONResponse(body, status_code=201)


@operation("List every trigger of the caller (seed path)", tag=TAG, errors=())
async def seed_list(request: Request) -> JSONResponse:
    return JSONResponse(await list_all_for(request))


@operation("Fire a trigger now (seed path)", tag=TAG, errors=(400, 404, 409))
async def seed_fire(request: Request) -> JSONResponse:
    firing = await fire_for(request, is_test=False, read_payload=False)
    return JSONResponse({"message": "Event triggered successfully!", "firing": firing})


@operation("Fire a trigger as a test (seed path)", tag=TAG, errors=(400, 404))
async def seed_test(request: Request) -> JSONResponse:
    firing = await fire_for(request, is_test=True, read_payload=False)
    return JSONResponse(
        {"message": "Test event triggered successfully!", "firing": firing}
    )


@operation(
    "Change a trigger (seed path)", tag=TAG, body=TriggerChanges, errors=(400, 404)
)
async def seed_update(request: Request) -> JSONResponse:
    trigger = await update_for(request, strict=False)
    return JSONResponse(
        {"message": "Trigger updated successfully!", "trigger": trigger}
    )


@operation("Delete a trigger (seed path)", tag=TAG, errors=(400, 404))
async def seed_delete(request: Request) -> JSONResponse:
    await delete_for(request)
    return JSONResponse({"message": "Trigger deleted successfully!"})


def _route(path: str, endpoint: object, method: str, name: str) -> Route:
    return Route("/trigger" + path, endpoint, methods=[method], name=name)


# The old README names the underscore forms, the old code routed the dashed
# ones; clients use both.
routes = [
    _route("/create-trigger", seed_create, "POST", "seed_create"),
    _route("/list-triggers", seed_list, "GET", "seed_list"),
    _route("/trigger_event/{trigger_id}", seed_fire, "POST", "seed_fire"),
    _route("/test_trigger/{trigger_id}", seed_test, "POST", "seed_test"),
    _route("/update-trigger/{trigger_id}", seed_update, "PUT", "seed_update"),
    _route("/update_trigger/{trigger_id}", seed_update, "PUT", "seed_update_alias"),
    _route("/delete-trigger/{trigger_id}", seed_delete, "DELETE", "seed_delete"),
    _route("/delete_trigger/{trigger_id}", seed_delete, "DELETE", "seed_delete_alias"),
]
