"""Reading JSON request bodies strictly enough that no input can slip past.

``json.loads`` alone would accept NaN and Infinity (which cannot be written
back as JSON), turn huge exponents into infinity, pass on lone surrogates
(which cannot be stored as UTF-8) and nest as deep as the parser's stack
allows (deeper than the event store's encoder can follow); each of these is
refused here with a 400.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request

from domain.errors import InvalidInputError

BODY = "body"
MAX_DEPTH = 64


async def read_object(request: Request, *, required: bool = True) -> dict[str, Any]:
    """The body as a JSON object; an absent body is ``{}`` unless required."""
    raw = await request.body()
    if not raw.strip() and not required:
        return {}
    value = parse_json(raw)
    if not isinstance(value, dict):
        raise InvalidInputError("The request body must be a JSON object", field=BODY)
    return value


def parse_json(raw: bytes) -> Any:
    try:
        value = json.loads(
            raw, parse_constant=_refuse_constant, parse_float=_finite_float
        )
        # Encoding again finds lone surrogates, which UTF-8 cannot hold.
        json.dumps(value, ensure_ascii=False).encode()
    except (ValueError, RecursionError):
        raise InvalidInputError(
            "The request body must be valid JSON", field=BODY
        ) from None
    if depth_of(value) > MAX_DEPTH:
        raise InvalidInputError(
            f"The request body must not nest deeper than {MAX_DEPTH} levels",
            field=BODY,
        )
    return value


def depth_of(value: Any) -> int:
    """How deeply arrays and objects nest in ``value``; walked without recursion."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth)
            pending.extend((child, depth + 1) for child in item)
    return deepest


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value
