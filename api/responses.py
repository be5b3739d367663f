"""JSON responses encoded with orjson.

A page of a hundred triggers took longer to encode with the standard
library than to read and present; orjson writes the same JSON (compact,
UTF-8, no NaN can reach it: request bodies refuse NaN and Infinity) many
times faster. Values it cannot write, integers beyond 64 bits in a
payload, go through the standard encoder instead. (Reading stays with the
standard library: orjson reads such integers as floats.)
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse as StarletteJSONResponse


class JSONResponse(StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:
            return super().render(content)
