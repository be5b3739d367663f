"""Services on fresh SQLite files, and triggers stored through them quickly."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from domain.spec import TriggerSpec
from domain.trigger import Trigger
from eventtrigger.logs import configure_logging
from eventtrigger.service import TriggerService
from eventtrigger.settings import Settings

SECRET = "bench-only-secret-0123456789abcdef0123456789abcdef"
SAVE_BATCH = 1000

SpecFor = Callable[[int], TriggerSpec]
OwnerFor = Callable[[int], str]

# Open for the life of the process, as the log handler needs it.
_devnull = open(os.devnull, "w")


def production_logging() -> None:
    """Log as `eventtrigger serve` does (INFO, text lines), into /dev/null.

    The service logs every firing; the benchmark pays for formatting those
    lines as production does, but not for a terminal drawing them.
    """
    configure_logging("INFO", "text")
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(_devnull)


def settings_for(folder: Path) -> Settings:
    return Settings(data_dir=folder, jwt_secret=SECRET)


def open_service(folder: Path) -> TriggerService:
    return TriggerService(settings_for(folder))


def store_triggers(
    service: TriggerService,
    count: int,
    spec_for: SpecFor,
    owner_for: OwnerFor = lambda index: "bench-owner",
) -> list[str]:
    """Create ``count`` triggers through the service, many per save.

    Each batch is one ``service.save`` of freshly created aggregates: the same
    events, projections and commit path as ``create_trigger``, fewer commits.
    """
    ids: list[str] = []
    for start in range(0, count, SAVE_BATCH):
        now = service.clock()
        stop = min(count, start + SAVE_BATCH)
        batch = [
            Trigger.create(owner_for(i), spec_for(i), now) for i in range(start, stop)
        ]
        service.save(*batch)
        ids.extend(t.trigger_id for t in batch)
    return ids


def one_shot(at: datetime) -> TriggerSpec:
    return TriggerSpec(trigger_type="scheduled", schedule_time=at)


def every_minutes(anchor: datetime, minutes: float) -> TriggerSpec:
    return TriggerSpec(
        trigger_type="scheduled",
        schedule_time=anchor,
        interval=minutes,
        is_recurring=True,
    )


def api_trigger() -> TriggerSpec:
    return TriggerSpec(trigger_type="api", api_payload={"bench": True})
