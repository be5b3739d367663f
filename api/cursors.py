"""Opaque page cursors: the position after which the next page starts.

A cursor is base64url JSON tagged with the list it belongs to, so a cursor
from one list is refused by another instead of silently misreading it.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from domain.errors import InvalidInputError

TRIGGERS = "triggers"
EVENT_LOGS = "event-logs"


def encode_cursor(kind: str, key: list[Any]) -> str:
    raw = json.dumps([kind, *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_trigger_cursor(cursor: str) -> tuple[str, str]:
    """The (created_at, trigger_id) key a trigger page continues after."""
    key = _decode(cursor, TRIGGERS)
    if len(key) != 2 or not all(_is_storable_text(part) for part in key):
        raise _bad_cursor()
    return key[0], key[1]


def decode_event_log_cursor(cursor: str) -> int:
    """The event-log position a page continues below."""
    key = _decode(cursor, EVENT_LOGS)
    # Positions are SQLite integers: anything outside 64 bits is not one.
    if len(key) != 1 or type(key[0]) is not int or not 0 < key[0] < 2**63:
        raise _bad_cursor()
    return key[0]


def _is_storable_text(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _decode(cursor: str, kind: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        raise _bad_cursor() from None
    if not isinstance(value, list) or not value or value[0] != kind:
        raise _bad_cursor()
    return value[1:]


def _bad_cursor() -> InvalidInputError:
    return InvalidInputError(
        "cursor must be the next_cursor of an earlier page of this list",
        field="cursor",
    )
