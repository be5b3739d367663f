from __future__ import annotations

import json
import logging

from eventtrigger.logs import JsonFormatter, TextFormatter


def record(message: str, **extra: object) -> logging.LogRecord:
    entry = logging.makeLogRecord(
        {"name": "eventtrigger.access", "levelname": "INFO", "msg": message}
    )
    entry.__dict__.update(extra)
    return entry


def test_text_lines_escape_control_characters_from_requests() -> None:
    line = TextFormatter().format(
        record("GET %s", path="/x\n2026-12-04 ERROR forged\x00", status=404)
    )

    assert "\n" not in line and "\x00" not in line
    assert line.endswith("path=/x\\x0a2026-12-04 ERROR forged\\x00 status=404")


def test_uvicorn_colour_copies_are_left_out() -> None:
    line = TextFormatter().format(record("started", color_message="\x1b[32mstarted"))

    assert "color_message" not in line


def test_json_lines_carry_extra_fields() -> None:
    line = JsonFormatter().format(record("trigger fired", trigger_id="t1"))

    entry = json.loads(line)
    assert (entry["message"], entry["trigger_id"], entry["level"]) == (
        "trigger fired",
        "t1",
        "INFO",
    )
