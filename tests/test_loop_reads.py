from __future__ import annotations

import threading

import pytest

from domain.spec import TriggerSpec
from domain.trigger import Trigger
from eventtrigger.loop_reads import NotNow
from eventtrigger.service import ReadViews, TriggerService, owned_row
from tests.conftest import FakeClock


def api_spec() -> TriggerSpec:
    return TriggerSpec(trigger_type="api", api_payload={"n": 1})


def names_of(views: ReadViews, owner: str) -> list[str]:
    rows = views.trigger_list.page_for_owner(owner, None, None)
    return [row["trigger_id"] for row in rows]


def test_a_current_read_is_answered_at_once(service: TriggerService) -> None:
    owner = service.register_user("ada", "pw")
    trigger = service.create_trigger(owner, api_spec())

    row = service.loop_reads.run(
        lambda views: owned_row(views, owner, trigger.trigger_id)
    )

    assert (row["trigger_id"], row["owner_id"], row["status"]) == (
        trigger.trigger_id,
        owner,
        "active",
    )


def test_a_read_while_a_read_model_lags_is_refused_then_caught_up(
    service: TriggerService, clock: FakeClock
) -> None:
    owner = service.register_user("ada", "pw")
    first = service.create_trigger(owner, api_spec()).trigger_id
    # As another process would: an event recorded without projecting it.
    created = Trigger.create(owner, api_spec(), clock())
    service.recorder.insert_events(
        [service.mapper.to_stored_event(e) for e in created.collect_events()]
    )
    second = created.trigger_id

    with pytest.raises(NotNow):
        service.loop_reads.run(lambda views: names_of(views, owner))

    # Both were created at the same instant: the list orders them by id.
    both = sorted([first, second])
    assert service.read_current(lambda views: names_of(views, owner)) == both
    assert service.loop_reads.run(lambda views: names_of(views, owner)) == both


def test_a_second_caller_at_the_same_moment_is_refused(
    service: TriggerService,
) -> None:
    owner = service.register_user("ada", "pw")
    inside = threading.Event()
    release = threading.Event()
    refused: list[bool] = []

    def slow_read(views: ReadViews) -> None:
        inside.set()
        release.wait(5)

    reader = threading.Thread(target=service.loop_reads.run, args=(slow_read,))
    reader.start()
    assert inside.wait(5)
    try:
        service.loop_reads.run(lambda views: names_of(views, owner))
    except NotNow:
        refused.append(True)
    release.set()
    reader.join(5)

    assert refused == [True]
    assert service.loop_reads.run(lambda views: names_of(views, owner)) == []


def test_the_read_connection_cannot_write(service: TriggerService) -> None:
    with pytest.raises(NotNow):
        service.loop_reads.run(
            lambda views: views.trigger_list.database.fetch_one(
                "DELETE FROM trigger_list"
            )
        )
