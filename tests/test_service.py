from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from domain.errors import ConflictError, NotFoundError
from domain.spec import TriggerSpec
from domain.trigger import Trigger
from eventtrigger.service import TriggerService
from eventtrigger.settings import Settings
from projections.event_log import EventLogProjection
from projections.runner import ProjectionRunner
from projections.trigger_list import TriggerListProjection
from tests.conftest import FakeClock

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def api_trigger() -> TriggerSpec:
    return TriggerSpec(trigger_type="api", api_payload={"n": 1})


def test_trigger_life_cycle_reads_back_through_the_lists(
    service: TriggerService, clock: FakeClock
) -> None:
    # A person creates a trigger, changes it, fires it, pauses it and deletes it;
    # after each step the list shows the change without waiting.
    owner = service.register_user("ada", "pw")
    spec = TriggerSpec(
        trigger_type="scheduled",
        schedule_time=T0 + timedelta(hours=1),
        interval=30,
        is_recurring=True,
    )
    trigger = service.create_trigger(owner, spec)
    trigger_id = trigger.trigger_id
    assert [r["trigger_id"] for r in service.list_triggers(owner)] == [trigger_id]

    service.update_trigger(owner, trigger_id, {"interval": 15.0})
    clock.advance(minutes=1)
    service.fire_trigger(owner, trigger_id)
    service.fire_trigger(owner, trigger_id, is_test=True)
    service.pause_trigger(owner, trigger_id)
    row = service.trigger_row(owner, trigger_id)
    assert (row["status"], row["fire_count"], row["next_fire_at"]) == (
        "paused",
        1,
        None,
    )
    assert row["last_fired_at"] == "2026-12-04T12:01:00.000000+00:00"
    assert [(f["reason"], f["is_test"]) for f in service.list_firings(owner)] == [
        ("test", 1),
        ("manual", 0),
    ]

    service.delete_trigger(owner, trigger_id)
    assert service.list_triggers(owner) == []
    names = [type(e).__name__ for e in service.events.get(trigger.id)]
    assert names == ["Created", "Updated", "Fired", "Fired", "Paused", "Deleted"]
    with pytest.raises(NotFoundError):
        service.history(owner, trigger_id)


def test_registering_a_taken_name_conflicts(service: TriggerService) -> None:
    service.register_user("ada", "pw")

    with pytest.raises(ConflictError):
        service.register_user("ada", "other")


def test_authenticate_checks_the_password(service: TriggerService) -> None:
    user_id = service.register_user("ada", "pw")

    assert service.authenticate("ada", "pw") == user_id
    assert service.authenticate("ada", "wrong") is None
    assert service.authenticate("nobody", "pw") is None


def test_someone_elses_trigger_is_not_found(service: TriggerService) -> None:
    trigger = service.create_trigger("owner", api_trigger())

    with pytest.raises(NotFoundError):
        service.fire_trigger("stranger", trigger.trigger_id)
    with pytest.raises(NotFoundError):
        service.trigger_row("stranger", trigger.trigger_id)
    with pytest.raises(NotFoundError):
        service.get_trigger("owner", "not-a-uuid")


def test_a_trigger_fired_many_times_loads_from_a_snapshot(
    service: TriggerService,
) -> None:
    trigger = service.create_trigger("owner", api_trigger())
    for _ in range(250):
        service.fire_trigger("owner", trigger.trigger_id)

    assert service.snapshots is not None
    snapshot = list(service.snapshots.get(trigger.id, desc=True, limit=1))[0]
    loaded = service.get_trigger("owner", trigger.trigger_id)
    assert snapshot.originator_version == 200
    assert (loaded.version, loaded.fire_count) == (251, 250)


def rebuild(service: TriggerService, suffix: str) -> list[list[tuple]]:
    """Build both read models afresh into tables of their own, from position 0."""
    projections = [
        TriggerListProjection(table=f"trigger_list_{suffix}"),
        EventLogProjection(table=f"event_log_{suffix}"),
    ]
    for projection in projections:
        projection.name = f"{projection.name}_{suffix}"
    runner = ProjectionRunner(
        service.projections.database, service.recorder, service.mapper, projections
    )
    runner.create_tables()
    runner.catch_up()
    return [
        [
            tuple(row)
            for row in service.projections.database.fetch_all(
                f"SELECT * FROM {p.table} ORDER BY 1"
            )
        ]
        for p in projections
    ]


def test_rebuilt_read_models_equal_the_live_ones(
    service: TriggerService, clock: FakeClock
) -> None:
    for index in range(5):
        trigger = service.create_trigger("owner", api_trigger())
        service.fire_trigger("owner", trigger.trigger_id, payload={"i": index})
        if index % 2:
            service.update_trigger("owner", trigger.trigger_id, {"max_fires": 9})
        clock.advance(seconds=1)

    live = [
        [
            tuple(r)
            for r in service.projections.database.fetch_all(
                f"SELECT * FROM {table} ORDER BY 1"
            )
        ]
        for table in ("trigger_list", "event_log")
    ]

    assert rebuild(service, "copy") == live


class FailingOnce:
    """Wraps a projection and fails on the first firing it sees."""

    def __init__(self, inner: EventLogProjection) -> None:
        self.inner = inner
        self.name = inner.name
        self.topics_of = inner.topics_of
        self.failed = False

    def create_statements(self) -> list[str]:
        return self.inner.create_statements()

    def apply(self, cursor, event, notification_id) -> None:  # type: ignore[no-untyped-def]
        if type(event).__name__ == "Fired" and not self.failed:
            self.failed = True
            raise RuntimeError("disk full")
        self.inner.apply(cursor, event, notification_id)


def test_a_failed_catch_up_applies_nothing_and_retries_exactly_once(
    service: TriggerService,
) -> None:
    trigger = service.create_trigger("owner", api_trigger())
    service.fire_trigger("owner", trigger.trigger_id)
    service.fire_trigger("owner", trigger.trigger_id)
    flaky = FailingOnce(EventLogProjection(table="event_log_flaky"))
    flaky.name = "event_log_flaky"
    runner = ProjectionRunner(
        service.projections.database, service.recorder, service.mapper, [flaky]
    )
    runner.create_tables()

    with pytest.raises(RuntimeError):
        runner.catch_up()
    assert runner.positions()["event_log_flaky"] == 0
    runner.catch_up()

    rows = service.projections.database.fetch_all(
        "SELECT firing_id FROM event_log_flaky"
    )
    assert len(rows) == 2


def test_a_command_losing_a_race_runs_again_on_the_new_state(
    service: TriggerService, settings: Settings, clock: FakeClock
) -> None:
    trigger = service.create_trigger("owner", api_trigger())
    other_writer = TriggerService(settings, clock=clock)
    attempts = []

    def pause_after_someone_fires(current: Trigger) -> None:
        attempts.append(current.version)
        if len(attempts) == 1:
            other_writer.fire_trigger("owner", trigger.trigger_id)
        current.pause("owner", clock())

    service._change("owner", trigger.trigger_id, pause_after_someone_fires)

    events = [type(e).__name__ for e in service.events.get(trigger.id)]
    assert attempts == [1, 2]
    assert events == ["Created", "Fired", "Paused"]
    other_writer.close()


def test_the_database_is_readable_by_its_owner_only(
    service: TriggerService, settings: Settings
) -> None:
    service.register_user("ada", "pw")

    mode = settings.sqlite_path.stat().st_mode & 0o777
    wal_mode = settings.sqlite_path.with_name("eventtrigger.db-wal").stat().st_mode

    assert mode == 0o600
    assert wal_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EVENTTRIGGER_ARCHIVED_LOG_SECONDS", "-5"),
        ("EVENTTRIGGER_DATABASE_URL", "postgres://x"),
        ("EVENTTRIGGER_POLL_INTERVAL_SECONDS", "0"),
        ("EVENTTRIGGER_PORT", "eighty"),
    ],
)
def test_unusable_settings_are_refused_when_read(name: str, value: str) -> None:
    from eventtrigger.settings import SettingsError, load_settings

    with pytest.raises(SettingsError) as caught:
        load_settings({name: value})

    assert name.removeprefix("EVENTTRIGGER_") in str(caught.value)


def test_a_batch_of_due_firings_is_logged_as_one_line_and_each_at_debug(
    service: TriggerService, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    owner = service.register_user("ada", "pw")
    due = T0 + timedelta(minutes=1)
    ids = [
        service.create_trigger(
            owner, TriggerSpec(trigger_type="scheduled", schedule_time=due)
        ).trigger_id
        for _ in range(2)
    ]
    clock.advance(minutes=1, seconds=2)
    with caplog.at_level("DEBUG", logger="eventtrigger.service"):
        service.fire_due([(trigger_id, due) for trigger_id in ids])
    lines = [
        (r.levelname, r.getMessage(), getattr(r, "trigger_id", None))
        for r in caplog.records
        if "fired" in r.getMessage()
    ]
    assert lines == [
        ("DEBUG", "trigger fired", ids[0]),
        ("DEBUG", "trigger fired", ids[1]),
        ("INFO", "triggers fired", None),
    ]
    summary = caplog.records[-1]
    assert (summary.count, summary.max_lateness_ms) == (2, 2000.0)


def test_a_saved_trigger_is_cached_and_a_newer_record_still_wins(
    service: TriggerService, clock: FakeClock
) -> None:
    owner = service.register_user("ada", "pw")
    due = T0 + timedelta(minutes=1)
    spec = TriggerSpec(
        trigger_type="scheduled", schedule_time=due, interval=1, is_recurring=True
    )
    trigger_id = service.create_trigger(owner, spec).trigger_id
    service.fire_trigger(owner, trigger_id)
    cached = service.repository.cache.get(UUID(trigger_id))
    assert (cached.version, cached.fire_count) == (2, 1)

    # The scheduler records without the cache; the next command sees it.
    clock.advance(minutes=1)
    service.fire_due([(trigger_id, due)])
    trigger = service.get_trigger(owner, trigger_id)

    assert (trigger.version, trigger.fire_count) == (3, 2)
    assert trigger.next_due_at == due + timedelta(minutes=1)
