"""From validated request fields to what the domain takes.

Times are read here, in the trigger's time zone: a new trigger's given
``timezone``, or for a change the zone it is being given or already has.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from domain.errors import InvalidInputError
from domain.spec import TriggerSpec
from domain.timezones import load_zone, parse_instant

TIME_FIELDS = ("schedule_time", "start_at", "end_at")
DEFAULT_ZONE = "UTC"

# Schedules are computed many fire times ahead; keeping given instants in
# these years keeps that arithmetic inside the calendar (years 1 to 9999).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)

_DEFAULTS = {f.name: f.default for f in fields(TriggerSpec) if f.default is not MISSING}


def validated(
    model: type[BaseModel], body: dict[str, Any], *, strict: bool
) -> dict[str, Any]:
    """The fields the client sent, checked against ``model``.

    Not ``strict`` (the seed paths): fields the model does not know are
    ignored, as the old service ignored them.
    """
    if not strict:
        body = {key: value for key, value in body.items() if key in model.model_fields}
    return model.model_validate(body).model_dump(exclude_unset=True)


def spec_from(sent: dict[str, Any]) -> TriggerSpec:
    """A new trigger's spec; fields sent as null take their defaults."""
    return TriggerSpec(**changes_from(sent, DEFAULT_ZONE))


def changes_from(sent: dict[str, Any], current_zone: str) -> dict[str, Any]:
    """Changes for ``Trigger.update``; times are read in the resulting zone."""
    zone_name = current_zone
    if "timezone" in sent:
        zone_name = sent["timezone"] or DEFAULT_ZONE
    # An unknown zone is reported as such, not as a time it failed to read.
    load_zone(zone_name)
    changes = {}
    for name, value in sent.items():
        if value is None:
            changes[name] = _cleared(name)
        elif name in TIME_FIELDS:
            changes[name] = parse_time(value, zone_name, name)
        else:
            changes[name] = value
    return changes


def parse_time(text: str, zone_name: str, field: str) -> datetime:
    """An instant from the client, read in ``zone_name`` when it has no offset."""
    instant = parse_instant(text, load_zone(zone_name), field)
    if not EARLIEST <= instant < LATEST:
        raise InvalidInputError(
            f"{field} must be between the years 1970 and 2999", field=field
        )
    return instant


def _cleared(name: str) -> Any:
    if name == "trigger_type":
        raise InvalidInputError("trigger_type cannot be cleared", field=name)
    return _DEFAULTS.get(name)
