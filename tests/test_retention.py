from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.utils import get_topic
from starlette.testclient import TestClient

from api.app import create_app
from api.event_logs import fired_window
from domain.delivery import AttemptResult
from domain.spec import TriggerSpec
from domain.trigger import Trigger
from eventtrigger import replay
from eventtrigger.service import TriggerService
from eventtrigger.settings import Settings
from retention import (
    ArchiveIntegrityError,
    ArchiveStore,
    Compactor,
    horizon_for,
)
from tests.conftest import FakeClock, log_in

ROOT = Path(__file__).resolve().parents[1]
OWNER = "owner-1"


def api_spec() -> TriggerSpec:
    return TriggerSpec(trigger_type="api", api_payload={"k": "v"})


def fire_many(
    service: TriggerService, clock: FakeClock, trigger_id: str, count: int
) -> None:
    """Fire by hand ``count`` times, a hundred firings per saved batch."""
    trigger = service.get_trigger(OWNER, trigger_id)
    for index in range(count):
        clock.advance(milliseconds=10)
        trigger.fire_by_hand(OWNER, clock())
        if index % 100 == 99 or index == count - 1:
            service.save(trigger)


def store_size(service: TriggerService) -> tuple[int, int]:
    row = service.projections.database.fetch_one(
        "SELECT COUNT(*), SUM(LENGTH(state)) FROM stored_events"
    )
    return int(row[0]), int(row[1])


def log_states(
    service: TriggerService, settings: Settings, now: datetime
) -> dict[str, int]:
    counts = {}
    for state in ("active", "archived"):
        after, before = fired_window(state, now, settings)
        rows = service.list_firings(
            OWNER, fired_after=after, fired_at_or_before=before, limit=1000
        )
        counts[state] = len(rows)
    return counts


def test_log_entries_change_state_at_the_exact_boundaries(
    service: TriggerService, settings: Settings, clock: FakeClock
) -> None:
    trigger = service.create_trigger(OWNER, api_spec())
    service.fire_trigger(OWNER, trigger.trigger_id)
    fired_at = clock()
    tick = timedelta(microseconds=1)

    assert log_states(service, settings, fired_at + timedelta(hours=2) - tick) == {
        "active": 1,
        "archived": 0,
    }
    assert log_states(service, settings, fired_at + timedelta(hours=2)) == {
        "active": 0,
        "archived": 1,
    }
    assert log_states(service, settings, fired_at + timedelta(hours=48) - tick) == {
        "active": 0,
        "archived": 1,
    }
    assert log_states(service, settings, fired_at + timedelta(hours=48)) == {
        "active": 0,
        "archived": 0,
    }


def test_compacting_ten_thousand_firings_keeps_state_and_shrinks_store(
    service: TriggerService, settings: Settings, clock: FakeClock
) -> None:
    trigger = service.create_trigger(OWNER, api_spec())
    fire_many(service, clock, trigger.trigger_id, 10_000)
    before = service.get_trigger(OWNER, trigger.trigger_id)
    rows_before, bytes_before = store_size(service)
    clock.advance(hours=48, seconds=1)
    service.fire_trigger(OWNER, trigger.trigger_id)  # a recent one that stays

    archive = ArchiveStore(settings.archive_path)
    report = Compactor(service, archive).run(horizon_for(clock(), 48 * 3600))

    after = service.get_trigger(OWNER, trigger.trigger_id)
    rows_after, bytes_after = store_size(service)
    assert report.archived_events == 10_000
    assert (after.fire_count, after.version) == (10_001, 10_002)
    assert (after.last_fired_at, after.spec) == (clock(), before.spec)
    assert rows_before == 10_001  # Created and ten thousand firings
    assert rows_after == 2  # Created and the recent firing
    assert bytes_after < bytes_before / 1000
    assert sum(e["events"] for e in archive.verify()) == 10_000
    assert len(service.list_firings(OWNER, limit=1000)) == 1
    events = replay.trigger_events(service, archive, trigger.id)
    assert [e.originator_version for e in events] == list(range(1, 10_003))


def test_compaction_twice_archives_nothing_twice(
    service: TriggerService, settings: Settings, clock: FakeClock
) -> None:
    trigger = service.create_trigger(OWNER, api_spec())
    fire_many(service, clock, trigger.trigger_id, 50)
    clock.advance(hours=49)
    service.fire_trigger(OWNER, trigger.trigger_id)
    archive = ArchiveStore(settings.archive_path)
    compactor = Compactor(service, archive)

    first = compactor.run(horizon_for(clock(), 48 * 3600))
    second = compactor.run(horizon_for(clock(), 48 * 3600))

    assert (first.archived_events, second.archived_events) == (50, 0)
    assert [e["events"] for e in archive.verify()] == [50]


CRASHING_COMPACTION = """
import os, signal, sys
from datetime import datetime
from eventtrigger.service import TriggerService
from eventtrigger.settings import Settings
from pathlib import Path
from retention import ArchiveStore, Compactor

data_dir, horizon, crash_step = sys.argv[1], sys.argv[2], sys.argv[3]
settings = Settings(data_dir=Path(data_dir), jwt_secret="x" * 40)
service = TriggerService(settings)

def crash_after(step):
    if step == crash_step:
        os.kill(os.getpid(), signal.SIGKILL)

compactor = Compactor(service, ArchiveStore(settings.archive_path),
                      batch_size=40, after_step=crash_after)
compactor.run(datetime.fromisoformat(horizon))
"""


def fired_ids_in_store(service: TriggerService) -> set[tuple[str, int]]:
    rows = service.projections.database.fetch_all(
        "SELECT originator_id, originator_version FROM stored_events WHERE topic=?",
        (get_topic(Trigger.Fired),),
    )
    return {(str(UUID(r[0])), int(r[1])) for r in rows}


def archived_ids(archive: ArchiveStore) -> list[tuple[str, int]]:
    return [(e.originator_id, e.originator_version) for e in archive.iter_events()]


@pytest.mark.parametrize(
    "crash_step", ["snapshot", "archive_file", "manifest", "delete"]
)
def test_a_compaction_killed_after_any_step_loses_and_duplicates_nothing(
    service: TriggerService, settings: Settings, clock: FakeClock, crash_step: str
) -> None:
    trigger = service.create_trigger(OWNER, api_spec())
    fire_many(service, clock, trigger.trigger_id, 100)
    clock.advance(hours=49)
    service.fire_trigger(OWNER, trigger.trigger_id)
    every_firing = fired_ids_in_store(service)
    horizon = horizon_for(clock(), 48 * 3600)

    crashed = subprocess.run(
        [
            sys.executable,
            "-c",
            CRASHING_COMPACTION,
            str(settings.data_dir),
            horizon.isoformat(),
            crash_step,
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    archive = ArchiveStore(settings.archive_path)
    in_both = set(archived_ids(archive)) | fired_ids_in_store(service)
    Compactor(service, archive, batch_size=40).run(horizon)

    assert crashed.returncode == -9
    assert in_both == every_firing
    archived = archived_ids(archive)
    assert len(archived) == len(set(archived)) == 100
    assert set(archived) | fired_ids_in_store(service) == every_firing
    assert len(fired_ids_in_store(service)) == 1
    assert service.get_trigger(OWNER, trigger.trigger_id).fire_count == 101


def compacted_archive(
    service: TriggerService, settings: Settings, clock: FakeClock
) -> ArchiveStore:
    trigger = service.create_trigger(OWNER, api_spec())
    for _ in range(3):
        fire_many(service, clock, trigger.trigger_id, 30)
        clock.advance(hours=1)
    clock.advance(hours=49)
    service.fire_trigger(OWNER, trigger.trigger_id)
    archive = ArchiveStore(settings.archive_path)
    Compactor(service, archive, batch_size=30).run(horizon_for(clock(), 48 * 3600))
    return archive


def test_a_changed_byte_in_an_archive_file_is_detected_and_named(
    service: TriggerService, settings: Settings, clock: FakeClock
) -> None:
    archive = compacted_archive(service, settings, clock)
    target = settings.archive_path / "events-000002.jsonl.gz"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))

    with pytest.raises(ArchiveIntegrityError) as caught:
        archive.verify()

    assert caught.value.file == "events-000002.jsonl.gz"


def test_an_edited_manifest_entry_breaks_the_chain(
    service: TriggerService, settings: Settings, clock: FakeClock
) -> None:
    archive = compacted_archive(service, settings, clock)
    lines = archive.manifest_path.read_text().splitlines()
    entry = json.loads(lines[0])
    entry["events"] = 29
    lines[0] = json.dumps(entry, sort_keys=True)
    archive.manifest_path.write_text("\n".join(lines) + "\n")

    with pytest.raises(ArchiveIntegrityError) as caught:
        archive.verify()

    assert caught.value.file == "events-000001.jsonl.gz"


def test_a_rewritten_archive_with_matching_hash_still_breaks_the_chain(
    service: TriggerService, settings: Settings, clock: FakeClock
) -> None:
    # Someone drops an event, recompresses, and fixes the file's own hash:
    # the entry's hash no longer matches, and the next entry's link breaks.
    archive = compacted_archive(service, settings, clock)
    target = settings.archive_path / "events-000001.jsonl.gz"
    lines = gzip.decompress(target.read_bytes()).splitlines(keepends=True)
    target.write_bytes(gzip.compress(b"".join(lines[1:]), mtime=0))
    manifest = archive.manifest_path.read_text().splitlines()
    entry = json.loads(manifest[0])
    entry["sha256"] = hashlib.sha256(target.read_bytes()).hexdigest()
    manifest[0] = json.dumps(entry, sort_keys=True)
    archive.manifest_path.write_text("\n".join(manifest) + "\n")

    with pytest.raises(ArchiveIntegrityError) as caught:
        archive.verify()

    assert caught.value.file == "events-000001.jsonl.gz"
    assert str(caught.value) == "manifest entry was changed"


def test_history_says_plainly_which_part_is_archived(
    service: TriggerService, settings: Settings, clock: FakeClock
) -> None:
    client = TestClient(create_app(service, settings))
    headers = log_in(client)
    trigger_id = client.post(
        "/api/v1/triggers", headers=headers, json={"trigger_type": "api"}
    ).json()["trigger_id"]
    for _ in range(3):
        client.post(f"/api/v1/triggers/{trigger_id}/fire", headers=headers)
    clock.advance(hours=49)
    headers = log_in(client)
    fired = client.post(f"/api/v1/triggers/{trigger_id}/fire", headers=headers)
    assert fired.status_code == 201
    Compactor(service, ArchiveStore(settings.archive_path)).run(
        horizon_for(clock(), 48 * 3600)
    )

    history = client.get(f"/api/v1/triggers/{trigger_id}/history", headers=headers)

    answer = history.json()
    assert history.status_code == 200, answer
    assert [e["version"] for e in answer["events"]] == [1, 5]
    assert answer["archived"]["versions"] == [[2, 4]]
    assert answer["archived"]["event_count"] == 3
    assert f"eventtrigger replay {trigger_id}" in answer["archived"]["message"]


def delivering_trigger(
    tmp_path: Path, clock: FakeClock
) -> tuple[Settings, TriggerService, Trigger]:
    """A service that may deliver to loopback, and a trigger with an endpoint."""
    settings = Settings(
        data_dir=tmp_path, jwt_secret="x" * 40, allow_private_targets=True
    )
    service = TriggerService(settings, clock=clock)
    spec = dataclasses.replace(api_spec(), api_endpoint="http://127.0.0.1:9/hook")
    return settings, service, service.create_trigger(OWNER, spec)


def test_ended_deliveries_are_archived_with_their_firings_and_pending_stay(
    tmp_path: Path, clock: FakeClock
) -> None:
    settings, service, trigger = delivering_trigger(tmp_path, clock)
    delivered = service.fire_trigger(OWNER, trigger.trigger_id)
    pending = service.fire_trigger(OWNER, trigger.trigger_id)
    rows, _ = service.due_deliveries(10)
    first = next(r for r in rows if r["firing_id"] == delivered.firing_id)
    outcome = service.record_delivery_attempt(
        first, 1, clock(), AttemptResult(status_code=204), 0.5
    )
    clock.advance(hours=49)
    service.fire_trigger(OWNER, trigger.trigger_id)
    archive = ArchiveStore(settings.archive_path)

    report = Compactor(service, archive).run(horizon_for(clock(), 48 * 3600))

    archived = {e.originator_id for e in archive.iter_events()}
    left = service.delivery_states([delivered.firing_id, pending.firing_id])
    assert outcome == "delivered"
    assert report.archived_events == 3  # the firing and its delivery's two events
    assert archived == {trigger.trigger_id, delivered.firing_id}
    assert list(left) == [pending.firing_id]
    assert [r["status"] for r in left.values()] == ["pending"]
    service.close()


def test_compaction_never_deletes_the_newest_event_even_a_delivery(
    tmp_path: Path, clock: FakeClock
) -> None:
    settings, service, trigger = delivering_trigger(tmp_path, clock)
    old = service.fire_trigger(OWNER, trigger.trigger_id)
    clock.advance(hours=49)
    rows, _ = service.due_deliveries(10)
    service.record_delivery_attempt(
        rows[0], 1, clock(), AttemptResult(status_code=200), 0.5
    )
    newest = service.recorder.max_notification_id()

    report = Compactor(service, ArchiveStore(settings.archive_path)).run(
        horizon_for(clock(), 48 * 3600)
    )
    fresh = service.fire_trigger(OWNER, trigger.trigger_id)

    assert report.archived_events == 0
    assert service.recorder.max_notification_id() == newest + 1
    firings = {r["firing_id"] for r in service.list_firings(OWNER, limit=10)}
    assert firings == {old.firing_id, fresh.firing_id}
    service.close()
