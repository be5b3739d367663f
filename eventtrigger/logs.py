"""Log set-up: plain lines for people, JSON lines for machines.

Fields passed with ``extra=`` (trigger ids, durations) appear in both forms.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

# Attributes every LogRecord has; anything else on a record came from extra=.
# uvicorn adds a coloured copy of its message, which no log file wants.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "color_message",
}
# Control characters from a request (a path with %0a in it) must not be able
# to start a forged line of their own.
_ESCAPES = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F]}


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


def escape_controls(text: str) -> str:
    return text.translate(_ESCAPES)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802
        line = escape_controls(super().formatMessage(record))
        extras = _extras(record)
        if extras:
            line += " " + " ".join(
                f"{k}={escape_controls(str(v))}" for k, v in extras.items()
            )
        return line


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
