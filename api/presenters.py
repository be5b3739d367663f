"""Rows and domain objects as the JSON the API answers with.

Every instant leaves as ISO-8601 UTC with a ``+00:00`` offset.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from domain.cron import FireTime
from domain.timezones import format_instant
from domain.trigger import Firing

# The old service's word for a recorded firing; clients compare against it.
FIRING_STATUS = "triggered"
# Envelope fields every stored event has; history shows them as type/version/at.
_EVENT_ENVELOPE = (
    "originator_id",
    "originator_version",
    "timestamp",
    "originator_topic",
)


_UTC_SUFFIX = "+00:00"
_NO_MICROSECONDS = ".000000"


def instant(text: str | None) -> str | None:
    """A stored instant as the API writes instants.

    Stored instants are already UTC ISO-8601 text; a page of triggers holds
    hundreds, so the common layouts are answered without parsing them.
    """
    if text is None:
        return None
    if text.endswith(_UTC_SUFFIX):
        if len(text) == 25:
            return text
        if len(text) == 32:
            if text[19:26] == _NO_MICROSECONDS:
                return text[:19] + _UTC_SUFFIX
            return text
    return format_instant(datetime.fromisoformat(text))


def present_trigger(row: Any) -> dict[str, Any]:
    """A trigger-list row, with the seed's fields first."""
    spec = json.loads(row["spec"])
    return {
        "trigger_id": row["trigger_id"],
        "user_id": row["owner_id"],
        "trigger_type": spec["trigger_type"],
        "schedule_time": instant(spec.get("schedule_time")),
        "interval": spec.get("interval"),
        "is_recurring": spec.get("is_recurring", False),
        "api_endpoint": spec.get("api_endpoint"),
        "api_payload": spec.get("api_payload"),
        "created_at": instant(row["created_at"]),
        "updated_at": instant(row["updated_at"]),
        "status": row["status"],
        "cron": spec.get("cron"),
        "timezone": spec.get("timezone", "UTC"),
        "start_at": instant(spec.get("start_at")),
        "end_at": instant(spec.get("end_at")),
        "max_fires": spec.get("max_fires"),
        "misfire_policy": spec.get("misfire_policy"),
        "misfire_grace_seconds": spec.get("misfire_grace_seconds"),
        "next_fire_at": instant(row["next_fire_at"]),
        "last_fired_at": instant(row["last_fired_at"]),
        "fire_count": row["fire_count"],
        "version": row["version"],
    }


def present_firing(row: Any, state: str, delivery: Any = None) -> dict[str, Any]:
    """An event-log row; ``state`` is worked out from the clock by the caller.

    ``delivery`` is the firing's outbox row; a firing without an endpoint has
    none, and its entry says ``"delivery": null``.
    """
    return {
        "firing_id": row["firing_id"],
        "trigger_id": row["trigger_id"],
        "reason": row["reason"],
        "is_test": bool(row["is_test"]),
        "due_at": instant(row["due_at"]),
        "fired_at": instant(row["fired_at"]),
        "lateness_ms": lateness_ms(row["due_at"], row["fired_at"]),
        "covered_count": row["covered_count"],
        "misfired": bool(row["misfired"]),
        "api_payload": json.loads(row["payload"]),
        "status": FIRING_STATUS,
        "state": state,
        "delivery": present_delivery(delivery) if delivery is not None else None,
    }


def present_delivery(row: Any) -> dict[str, Any]:
    """How a firing's delivery stands: pending, delivered or failed."""
    return {
        "status": row["status"],
        "attempts": row["attempts"],
        "last_status_code": row["last_status_code"],
        "last_error": row["last_error"],
        "last_attempt_at": instant(row["last_attempt_at"]),
        "next_attempt_at": instant(row["next_attempt_at"]),
    }


def present_delivery_history(row: Any, events: list[Any]) -> dict[str, Any]:
    """One firing's delivery: where it went, how it stands, every attempt."""
    return {
        "firing_id": row["firing_id"],
        "endpoint": row["endpoint"],
        **present_delivery(row),
        "events": [present_event(e) for e in events],
    }


def present_new_firing(firing: Firing, payload: Any) -> dict[str, Any]:
    """A firing just recorded, for when its event-log row cannot be read back."""
    due_at = firing.due_at.isoformat() if firing.due_at else None
    return {
        "firing_id": firing.firing_id,
        "trigger_id": firing.trigger_id,
        "reason": firing.reason,
        "is_test": firing.is_test,
        "due_at": instant(due_at),
        "fired_at": format_instant(firing.fired_at),
        "lateness_ms": lateness_ms(due_at, firing.fired_at.isoformat()),
        "covered_count": 1,
        "misfired": False,
        "api_payload": payload,
        "status": FIRING_STATUS,
        "state": "active",
        "delivery": _new_delivery(firing),
    }


def _new_delivery(firing: Firing) -> dict[str, Any] | None:
    if firing.endpoint is None:
        return None
    return {
        "status": "pending",
        "attempts": 0,
        "last_status_code": None,
        "last_error": None,
        "last_attempt_at": None,
        "next_attempt_at": format_instant(firing.fired_at),
    }


def lateness_ms(due_at: str | None, fired_at: str) -> float | None:
    if due_at is None:
        return None
    late = datetime.fromisoformat(fired_at) - datetime.fromisoformat(due_at)
    return round(late.total_seconds() * 1000, 3)


def present_fire_time(fire_time: FireTime, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "at": format_instant(fire_time.at),
        "local": fire_time.at.astimezone(zone).isoformat(),
        "dst_shifted": fire_time.shifted,
    }


def present_event(event: Any) -> dict[str, Any]:
    """A domain event: its class name, version and instant, then its own fields."""
    body: dict[str, Any] = {
        "type": type(event).__name__,
        "version": event.originator_version,
        "at": format_instant(event.timestamp),
    }
    for name, value in vars(event).items():
        if name not in _EVENT_ENVELOPE:
            body[name] = json_value(value)
    return body


def json_value(value: Any) -> Any:
    """A value from an event as plain JSON."""
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    return value
