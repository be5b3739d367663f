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
    ArchivedEvent,
    ArchiveIntegrityError,
    ArchiveSpan,
    ArchiveStore,
    Compactor,
    horizon_for,
    id_ranges,
    offset_runs,
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


def test_id_ranges_and_offset_runs_group_consecutive_rows() -> None:
    assert id_ranges([]) == []
    assert id_ranges([3, 4, 5, 7, 9, 10]) == [(3, 5), (7, 7), (9, 10)]
    pairs = [(1, 2), (2, 3), (3, 4), (4, 6), (5, 7), (7, 9)]
    assert offset_runs(pairs) == [(1, 3, 1), (4, 5, 2), (7, 7, 2)]


FIRED_STATE = b'{"firing_id":"f-1","payload":{"k":"v \\"q\\""}}'
UUID_TEXT = "3a9ba030-fa9a-5a68-819a-9536c10b3dc3"


def test_an_archive_line_holds_the_stored_state_byte_for_byte() -> None:
    event = ArchivedEvent(7, UUID_TEXT, 3, "domain.trigger:Trigger.Fired", FIRED_STATE)

    line = event.to_line()

    assert line == (
        b'{"id":7,"originator_id":"3a9ba030-fa9a-5a68-819a-9536c10b3dc3",'
        b'"originator_version":3,"topic":"domain.trigger:Trigger.Fired",'
        b'"state":{"firing_id":"f-1","payload":{"k":"v \\"q\\""}}}\n'
    )
    assert json.loads(line)["state"] == {"firing_id": "f-1", "payload": {"k": 'v "q"'}}
    assert ArchivedEvent.from_line(line) == event


def test_a_state_that_is_not_one_line_of_object_text_is_kept_as_a_string() -> None:
    for state in (b'{"a":\n1}', b'["a"]', b'{"a":"\r"}', b""):
        event = ArchivedEvent(8, UUID_TEXT, 4, "t", state)

        line = event.to_line()

        assert json.loads(line)["state"] == state.decode()
        assert line.count(b"\n") == 1
        assert ArchivedEvent.from_line(line) == event


def old_line(event: ArchivedEvent) -> bytes:
    """A line as archives were written before states were inlined."""
    record = {
        "id": event.notification_id,
        "originator_id": event.originator_id,
        "originator_version": event.originator_version,
        "topic": event.topic,
        "state": event.state.decode(),
    }
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


def test_lines_written_before_states_were_inlined_still_read() -> None:
    event = ArchivedEvent(7, UUID_TEXT, 3, "domain.trigger:Trigger.Fired", FIRED_STATE)

    assert ArchivedEvent.from_line(old_line(event)) == event


def test_a_cut_line_does_not_read() -> None:
    event = ArchivedEvent(7, UUID_TEXT, 3, "t", FIRED_STATE)

    with pytest.raises(ValueError):
        ArchivedEvent.from_line(event.to_line()[:-3])


def rewrite_in_old_lines(archive: ArchiveStore) -> None:
    """Write every archive file again as before, with a manifest chained anew."""
    entries = archive.entries()
    archive.manifest_path.unlink()
    for entry in entries:
        path = archive.folder / entry["file"]
        lines = b"".join(old_line(e) for e in archive.read(entry))
        path.write_bytes(gzip.compress(lines, mtime=0))
        span = ArchiveSpan(
            entry["events"],
            entry["first_id"],
            entry["last_id"],
            entry["first_at"],
            entry["last_at"],
        )
        sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        archive.append_entry(entry["file"], sha256, span)


def test_archives_in_the_old_line_form_verify_and_replay(
    service: TriggerService, settings: Settings, clock: FakeClock
) -> None:
    archive = compacted_archive(service, settings, clock)
    before = archived_ids(archive)
    rewrite_in_old_lines(archive)
    trigger_id = UUID(before[0][0])

    entries = archive.verify()
    events = replay.trigger_events_unverified(service, archive, trigger_id)

    first = gzip.decompress((archive.folder / "events-000001.jsonl.gz").read_bytes())
    assert first.startswith(b'{"id":2,"originator_id":"')
    assert b',"state":"{\\"timestamp\\":' in first.splitlines()[0]
    assert [e["events"] for e in entries] == [30, 30, 30]
    assert archived_ids(archive) == before
    assert [e.originator_version for e in events] == list(range(1, 93))


def test_an_archive_line_is_the_stored_row_with_its_state_inline(
    service: TriggerService, settings: Settings, clock: FakeClock
) -> None:
    trigger = service.create_trigger(OWNER, api_spec())
    fire_many(service, clock, trigger.trigger_id, 3)
    stored = service.projections.database.fetch_one(
        "SELECT state FROM stored_events WHERE rowid=2"
    )[0]
    clock.advance(hours=49)
    service.fire_trigger(OWNER, trigger.trigger_id)
    archive = ArchiveStore(settings.archive_path)

    Compactor(service, archive).run(horizon_for(clock(), 48 * 3600))

    data = gzip.decompress((archive.folder / "events-000001.jsonl.gz").read_bytes())
    assert data.splitlines(keepends=True)[0] == (
        b'{"id":2,"originator_id":"'
        + trigger.trigger_id.encode()
        + b'","originator_version":2,"topic":"domain.trigger:Trigger.Fired",'
        + b'"state":'
        + bytes(stored)
        + b"}\n"
    )
    assert len(data.splitlines()) == 3


def test_a_run_stopped_after_its_manifest_is_finished_by_the_next(
    service: TriggerService, settings: Settings, clock: FakeClock
) -> None:
    trigger = service.create_trigger(OWNER, api_spec())
    fire_many(service, clock, trigger.trigger_id, 100)
    clock.advance(hours=49)
    service.fire_trigger(OWNER, trigger.trigger_id)
    archive = ArchiveStore(settings.archive_path)
    horizon = horizon_for(clock(), 48 * 3600)

    def stop_after_manifest(step: str) -> None:
        if step == "manifest":
            raise RuntimeError("stopped")

    stopping = Compactor(
        service, archive, batch_size=40, after_step=stop_after_manifest
    )
    with pytest.raises(RuntimeError):
        stopping.run(horizon)
    logged_between = len(service.list_firings(OWNER, limit=1000))
    report = Compactor(service, archive, batch_size=40).run(horizon)

    assert logged_between == 101
    assert (report.finished_previous, report.archived_events) == (40, 60)
    assert [e["events"] for e in archive.verify()] == [40, 40, 20]
    assert len(service.list_firings(OWNER, limit=1000)) == 1
    assert len(fired_ids_in_store(service)) == 1


def test_a_finished_run_leaves_the_next_nothing_to_finish(
    service: TriggerService,
    settings: Settings,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    archive = compacted_archive(service, settings, clock)

    def unread(entry: dict) -> list:
        raise AssertionError(f"read {entry['file']}")

    monkeypatch.setattr(archive, "read", unread)
    report = Compactor(service, archive).run(horizon_for(clock(), 48 * 3600))

    assert (report.finished_previous, report.archived_events) == (0, 0)


def test_log_rows_renumbered_since_they_were_read_go_by_firing_id(
    service: TriggerService, settings: Settings, clock: FakeClock
) -> None:
    # A rebuild swaps in tables whose rows have other rowids; the positions
    # tell the compactor its rowids no longer name the rows it read.
    trigger = service.create_trigger(OWNER, api_spec())
    fire_many(service, clock, trigger.trigger_id, 20)
    clock.advance(hours=49)
    recent = service.fire_trigger(OWNER, trigger.trigger_id)
    database = service.projections.database

    def renumber(step: str) -> None:
        # Rows 1..21 in reverse: the recent firing's row is now row 1.
        if step == "manifest":
            with database.transaction(commit=True) as cursor:
                cursor.execute("UPDATE event_log SET rowid = -rowid")
                cursor.execute("UPDATE event_log SET rowid = 22 + rowid")
                cursor.execute("SELECT position FROM event_log WHERE rowid = 1")
                assert cursor.fetchone()[0] == 22

    Compactor(service, ArchiveStore(settings.archive_path), after_step=renumber).run(
        horizon_for(clock(), 48 * 3600)
    )

    left = [r["firing_id"] for r in service.list_firings(OWNER, limit=1000)]
    assert left == [recent.firing_id]


def test_the_page_cache_is_back_to_its_size_after_a_run(
    service: TriggerService, settings: Settings, clock: FakeClock
) -> None:
    trigger = service.create_trigger(OWNER, api_spec())
    fire_many(service, clock, trigger.trigger_id, 5)
    clock.advance(hours=49)
    service.fire_trigger(OWNER, trigger.trigger_id)

    report = Compactor(service, ArchiveStore(settings.archive_path)).run(
        horizon_for(clock(), 48 * 3600)
    )

    assert report.archived_events == 5
    with service.projections.database.transaction(commit=True) as cursor:
        cursor.execute("PRAGMA cache_size")
        assert cursor.fetchone()[0] == -2000
