from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from domain.spec import TriggerSpec
from domain.trigger import Trigger
from eventtrigger.loading import load_many
from eventtrigger.service import TriggerService
from tests.conftest import FakeClock

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def api_spec() -> TriggerSpec:
    return TriggerSpec(trigger_type="api", api_payload={"n": 1})


def fired(service: TriggerService, owner: str, trigger_id: str, times: int) -> None:
    for _ in range(times):
        service.fire_trigger(owner, trigger_id)


def test_cached_and_uncached_triggers_load_to_the_stored_state(
    service: TriggerService, clock: FakeClock
) -> None:
    owner = service.register_user("ada", "pw")
    ids = [service.create_trigger(owner, api_spec()).trigger_id for _ in range(3)]
    fired(service, owner, ids[0], 2)
    # Another process fires the first trigger twice more: the cache lags.
    lagging = copy.deepcopy(service.repository.cache.get(UUID(ids[0])))
    other = Trigger.create(owner, api_spec(), clock())
    for _ in range(2):
        latest = service._load(UUID(ids[0]))
        latest.fire_by_hand(owner, clock() + timedelta(seconds=1), reason="api")
        service.recorder.insert_events(
            [service.mapper.to_stored_event(e) for e in latest.collect_events()]
        )
    assert lagging.version == 3
    service.repository.cache.put(UUID(ids[0]), lagging)
    # One trigger the cache has never held.
    service.recorder.insert_events(
        [service.mapper.to_stored_event(e) for e in other.collect_events()]
    )
    wanted = [UUID(i) for i in ids] + [other.id, uuid4()]

    loaded = load_many(
        service.projections.database, service.mapper, wanted, service.repository.cache
    )

    assert sorted(loaded) == sorted(wanted[:4])
    assert [(loaded[i].version, loaded[i].fire_count) for i in wanted[:4]] == [
        (5, 4),
        (1, 0),
        (1, 0),
        (1, 0),
    ]
    # Copies: changing one leaves the cached trigger as it was.
    loaded[wanted[1]].fire_by_hand(owner, clock(), reason="api")
    assert service.repository.cache.get(wanted[1]).version == 1
    uncached = load_many(service.projections.database, service.mapper, wanted[:4])
    assert [uncached[i].version for i in wanted[:4]] == [5, 1, 1, 1]
