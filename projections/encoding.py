"""How read models write instants and JSON values, the same way every time."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def instant_text(value: datetime | None) -> str | None:
    """UTC with microseconds, so the text sorts as the instants do."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="microseconds")


# One encoder for every call: json.dumps with these arguments builds a new
# one each time, which costs more than encoding a small value.
_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def json_text(value: Any) -> str:
    return _JSON.encode(value)
