"""Events as the read models take them in bulk.

Firings are nearly every stored event, and the read models need only some
of their fields, as text. A firing is therefore read straight from its
stored JSON into a ``FiredRecord``; every other event, and any firing whose
JSON does not have the plain form checked for below, goes through the
application's mapper as before. The columns come out the same either way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from json.scanner import make_scanner
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Notification
from eventsourcing.utils import get_topic

from domain.trigger import Trigger
from projections.encoding import instant_text

FIRED_TOPIC = get_topic(Trigger.Fired)
# What instant_text makes of ISO text of this exact shape (as isoformat
# writes a UTC datetime with microseconds) is the text itself, so such text
# needs no trip through a datetime.
_UTC_MICROS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", re.ASCII)
_TYPE_KEY = b'"_type_"'
# json.loads without its wrapper: the same C scanner and settings.
_scan = make_scanner(json.JSONDecoder())
_ISO_NAME = "datetime_iso"

# (notification id, originator id as stored, version, topic, state)
StoredRow = tuple[int, Any, int, str, bytes]


class FiredRecord(NamedTuple):
    """The fields of one ``Trigger.Fired`` event that read models write,
    with instants already as ``instant_text`` makes them."""

    originator_id: str
    originator_version: int
    timestamp: str
    firing_id: str
    reason: str
    due_at: str | None
    is_test: bool
    payload: Any
    covered_count: int
    misfired: bool
    next_due_at: str | None
    endpoint: str | None
    # The domain event, or the stored row it can be decoded from.
    source: Any

    event_class = Trigger.Fired


def fired_record(event: Any) -> FiredRecord:
    """The record of a ``Trigger.Fired`` domain event."""
    return FiredRecord(
        str(event.originator_id),
        event.originator_version,
        instant_text(event.timestamp),
        event.firing_id,
        event.reason,
        instant_text(event.due_at),
        event.is_test,
        event.payload,
        event.covered_count,
        event.misfired,
        instant_text(event.next_due_at),
        event.endpoint,
        event,
    )


def as_item(event: Any) -> Any:
    """What batches carry for a domain event: a record for a firing."""
    return fired_record(event) if type(event) is Trigger.Fired else event


def event_class_of(item: Any) -> type:
    return item.event_class if type(item) is FiredRecord else type(item)


class StoredDecoder:
    """Turns stored rows into records (firings) or domain events (the rest)."""

    def __init__(self, mapper: Any) -> None:
        self.mapper = mapper
        transcoder = getattr(mapper, "transcoder", None)
        # The shortcut reads JSON as the plain JSONTranscoder writes it; with
        # a cipher, compression, another datetime form or an upcast in play,
        # every event goes through the mapper.
        self.direct = (
            type(transcoder) is JSONTranscoder
            and isinstance(transcoder.names.get(_ISO_NAME), DatetimeAsISO)
            and getattr(mapper, "cipher", None) is None
            and getattr(mapper, "compressor", None) is None
            and getattr(Trigger.Fired, "class_version", 1) == 1
        )

    def decode(self, rows: Iterable[StoredRow]) -> list[tuple[int, Any]]:
        """(notification id, record or domain event) for each row, in order."""
        ids: dict[Any, str] = {}
        instants: dict[str, str] = {}
        decoded: list[tuple[int, Any]] = []
        direct = self.direct
        for row in rows:
            item = None
            if direct and row[3] == FIRED_TOPIC:
                item = self._fired(row, ids, instants)
            if item is None:
                item = self.to_domain_event(row)
            decoded.append((row[0], item))
        return decoded

    def to_domain_event(self, row: StoredRow) -> Any:
        originator_id = row[1]
        if not isinstance(originator_id, UUID):
            originator_id = UUID(originator_id)
        return self.mapper.to_domain_event(
            Notification(
                id=row[0],
                originator_id=originator_id,
                originator_version=row[2],
                topic=row[3],
                state=row[4],
            )
        )

    def event_of(self, item: Any) -> Any:
        """The domain event behind an item ``decode`` returned."""
        if type(item) is not FiredRecord:
            return item
        if isinstance(item.source, Trigger.Fired):
            return item.source
        return self.to_domain_event(item.source)

    def _fired(
        self, row: StoredRow, ids: dict[Any, str], instants: dict[str, str]
    ) -> FiredRecord | None:
        state = row[4]
        try:
            text = state.decode("utf8")
            fields, end = _scan(text, 0)
            if end != len(text) or "class_version" in fields:
                return None
            timestamp = _iso(fields["timestamp"], instants)
            due_at = fields["due_at"]
            first_due_at = fields["covered_first_due_at"]
            next_due_at = fields["next_due_at"]
            transcoded = 1
            if due_at is not None:
                due_at = _iso(due_at, instants)
                transcoded += 1
            if first_due_at is not None:
                _iso(first_due_at, instants)
                transcoded += 1
            if next_due_at is not None:
                next_due_at = _iso(next_due_at, instants)
                transcoded += 1
            # Any other "_type_" key would be a value the transcoder turns
            # into an object (or a payload that only looks like one): let
            # the mapper decide what it is.
            if state.count(_TYPE_KEY) != transcoded:
                return None
            originator_id = ids.get(row[1])
            if originator_id is None:
                uuid = row[1] if isinstance(row[1], UUID) else UUID(row[1])
                originator_id = ids[row[1]] = str(uuid)
            return FiredRecord(
                originator_id,
                row[2],
                timestamp,
                fields["firing_id"],
                fields["reason"],
                due_at,
                fields["is_test"],
                fields["payload"],
                fields["covered_count"],
                fields["misfired"],
                next_due_at,
                fields["endpoint"],
                row,
            )
        except (KeyError, TypeError, ValueError, AttributeError, StopIteration):
            return None


def _iso(value: Any, known: dict[str, str]) -> str:
    """The instant text of a value as DatetimeAsISO stores it, or an error."""
    if len(value) != 2 or value["_type_"] != _ISO_NAME:
        raise ValueError("not a stored datetime")
    text = value["_data_"]
    found = known.get(text)
    if found is None:
        if type(text) is not str:
            raise ValueError("not a stored datetime")
        if _UTC_MICROS.fullmatch(text):
            found = text
        else:
            found = instant_text(datetime.fromisoformat(text))
            assert found is not None
        known[text] = found
    return found


def stored_row(notification: Any) -> StoredRow:
    """A notification (from the recorder or an archive) as a stored row."""
    return (
        notification.id,
        notification.originator_id,
        notification.originator_version,
        notification.topic,
        notification.state,
    )


def as_rows(notifications: Sequence[Any]) -> Sequence[Any]:
    """Notifications as stored rows; rows (tuples or sqlite3.Row) as they are."""
    return [stored_row(n) if isinstance(n, Notification) else n for n in notifications]
