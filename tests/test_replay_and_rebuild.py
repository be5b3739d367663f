from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from starlette.testclient import TestClient

from api.app import create_app
from domain.errors import EventTriggerError
from domain.spec import TriggerSpec
from eventtrigger import replay
from eventtrigger.rebuild import ProjectionRebuilder
from eventtrigger.service import TriggerService
from eventtrigger.settings import Settings
from retention import ArchiveStore, Compactor, horizon_for
from scheduler_loop import SchedulerLoop
from tests.conftest import FakeClock, log_in

COMPARED = (
    "trigger_id",
    "status",
    "fire_count",
    "version",
    "interval",
    "is_recurring",
    "next_fire_at",
    "last_fired_at",
    "schedule_time",
)


def comparable(trigger: dict[str, Any]) -> dict[str, Any]:
    values = {}
    for key in COMPARED:
        value = trigger[key]
        if isinstance(value, str) and key.endswith(("_at", "_time")):
            value = datetime.fromisoformat(value)
        values[key] = value
    return values


def test_replay_as_of_an_instant_equals_what_the_api_answered_then(
    service: TriggerService, settings: Settings, clock: FakeClock
) -> None:
    client = TestClient(create_app(service, settings))
    headers = log_in(client)
    created = client.post(
        "/api/v1/triggers",
        headers=headers,
        json={
            "trigger_type": "scheduled",
            "schedule_time": (clock() + timedelta(minutes=1)).isoformat(),
            "interval": 1,
            "is_recurring": True,
        },
    ).json()
    trigger_id = created["trigger_id"]
    url = f"/api/v1/triggers/{trigger_id}"
    loop = SchedulerLoop(service)
    loop.load()
    seen: list[tuple[datetime, dict[str, Any]]] = []

    def capture() -> None:
        seen.append((clock(), client.get(url, headers=headers).json()))

    capture()
    for step in range(6):
        clock.advance(minutes=1, milliseconds=3)
        loop.follow_store()
        loop.fire_due_now()
        if step == 2:
            client.patch(url, headers=headers, json={"interval": 0.5})
        if step == 4:
            client.post(url + "/pause", headers=headers)
        capture()
    clock.advance(hours=49)
    headers = log_in(client)
    assert client.post(url + "/resume", headers=headers).status_code == 200
    archive = ArchiveStore(settings.archive_path)
    report = Compactor(service, archive).run(horizon_for(clock(), 48 * 3600))

    events = replay.trigger_events(service, archive, UUID(trigger_id))
    assert report.archived_events > 0
    for instant, answered in seen:
        state = replay.state_as_of(events, instant)
        assert state is not None
        assert comparable(replay.describe_state(state)) == comparable(answered)


def random_commands(
    service: TriggerService, clock: FakeClock, count: int, seed: int
) -> None:
    """A mixed history: creates, changes, firings by hand and by schedule."""
    chooser = random.Random(seed)
    owners = ["u1", "u2", "u3"]
    ids: list[tuple[str, str]] = []
    loop = SchedulerLoop(service)
    loop.load()
    for _ in range(count):
        clock.advance(seconds=chooser.uniform(0, 40))
        action = chooser.choice(
            [
                "create",
                "create",
                "update",
                "fire",
                "test",
                "pause",
                "resume",
                "delete",
                "tick",
                "tick",
            ]
        )
        try:
            if action == "create" or not ids:
                owner = chooser.choice(owners)
                spec = TriggerSpec(
                    trigger_type="scheduled",
                    interval=chooser.choice([0.5, 1, 2.5]),
                    is_recurring=chooser.random() < 0.8,
                    max_fires=chooser.choice([None, 3]),
                    misfire_policy=chooser.choice(["fire_once", "skip", "fire_all"]),
                    api_payload={"n": chooser.randrange(100)},
                )
                ids.append((owner, service.create_trigger(owner, spec).trigger_id))
                continue
            owner, trigger_id = chooser.choice(ids)
            if action == "update":
                service.update_trigger(
                    owner, trigger_id, {"interval": chooser.choice([0.25, 1, 3])}
                )
            elif action in ("fire", "test"):
                service.fire_trigger(owner, trigger_id, is_test=action == "test")
            elif action == "pause":
                service.pause_trigger(owner, trigger_id)
            elif action == "resume":
                service.resume_trigger(owner, trigger_id)
            elif action == "delete":
                service.delete_trigger(owner, trigger_id)
            else:
                loop.follow_store()
                loop.fire_due_now()
        except EventTriggerError:
            # Refused commands (resume an active trigger, fire a deleted one)
            # are part of a realistic history too; they record nothing.
            pass


def test_rebuild_after_a_thousand_random_commands_matches_live_checksum(
    service: TriggerService, settings: Settings, clock: FakeClock
) -> None:
    random_commands(service, clock, 1000, seed=7)
    archive = ArchiveStore(settings.archive_path)
    rebuilder = ProjectionRebuilder(service, archive)

    verified = rebuilder.verify()
    rebuilt = rebuilder.rebuild()

    assert [r.name for r in verified] == ["trigger_list", "event_log", "deliveries"]
    assert all(r.matches for r in verified)
    assert [r.checksum for r in rebuilt] == [r.live_checksum for r in verified]
    assert verified[0].rows["trigger_list"] > 100
    assert verified[1].rows["event_log"] > 100


def test_rebuild_after_compaction_reads_the_archives_too(
    service: TriggerService, settings: Settings, clock: FakeClock
) -> None:
    random_commands(service, clock, 300, seed=11)
    clock.advance(hours=49)
    random_commands(service, clock, 100, seed=12)
    archive = ArchiveStore(settings.archive_path)
    report = Compactor(service, archive).run(horizon_for(clock(), 48 * 3600))
    rebuilder = ProjectionRebuilder(service, archive)

    verified = rebuilder.verify()

    assert report.archived_events > 50
    assert all(r.matches for r in verified)


def test_rebuild_swaps_in_tables_that_keep_working(
    service: TriggerService, settings: Settings, clock: FakeClock
) -> None:
    random_commands(service, clock, 200, seed=3)
    rebuilder = ProjectionRebuilder(service, ArchiveStore(settings.archive_path))
    rebuilder.rebuild()

    trigger = service.create_trigger("u9", TriggerSpec(trigger_type="api"))
    service.fire_trigger("u9", trigger.trigger_id)

    assert [r["trigger_id"] for r in service.list_triggers("u9")] == [
        trigger.trigger_id
    ]
    assert len(service.list_firings("u9")) == 1
    assert all(r.matches for r in rebuilder.verify())
