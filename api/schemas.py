"""The request schemas: every body and query the API accepts, declared once.

Handlers validate with these models and ``/openapi.json`` is generated from
them, so the document and the behaviour cannot drift apart. They check shape
and type only; the domain (``TriggerSpec``) enforces the scheduling rules.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)

# One second is the finest interval the scheduler honours; below it a
# timedelta rounds to zero. Five years keeps a thousand upcoming fire times
# of a trigger that starts in year 2999 inside the calendar.
MIN_INTERVAL_MINUTES = 1 / 60
MAX_INTERVAL_MINUTES = 5 * 365 * 24 * 60
MAX_GRACE_SECONDS = 365 * 24 * 3600
MAX_URL_LENGTH = 2048
MAX_CRON_LENGTH = 200
MAX_USERNAME_LENGTH = 150
MAX_PASSWORD_LENGTH = 1024

TRIGGER_ID_MESSAGE = "trigger_id must be a trigger id as given when it was created"
_DECIMAL = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)\s*", re.ASCII)


def number_from_text(value: Any) -> Any:
    """Read a numeric string (what an HTML number input sends) as a number."""
    if not isinstance(value, str):
        return value
    if not _DECIMAL.fullmatch(value):
        raise ValueError("interval must be a number of minutes, such as 30")
    return float(value)


def check_interval_range(value: float) -> float:
    # Zero and negative values are left to the domain, which names the rule.
    if 0 < value < MIN_INTERVAL_MINUTES:
        raise ValueError("interval must be at least one second (1/60 of a minute)")
    if value > MAX_INTERVAL_MINUTES:
        raise ValueError(
            f"interval must be at most {MAX_INTERVAL_MINUTES} minutes (five years)"
        )
    return int(value) if value.is_integer() else value


def blank_as_none(value: Any) -> Any:
    """An empty string stands for "no endpoint", as a blank form field sends it."""
    return None if value == "" else value


def check_http_url(value: str) -> str:
    message = "api_endpoint must be an http or https URL, such as https://example.com/"
    try:
        parts = urlsplit(value)
        _ = parts.port  # reading it checks the port number
    except ValueError:
        raise ValueError(message) from None
    has_space = any(char.isspace() or ord(char) < 32 for char in value)
    if parts.scheme not in ("http", "https") or not parts.hostname or has_space:
        raise ValueError(message)
    return value


def canonical_trigger_id(value: str) -> str:
    """The id in its one canonical spelling; ValueError for anything else."""
    try:
        return str(UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise ValueError(TRIGGER_ID_MESSAGE) from None


TriggerType = Literal["scheduled", "cron", "api", "manual"]
MisfirePolicy = Literal["fire_once", "skip", "fire_all"]
Interval = Annotated[
    float,
    BeforeValidator(number_from_text),
    Field(allow_inf_nan=False),
    AfterValidator(check_interval_range),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0},
                {"type": "string", "pattern": r"^\s*\d+(\.\d*)?\s*$"},
            ],
            "description": "Minutes between firings; a numeric string is read too.",
        }
    ),
]
Instant = Annotated[
    str,
    Field(
        description=(
            "ISO-8601 date and time. Without an offset it is a wall-clock time "
            "in the trigger's timezone; seconds may be left out."
        ),
        examples=["2026-12-05T10:30", "2026-12-05T10:30:00Z"],
    ),
]
HttpUrl = Annotated[
    str, Field(max_length=MAX_URL_LENGTH), AfterValidator(check_http_url)
]
TriggerIdText = Annotated[str, AfterValidator(canonical_trigger_id)]


class TriggerChanges(BaseModel):
    """Fields of a trigger to change. Only the fields sent change.

    An explicit ``null`` clears an optional field or restores a default.
    """

    model_config = ConfigDict(strict=True, extra="forbid")

    trigger_type: TriggerType | None = None
    schedule_time: Instant | None = None
    interval: Interval | None = None
    is_recurring: bool | None = None
    cron: Annotated[str, Field(max_length=MAX_CRON_LENGTH)] | None = None
    timezone: Annotated[str, Field(examples=["Europe/Paris"])] | None = None
    start_at: Instant | None = None
    end_at: Instant | None = None
    max_fires: Annotated[int, Field(ge=1)] | None = None
    misfire_policy: MisfirePolicy | None = None
    misfire_grace_seconds: (
        Annotated[float, Field(ge=0, le=MAX_GRACE_SECONDS, allow_inf_nan=False)] | None
    ) = None
    api_endpoint: Annotated[HttpUrl | None, BeforeValidator(blank_as_none)] = None
    api_payload: Any = None


class TriggerCreate(TriggerChanges):
    """A new trigger. ``trigger_type`` is required; the rest depends on it.

    ``scheduled`` takes ``schedule_time`` and/or ``interval`` (minutes) and
    ``is_recurring``; ``cron`` takes ``cron`` read in ``timezone`` (default
    UTC); ``api`` (also called ``manual``) fires only when called.
    """

    trigger_type: TriggerType


class FireRequest(BaseModel):
    """A payload for this firing only; absent or null sends ``api_payload``."""

    model_config = ConfigDict(strict=True, extra="forbid")

    payload: Any = None


class Credentials(BaseModel):
    """A username and password, to register or to log in."""

    model_config = ConfigDict(strict=True)

    username: Annotated[str, Field(min_length=1, max_length=MAX_USERNAME_LENGTH)]
    password: Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)]


class TriggerPageQuery(BaseModel):
    """A page of the caller's triggers, oldest first."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(100, ge=1, le=500, description="Triggers per page.")
    cursor: str | None = Field(None, description="next_cursor of the page before.")


class EventLogQuery(BaseModel):
    """A page of the caller's event log, newest firing first."""

    model_config = ConfigDict(extra="forbid")

    state: Literal["active", "archived"] | None = Field(
        None, description="active: fired in the last 2 h; archived: up to 48 h."
    )
    trigger_id: TriggerIdText | None = Field(None, description="One trigger only.")
    limit: int = Field(100, ge=1, le=500, description="Entries per page.")
    cursor: str | None = Field(None, description="next_cursor of the page before.")


class UpcomingQuery(BaseModel):
    """How many future fire times to list, and after which instant."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(10, ge=1, le=1000, description="How many fire times.")
    after: Instant | None = Field(None, description="Start here instead of now.")
