"""Projections applied in batches leave exactly the rows that applying each
event on its own leaves: from stored rows, from domain events as the live
path hands them over, and with archived history."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.delivery import AttemptResult
from domain.spec import TriggerSpec
from domain.trigger import Trigger
from eventtrigger.history import all_rows
from eventtrigger.rebuild import ProjectionRebuilder
from eventtrigger.service import TriggerService
from eventtrigger.settings import Settings
from projections.deliveries import DeliveriesProjection
from projections.event_log import EventLogProjection
from projections.records import FiredRecord, StoredDecoder, as_item, fired_record
from projections.runner import ProjectionRunner
from projections.trigger_list import TriggerListProjection
from retention import ArchiveStore, Compactor, horizon_for
from tests.conftest import TEST_SECRET, FakeClock
from tests.test_replay_and_rebuild import random_commands

KINDS = (TriggerListProjection, EventLogProjection, DeliveriesProjection)
HOOK = "http://127.0.0.1:9/hook"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path, jwt_secret=TEST_SECRET, allow_private_targets=True
    )


def fresh(service: TriggerService, kind: type, suffix: str) -> Any:
    projection = kind(table=f"{kind().table}_{suffix}")
    projection.name = f"{projection.name}_{suffix}"
    return projection


def rows_of(service: TriggerService, projection: Any) -> dict[str, list[tuple]]:
    """Every row of the projection's tables, under the live tables' names."""
    names = type(projection)().tables
    return {
        name: [
            tuple(row)
            for row in service.projections.database.fetch_all(
                f"SELECT * FROM {table} ORDER BY 1"
            )
        ]
        for name, table in zip(names, projection.tables, strict=True)
    }


def decoded(service: TriggerService) -> list[tuple[int, Any]]:
    """Every stored event as the mapper decodes it, with its id."""
    return [
        (n.id, service.mapper.to_domain_event(n))
        for n in service.recorder.select_notifications(1, 1_000_000)
    ]


def one_by_one(
    service: TriggerService, kind: type, events: list[tuple[int, Any]]
) -> dict[str, list[tuple]]:
    """The reference: each event applied on its own."""
    projection = fresh(service, kind, "each")
    with service.projections.database.transaction(commit=True) as cursor:
        for statement in projection.create_statements():
            cursor.execute(statement)
        for notification_id, event in events:
            if isinstance(event, projection.topics_of):
                projection.apply(cursor, event, notification_id)
    return rows_of(service, projection)


def in_batches_of_events(
    service: TriggerService, kind: type, events: list[tuple[int, Any]], size: int
) -> dict[str, list[tuple]]:
    """Domain events handed to apply_batch, as the recording path does."""
    projection = fresh(service, kind, f"events_{size}")
    wanted = [
        (notification_id, as_item(event))
        for notification_id, event in events
        if isinstance(event, projection.topics_of)
    ]
    with service.projections.database.transaction(commit=True) as cursor:
        for statement in projection.create_statements():
            cursor.execute(statement)
        for start in range(0, len(wanted), size):
            projection.apply_batch(cursor, wanted[start : start + size])
    return rows_of(service, projection)


def caught_up_in_batches(
    service: TriggerService, kind: type, size: int
) -> dict[str, list[tuple]]:
    """Stored rows decoded straight from their JSON, through the runner."""
    projection = fresh(service, kind, f"rows_{size}")
    runner = ProjectionRunner(
        service.projections.database,
        service.recorder,
        service.mapper,
        [projection],
        batch_size=size,
    )
    runner.create_tables()
    runner.catch_up()
    return rows_of(service, projection)


def hand_made_history(service: TriggerService, clock: FakeClock) -> dict[str, str]:
    """Every kind of event, some firings with an endpoint and attempts."""
    hooked = service.create_trigger(
        "u1",
        TriggerSpec(
            trigger_type="api", api_endpoint=HOOK, api_payload={"b": 1, "a": "é"}
        ),
    ).trigger_id
    clock.advance(seconds=1.5)
    # Looks like a transcoded value to the decoder: the mapper must read it.
    first = service.fire_trigger(
        "u1", hooked, payload={"_type_": "note", "n": 1}
    ).firing_id
    clock.advance(microseconds=250)
    service.fire_trigger("u1", hooked, is_test=True)
    clock.advance(seconds=2)
    service.update_trigger("u1", hooked, {"api_payload": {"k": 2}, "max_fires": 2})
    service.rotate_signing_secret("u1", hooked)
    clock.advance(seconds=1)
    service.fire_trigger("u1", hooked)
    once = service.create_trigger(
        "u2",
        TriggerSpec(trigger_type="scheduled", schedule_time=clock() + timedelta(0, 60)),
    ).trigger_id
    service.pause_trigger("u2", once)
    clock.advance(minutes=2)
    service.resume_trigger("u2", once)
    gone = service.create_trigger("u1", TriggerSpec(trigger_type="api")).trigger_id
    service.fire_trigger("u1", gone)
    service.delete_trigger("u1", gone)
    row = service.delivery_states([first])[first]
    service.record_delivery_attempt(
        row, 1, clock(), AttemptResult(status_code=500, duration_ms=3.0), 0.5
    )
    clock.advance(seconds=5)
    service.record_delivery_attempt(
        row, 2, clock(), AttemptResult(status_code=204, duration_ms=2.0), 0.5
    )
    return {"hooked": hooked, "once": once, "gone": gone, "first": first}


def test_batches_leave_the_rows_one_by_one_leaves_for_every_kind_of_event(
    service: TriggerService, clock: FakeClock
) -> None:
    ids = hand_made_history(service, clock)
    events = decoded(service)

    for kind in KINDS:
        expected = one_by_one(service, kind, events)
        assert rows_of(service, kind()) == expected
        for size in (1, 2, 5, 10_000):
            assert in_batches_of_events(service, kind, events, size) == expected
            assert caught_up_in_batches(service, kind, size) == expected

    hooked, once, first = ids["hooked"], ids["once"], ids["first"]
    assert rows_of(service, TriggerListProjection())["trigger_list"] == sorted(
        [
            (
                hooked,
                "u1",
                '{"api_endpoint":"http://127.0.0.1:9/hook","api_payload":{"k":2},'
                '"cron":null,"end_at":null,"interval":null,"is_recurring":false,'
                '"max_fires":2,"misfire_grace_seconds":60.0,'
                '"misfire_policy":"fire_once","schedule_time":null,'
                '"start_at":null,"timezone":"UTC","trigger_type":"api"}',
                "completed",
                "2026-12-04T12:00:00.000000+00:00",
                "2026-12-04T12:00:04.500250+00:00",
                None,
                "2026-12-04T12:00:04.500250+00:00",
                2,
                7,
            ),
            (
                once,
                "u2",
                '{"api_endpoint":null,"api_payload":null,"cron":null,'
                '"end_at":null,"interval":null,"is_recurring":false,'
                '"max_fires":null,"misfire_grace_seconds":60.0,'
                '"misfire_policy":"fire_once",'
                '"schedule_time":"2026-12-04T12:01:04.500250+00:00",'
                '"start_at":null,"timezone":"UTC","trigger_type":"scheduled"}',
                "completed",
                "2026-12-04T12:00:04.500250+00:00",
                "2026-12-04T12:02:04.500250+00:00",
                None,
                None,
                0,
                4,
            ),
        ]
    )
    log = rows_of(service, EventLogProjection())
    assert [row[1:] for row in sorted(log["event_log"], key=lambda r: r[1])] == [
        (
            2,
            hooked,
            "u1",
            "api",
            0,
            None,
            "2026-12-04T12:00:01.500000+00:00",
            '{"_type_":"note","n":1}',
            1,
            0,
        ),
        (
            3,
            hooked,
            "u1",
            "test",
            1,
            None,
            "2026-12-04T12:00:01.500250+00:00",
            '{"a":"\\u00e9","b":1}',
            1,
            0,
        ),
        (
            6,
            hooked,
            "u1",
            "api",
            0,
            None,
            "2026-12-04T12:00:04.500250+00:00",
            '{"k":2}',
            1,
            0,
        ),
        (
            13,
            ids["gone"],
            "u1",
            "api",
            0,
            None,
            "2026-12-04T12:02:04.500250+00:00",
            "null",
            1,
            0,
        ),
    ]
    outbox = rows_of(service, DeliveriesProjection())
    assert [row[1:] for row in sorted(outbox["deliveries"], key=lambda r: r[1])] == [
        (
            2,
            hooked,
            HOOK,
            "api",
            0,
            None,
            "2026-12-04T12:00:01.500000+00:00",
            '{"_type_":"note","n":1}',
            "delivered",
            2,
            None,
            "2026-12-04T12:02:09.500250+00:00",
            204,
            None,
        ),
        (
            3,
            hooked,
            HOOK,
            "test",
            1,
            None,
            "2026-12-04T12:00:01.500250+00:00",
            '{"b":1,"a":"é"}',
            "pending",
            0,
            "2026-12-04T12:00:01.500250+00:00",
            None,
            None,
            None,
        ),
        (
            6,
            hooked,
            HOOK,
            "api",
            0,
            None,
            "2026-12-04T12:00:04.500250+00:00",
            '{"k":2}',
            "pending",
            0,
            "2026-12-04T12:00:04.500250+00:00",
            None,
            None,
            None,
        ),
    ]
    assert outbox["deliveries_signing"] == sorted(
        [
            (once, 1, None),
            (ids["gone"], 1, None),
            (hooked, 2, "2026-12-04T12:00:03.500250+00:00"),
        ]
    )
    assert first == sorted(log["event_log"], key=lambda r: r[1])[0][0]


def test_firings_are_read_from_their_json_unless_the_mapper_must_decide(
    service: TriggerService, clock: FakeClock
) -> None:
    hand_made_history(service, clock)
    rows = [
        (n.id, n.originator_id.hex, n.originator_version, n.topic, n.state)
        for n in service.recorder.select_notifications(1, 1000)
    ]

    items = StoredDecoder(service.mapper).decode(rows)

    by_id = dict(items)
    # The payload of firing 2 has a "_type_" key, which the transcoder reads.
    assert [i for i, item in items if type(item) is FiredRecord] == [3, 6, 13]
    assert type(by_id[2]) is Trigger.Fired
    for notification_id in (3, 6, 13):
        event = service.mapper.to_domain_event(
            service.recorder.select_notifications(notification_id, 1)[0]
        )
        assert by_id[notification_id][:-1] == fired_record(event)[:-1]
    assert by_id[3][:-1] == (
        by_id[6].originator_id,
        3,
        "2026-12-04T12:00:01.500250+00:00",
        by_id[3].firing_id,
        "test",
        None,
        True,
        {"b": 1, "a": "é"},
        1,
        False,
        None,
        HOOK,
    )


def test_a_projection_failing_while_recording_catches_up_exactly_once(
    service: TriggerService, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    trigger = service.create_trigger("u1", TriggerSpec(trigger_type="api"))
    trigger_list = service.projections.projections[0]
    # One event is applied on its own, not as a batch.
    real = trigger_list.apply
    calls: list[int] = []

    def failing_once(cursor: Any, event: Any, notification_id: int) -> None:
        calls.append(notification_id)
        if len(calls) == 1:
            raise RuntimeError("disk full")
        real(cursor, event, notification_id)

    monkeypatch.setattr(trigger_list, "apply", failing_once)
    service.fire_trigger("u1", trigger.trigger_id)

    assert calls == [2, 2]
    assert service.projections.positions()["trigger_list"] == 2
    assert [(r["fire_count"], r["version"]) for r in service.list_triggers("u1")] == [
        (1, 2)
    ]
    assert len(service.list_firings("u1")) == 1
    events = decoded(service)
    for kind in KINDS:
        assert rows_of(service, kind()) == one_by_one(service, kind, events)


def test_a_mixed_history_gives_the_same_rows_in_batches_of_any_size(
    service: TriggerService, clock: FakeClock
) -> None:
    random_commands(service, clock, 400, seed=21)
    events = decoded(service)

    for kind in KINDS:
        expected = one_by_one(service, kind, events)
        assert rows_of(service, kind()) == expected
        for size in (3, 64, 10_000):
            assert in_batches_of_events(service, kind, events, size) == expected
            assert caught_up_in_batches(service, kind, size) == expected
    log = rows_of(service, EventLogProjection())["event_log"]
    firings = [e for _, e in events if isinstance(e, Trigger.Fired)]
    assert sorted(row[0] for row in log) == sorted(e.firing_id for e in firings)


def test_a_rebuild_from_archives_and_store_equals_applying_each_event(
    service: TriggerService, settings: Settings, clock: FakeClock
) -> None:
    random_commands(service, clock, 300, seed=11)
    clock.advance(hours=49)
    random_commands(service, clock, 100, seed=12)
    archive = ArchiveStore(settings.archive_path)
    report = Compactor(service, archive).run(horizon_for(clock(), 48 * 3600))
    runner = ProjectionRunner(
        service.projections.database,
        service.recorder,
        service.mapper,
        [TriggerListProjection()],
    )
    decoder = StoredDecoder(service.mapper)
    history = [
        (row[0], decoder.to_domain_event(row)) for row in all_rows(archive, runner)
    ]
    expected = one_by_one(service, TriggerListProjection, history)
    before = rows_of(service, TriggerListProjection())

    ProjectionRebuilder(service, archive).rebuild(["trigger_list"])

    assert report.archived_events > 50
    assert len(history) > len(decoded(service))
    assert rows_of(service, TriggerListProjection()) == before == expected
