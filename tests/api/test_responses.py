from __future__ import annotations

import json

from api.responses import JSONResponse


def test_a_response_body_is_compact_utf8_json() -> None:
    body = JSONResponse({"name": "café", "n": [1, 2.5, None, True]}).body

    assert body == '{"name":"café","n":[1,2.5,null,true]}'.encode()


def test_integers_beyond_64_bits_are_written_and_read_exactly() -> None:
    huge = 2**70 + 1
    body = JSONResponse({"n": huge, "m": -huge}).body

    assert body == f'{{"n":{huge},"m":{-huge}}}'.encode()
    assert json.loads(body) == {"n": huge, "m": -huge}
