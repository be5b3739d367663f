"""Reads of the read models from a handler: on the event loop when that
cannot wait, else in a worker thread that first catches the models up."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from eventtrigger.loop_reads import NotNow
from eventtrigger.service import ReadViews, TriggerService

T = TypeVar("T")


async def read_views(service: TriggerService, query: Callable[[ReadViews], T]) -> T:
    try:
        result: T = service.loop_reads.run(query)
    except NotNow:
        return await run_in_threadpool(service.read_current, query)
    return result
