"""What a person asks a trigger to be: its kind, schedule, bounds and target."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from domain.errors import InvalidInputError, InvalidScheduleError
from domain.schedule import API, CRON, SCHEDULED, Schedule, validate_cron
from domain.timezones import load_zone

# The old web client calls an api trigger "manual"; both fire only when called.
TRIGGER_TYPES = (SCHEDULED, CRON, API, "manual")
MISFIRE_POLICIES = ("fire_once", "skip", "fire_all")
DEFAULT_GRACE_SECONDS = 60.0
# Bounds that keep every computed instant inside what datetime can hold.
MAX_INTERVAL_MINUTES = 5 * 366 * 24 * 60
MAX_GRACE_SECONDS = 366 * 24 * 3600
MAX_FIRES = 10**9
EARLIEST_YEAR = 1970
LATEST_YEAR = 2999
MAX_ENDPOINT_LENGTH = 2048
ENDPOINT_MESSAGE = (
    "api_endpoint must be an http or https URL, such as https://example.com/"
)


@dataclass(frozen=True)
class TriggerSpec:
    """The settings of a trigger, already typed; rules are checked by ``check``.

    ``schedule_time`` is an aware UTC instant. ``interval`` is in minutes.
    """

    trigger_type: str
    schedule_time: datetime | None = None
    interval: float | None = None
    is_recurring: bool = False
    cron: str | None = None
    timezone: str = "UTC"
    start_at: datetime | None = None
    end_at: datetime | None = None
    max_fires: int | None = None
    misfire_policy: str = "fire_once"
    misfire_grace_seconds: float = DEFAULT_GRACE_SECONDS
    api_endpoint: str | None = None
    api_payload: Any = None

    @property
    def kind(self) -> str:
        return API if self.trigger_type == "manual" else self.trigger_type

    def schedule(self, created_at: datetime) -> Schedule:
        """The schedule this spec describes for a trigger created then."""
        if self.kind == CRON:
            return Schedule(
                kind=CRON,
                timezone=self.timezone,
                cron=self.cron,
                start_at=self.start_at,
                end_at=self.end_at,
            )
        if self.kind == SCHEDULED:
            interval = self.interval_delta
            anchor = self.schedule_time
            if anchor is None and interval is not None:
                anchor = created_at + interval
            return Schedule(
                kind=SCHEDULED,
                timezone=self.timezone,
                anchor=anchor,
                interval=interval,
                is_recurring=self.is_recurring,
                start_at=self.start_at,
                end_at=self.end_at,
            )
        return Schedule(kind=API, timezone=self.timezone)

    @property
    def interval_delta(self) -> timedelta | None:
        if self.interval is None:
            return None
        return timedelta(minutes=self.interval)

    def check(self, now: datetime) -> None:
        """Raise for any rule the spec breaks, naming the field at fault."""
        if self.trigger_type not in TRIGGER_TYPES:
            raise InvalidInputError(
                "trigger_type must be one of: " + ", ".join(TRIGGER_TYPES),
                field="trigger_type",
            )
        load_zone(self.timezone)
        self._check_endpoint()
        self._check_numbers()
        self._check_bounds()
        if self.kind == SCHEDULED:
            self._check_scheduled()
        elif self.kind == CRON and not self.cron:
            raise InvalidScheduleError(
                "cron is required for a cron trigger", field="cron"
            )
        if self.cron is not None:
            # Checked on every kind: a bad expression kept on a scheduled
            # trigger would only be refused once someone made it a cron one.
            validate_cron(self.cron, self.timezone, self.start_at or now)

    def with_changes(self, changes: dict[str, Any]) -> TriggerSpec:
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            name = sorted(unknown)[0]
            raise InvalidInputError(f"Unknown field '{name}'", field=name)
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        # Shared, not copied: neither a spec nor a record made from it is
        # ever changed in place, and copying the payload cost more than the
        # rest of creating a trigger.
        return {name: getattr(self, name) for name in _FIELD_NAMES}

    def _check_endpoint(self) -> None:
        if self.api_endpoint is None:
            return
        if not isinstance(self.api_endpoint, str) or not is_http_url(self.api_endpoint):
            raise InvalidInputError(ENDPOINT_MESSAGE, field="api_endpoint")
        if len(self.api_endpoint) > MAX_ENDPOINT_LENGTH:
            raise InvalidInputError(
                f"api_endpoint must be at most {MAX_ENDPOINT_LENGTH} characters",
                field="api_endpoint",
            )

    def _check_numbers(self) -> None:
        if self.interval is not None and not self.interval > 0:
            raise InvalidScheduleError(
                "interval must be a number of minutes greater than 0",
                field="interval",
            )
        if self.interval is not None and self.interval > MAX_INTERVAL_MINUTES:
            raise InvalidScheduleError(
                f"interval must be at most {MAX_INTERVAL_MINUTES} minutes (5 years)",
                field="interval",
            )
        if self.max_fires is not None and not 1 <= self.max_fires <= MAX_FIRES:
            raise InvalidInputError(
                f"max_fires must be from 1 to {MAX_FIRES:,}", field="max_fires"
            )
        if self.misfire_policy not in MISFIRE_POLICIES:
            raise InvalidInputError(
                "misfire_policy must be one of: " + ", ".join(MISFIRE_POLICIES),
                field="misfire_policy",
            )
        if not 0 <= self.misfire_grace_seconds <= MAX_GRACE_SECONDS:
            raise InvalidInputError(
                f"misfire_grace_seconds must be from 0 to {MAX_GRACE_SECONDS}",
                field="misfire_grace_seconds",
            )

    def _check_bounds(self) -> None:
        for name in ("schedule_time", "start_at", "end_at"):
            value = getattr(self, name)
            if value is not None and not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
                raise InvalidInputError(
                    f"{name} must be between the years {EARLIEST_YEAR} "
                    f"and {LATEST_YEAR}",
                    field=name,
                )
        if self.start_at and self.end_at and self.end_at <= self.start_at:
            raise InvalidScheduleError(
                "end_at must be later than start_at", field="end_at"
            )

    def _check_scheduled(self) -> None:
        if self.schedule_time is None and self.interval is None:
            raise InvalidScheduleError(
                "A scheduled trigger needs schedule_time, interval or both",
                field="schedule_time",
            )
        if self.is_recurring and self.interval is None:
            raise InvalidScheduleError(
                "A recurring trigger needs an interval in minutes",
                field="interval",
            )


def is_http_url(text: str) -> bool:
    """An absolute http(s) URL with a host, a valid port and no blanks."""
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in text):
        return False
    try:
        parts = urlsplit(text)
        _ = parts.port  # reading it checks the port number
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def check_not_in_past(spec: TriggerSpec, now: datetime) -> None:
    """Refuse a one-shot whose time has already gone by."""
    if (
        spec.kind == SCHEDULED
        and not spec.is_recurring
        and spec.schedule_time is not None
        and spec.schedule_time <= now
    ):
        raise InvalidScheduleError(
            "schedule_time is in the past; a one-time trigger needs a future time",
            field="schedule_time",
        )


_DATETIME_FIELDS = ("schedule_time", "start_at", "end_at")
_FIELD_NAMES = tuple(f.name for f in fields(TriggerSpec))


def record_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Spec values as plain JSON values, so a stored record reads the same in
    any tool."""
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in changes.items()
    }


def spec_to_record(spec: TriggerSpec) -> dict[str, Any]:
    return record_changes(spec.as_dict())


def spec_values(record: dict[str, Any]) -> dict[str, Any]:
    """The typed values of a stored record (or part of one)."""
    values = dict(record)
    for key in _DATETIME_FIELDS:
        if isinstance(values.get(key), str):
            values[key] = datetime.fromisoformat(values[key])
    return values


def spec_from_record(record: dict[str, Any]) -> TriggerSpec:
    return TriggerSpec(**spec_values(record))
