"""The application service: the one way anything records trigger events.

The API, the scheduler loop and the command-line tools all call these
commands; none of them writes events another way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
)
from eventsourcing.domain import BaseAggregate, OriginatorVersionError
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Transcoding
from eventsourcing.utils import get_topic

from domain.cron import FireTime
from domain.errors import (
    ConflictError,
    DueTimeAlreadyFulfilledError,
    EventTriggerError,
    NotFoundError,
)
from domain.schedule import API
from domain.spec import TriggerSpec, spec_from_record, spec_to_record
from domain.trigger import ACTIVE, Firing, Trigger, trigger_id_from
from domain.user import User
from eventtrigger.clock import Clock, utc_now
from eventtrigger.delivery_commands import DeliveryCommands
from eventtrigger.group_commit import GroupCommit
from eventtrigger.loading import cached_since, load_many
from eventtrigger.loop_reads import LoopReads
from eventtrigger.passwords import hash_password, verify_password
from eventtrigger.recorder import ProjectingSQLiteRecorder
from eventtrigger.settings import Settings
from eventtrigger.signing import SigningKeys
from projections.database import Database
from projections.deliveries import DeliveriesProjection, DeliveriesView
from projections.event_log import EventLogProjection, EventLogView
from projections.runner import ProjectionRunner
from projections.trigger_list import TriggerListProjection, TriggerListView

log = logging.getLogger(__name__)

T = TypeVar("T")
# How often a command is retried when another writer got to its trigger first.
COMMAND_ATTEMPTS = 5

# Verifying against this keeps a login for an unknown name as slow as one
# for a known name, so response times do not reveal which names exist.
_UNKNOWN_USER_HASH = hash_password("unknown user")


@dataclass(frozen=True)
class ReadViews:
    """The read models a query may look at."""

    trigger_list: TriggerListView
    event_log: EventLogView
    deliveries: DeliveriesView

    @classmethod
    def over(cls, database: Any) -> ReadViews:
        return cls(
            TriggerListView(database), EventLogView(database), DeliveriesView(database)
        )


def owned_row(views: ReadViews, owner_id: str, trigger_id: str) -> Any:
    """The owner's trigger-list row; anything else is not found."""
    row = views.trigger_list.get(owner_id, trigger_id)
    if row is None:
        raise NotFoundError()
    return row


class TriggerService(DeliveryCommands, Application):
    """Commands on users and triggers, and the read models they feed."""

    name = "EventTrigger"

    def __init__(self, settings: Settings, clock: Clock = utc_now) -> None:
        self.settings = settings
        self.clock = clock
        self.snapshotting_intervals = {Trigger: settings.snapshot_interval}
        path = settings.sqlite_path
        _create_private_file(path)
        super().__init__(
            {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(path),
                "SQLITE_LOCK_TIMEOUT": "30",
                "IS_SNAPSHOTTING_ENABLED": "y",
                "APPLICATION_RECORDER_TOPIC": get_topic(ProjectingSQLiteRecorder),
                # Commands load a cached copy brought up to date with one query
                # for newer events, instead of a snapshot and up to 99 events.
                "AGGREGATE_CACHE_MAXSIZE": str(settings.aggregate_cache_size),
            }
        )
        database = Database(self.recorder.datastore)  # type: ignore[attr-defined]
        self.projections = ProjectionRunner(
            database,
            self.recorder,
            self.mapper,
            [TriggerListProjection(), EventLogProjection(), DeliveriesProjection()],
        )
        self.projections.create_tables()
        self.recorder.project = self.projections.apply_in_transaction
        self.views = ReadViews.over(database)
        self.trigger_list = self.views.trigger_list
        self.event_log = self.views.event_log
        self.deliveries = self.views.deliveries
        self.loop_reads = LoopReads(
            path,
            [p.name for p in self.projections.projections],
            ReadViews.over,
        )
        self.signing = SigningKeys(settings)
        self.after_save: list[Callable[[], None]] = []
        self._known_users: set[str] = set()
        # Striped: commands on one trigger share a lock, on most others not.
        self._command_locks = [threading.Lock() for _ in range(64)]
        self._group_commit = GroupCommit(self.save)

    def _record(self, processing_event: ProcessingEvent) -> Any:
        # The recorder projects the domain events as it records them.
        processing_event.saved_kwargs["projected_events"] = processing_event.events
        return super()._record(processing_event)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(SpecAsRecord())

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        recordings = self._save_aggregates(objs, kwargs)
        # Read your writes: the lists a client asks for next include this
        # change, applied in its own transaction or, failing that, now.
        if not self.recorder.projected_last_insert:
            self.projections.catch_up()
        for listener in self.after_save:
            listener()
        return recordings

    def _save_aggregates(self, objs: Sequence[Any], kwargs: dict[str, Any]) -> Any:
        """What the library's save does, but the aggregates are known to be
        aggregates: its runtime protocol checks cost tens of microseconds
        each, more than encoding the event, in a batch of hundreds."""
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for obj in objs:
            if isinstance(obj, BaseAggregate):
                processing_event.events.extend(obj.collect_events())
                processing_event.aggregates[obj.id] = obj
            else:
                processing_event.collect_events(obj)
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._cache_saved(processing_event.aggregates.values())
        self._take_snapshots(processing_event)
        self._notify(recordings)
        return recordings

    # Users -------------------------------------------------------------------

    def register_user(self, username: str, password: str) -> str:
        if User.id_for(username) in self.repository:
            raise ConflictError("Username already exists")
        user = User.register(username, hash_password(password), self.clock())
        try:
            self.save(user)
        except IntegrityError:
            raise ConflictError("Username already exists") from None
        log.info("user registered", extra={"user_id": str(user.id)})
        return str(user.id)

    def authenticate(self, username: str, password: str) -> str | None:
        """The user's id when the password matches, else None."""
        try:
            user = self.repository.get(User.id_for(username))
        except AggregateNotFoundError:
            verify_password(password, _UNKNOWN_USER_HASH)
            return None
        if not verify_password(password, user.password_hash):
            return None
        return str(user.id)

    def user_exists(self, user_id: str) -> bool:
        if self.is_known_user(user_id):
            return True
        try:
            found = UUID(user_id) in self.repository
        except ValueError:
            return False
        if found:
            # Users are never removed, so once seen a user stays known.
            self._known_users.add(user_id)
        return found

    def is_known_user(self, user_id: str) -> bool:
        """Whether this process has already seen the user; no I/O."""
        return user_id in self._known_users

    # Trigger commands --------------------------------------------------------

    def create_trigger(self, owner_id: str, spec: TriggerSpec) -> Trigger:
        trigger = Trigger.create(owner_id, spec, self.clock())
        self.check_endpoint_target(spec.api_endpoint)
        for attempt in range(1, COMMAND_ATTEMPTS + 1):
            try:
                self._group_commit.save(trigger)
                break
            except IntegrityError:
                # It shared a batch with a command that lost a race.
                if attempt == COMMAND_ATTEMPTS:
                    raise ConflictError("The store is busy; try again") from None
                trigger = Trigger.create(owner_id, spec, self.clock())
        log.info(
            "trigger created",
            extra={"trigger_id": trigger.trigger_id, "trigger_type": spec.trigger_type},
        )
        return trigger

    def update_trigger(
        self, owner_id: str, trigger_id: str, changes: dict[str, Any]
    ) -> Trigger:
        self.check_endpoint_target(changes.get("api_endpoint"))
        trigger, _ = self._change(
            owner_id, trigger_id, lambda t: t.update(owner_id, changes, self.clock())
        )
        return trigger

    def pause_trigger(self, owner_id: str, trigger_id: str) -> Trigger:
        trigger, _ = self._change(
            owner_id, trigger_id, lambda t: t.pause(owner_id, self.clock())
        )
        return trigger

    def resume_trigger(self, owner_id: str, trigger_id: str) -> Trigger:
        trigger, _ = self._change(
            owner_id, trigger_id, lambda t: t.resume(owner_id, self.clock())
        )
        return trigger

    def delete_trigger(self, owner_id: str, trigger_id: str) -> None:
        self._change(owner_id, trigger_id, lambda t: t.delete(owner_id, self.clock()))
        log.info("trigger deleted", extra={"trigger_id": trigger_id})

    def fire_trigger(
        self,
        owner_id: str,
        trigger_id: str,
        *,
        payload: Any = None,
        is_test: bool = False,
    ) -> Firing:
        """Fire by hand (``manual``, or ``api`` for an api trigger) or as a test."""

        def fire(trigger: Trigger) -> Firing:
            reason = "api" if trigger.spec.kind == API else "manual"
            return trigger.fire_by_hand(
                owner_id, self.clock(), reason=reason, payload=payload, is_test=is_test
            )

        _, firing = self._change(owner_id, trigger_id, fire)
        _log_firing(firing)
        return firing

    def _change(
        self, owner_id: str, trigger_id: str, command: Callable[[Trigger], T]
    ) -> tuple[Trigger, T]:
        """Run one command on the owner's trigger and save what it recorded.

        Commands on one trigger in this process take turns. When another
        writer (the scheduler, another process) recorded an event for the
        trigger first, the store refuses the save; the command is then run
        again on the trigger as it now is.
        """
        with self._command_locks[hash(trigger_id) % len(self._command_locks)]:
            for attempt in range(1, COMMAND_ATTEMPTS + 1):
                trigger = self.get_trigger(owner_id, trigger_id)
                result = command(trigger)
                try:
                    self._group_commit.save(trigger)
                except IntegrityError:
                    if attempt == COMMAND_ATTEMPTS:
                        raise ConflictError(
                            "The trigger is being changed by someone else; try again"
                        ) from None
                    continue
                return trigger, result
        raise AssertionError("unreachable")

    def fire_due(self, due: Sequence[tuple[str, datetime]]) -> list[Firing]:
        """Fire triggers whose due time has come, all in one transaction.

        A trigger that no longer awaits the named due time (another scheduler
        fired it, or it was changed meanwhile) is passed over.
        """
        return self.fire_due_recorded(due)[0]

    def fire_due_recorded(
        self, due: Sequence[tuple[str, datetime]]
    ) -> tuple[list[Firing], list[tuple[int, Any]]]:
        """As ``fire_due``, also answering what the batch recorded, as
        (notification id, event) pairs, when it was one transaction."""
        now = self.clock()
        loaded = load_many(
            self.projections.database,
            self.mapper,
            [UUID(t) for t, _ in due],
            self.repository.cache,
            self.cache_cutoff(),
        )
        triggers: list[Trigger] = []
        firings: list[Firing] = []
        for trigger_id, due_at in due:
            trigger = loaded.get(UUID(trigger_id))
            fired = self._fire_one_due(trigger, trigger_id, due_at, now)
            if fired is not None:
                triggers.append(trigger)
                firings.extend(fired)
        if not triggers:
            return [], []
        recorded: list[tuple[int, Any]] = []
        try:
            recordings = self.save(*triggers)
            recorded = [(r.notification.id, r.domain_event) for r in recordings]
        except IntegrityError:
            # Someone else recorded one of these; save the rest one by one.
            firings = self._save_each(due, now)
        _log_due_firings(firings)
        return firings, recorded

    # Queries ---------------------------------------------------------------

    def get_trigger(self, owner_id: str, trigger_id: str) -> Trigger:
        """The owner's live trigger; anything else is not found."""
        trigger = self._load(trigger_id_from(trigger_id))
        if not trigger.is_owned_by(owner_id):
            raise NotFoundError()
        return trigger

    def read_current(self, query: Callable[[ReadViews], T]) -> T:
        """``query`` over read models that include every recorded event."""
        with self.projections.reading_current():
            return query(self.views)

    def trigger_row(self, owner_id: str, trigger_id: str) -> Any:
        return self.read_current(lambda views: owned_row(views, owner_id, trigger_id))

    def list_triggers(
        self, owner_id: str, limit: int | None = None, after: Any = None
    ) -> list[Any]:
        return self.read_current(
            lambda views: views.trigger_list.page_for_owner(owner_id, limit, after)
        )

    def list_firings(self, owner_id: str, **filters: Any) -> list[Any]:
        with self.projections.reading_current():
            return self.event_log.page_for_owner(owner_id, **filters)

    def history(self, owner_id: str, trigger_id: str) -> list[Any]:
        trigger = self.get_trigger(owner_id, trigger_id)
        return list(self.events.get(trigger.id))

    def upcoming(
        self, owner_id: str, trigger_id: str, after: datetime | None, count: int
    ) -> tuple[Trigger, list[FireTime]]:
        trigger = self.get_trigger(owner_id, trigger_id)
        if trigger.status != ACTIVE or trigger.next_due_at is None:
            return trigger, []
        start = after or self.clock()
        if trigger.spec.max_fires is not None:
            count = min(count, trigger.spec.max_fires - trigger.fire_count)
        return trigger, trigger.schedule.upcoming(start, count)

    def close(self) -> None:
        self.loop_reads.close()
        super().close()

    # Internals -------------------------------------------------------------

    def _cache_saved(self, aggregates: Iterable[Any]) -> None:
        """Keep each trigger just saved for its next command or firing.

        The cache holds it as saved: whoever takes it copies it first (the
        store and the batch loader both do) and reads its newer events, so a
        trigger another writer has since passed is caught up, never wrong.
        Without it, the next use would load the trigger again or decode and
        apply the events just saved. A saved trigger is not changed after.
        """
        cache = self.repository.cache
        if cache is None:
            return
        for aggregate in aggregates:
            if isinstance(aggregate, Trigger):
                cache.put(aggregate.id, aggregate)

    def _load(self, trigger_id: UUID) -> Trigger:
        # Drops a copy too old to be caught up, so the store loads afresh.
        cached_since(self.repository.cache, trigger_id, self.cache_cutoff())
        try:
            trigger = self.repository.get(trigger_id)
        except AggregateNotFoundError:
            raise NotFoundError() from None
        except OriginatorVersionError:
            # Events between the cached copy and the store's newest are gone
            # (archived): load from the snapshot compaction took instead.
            self._forget(trigger_id)
            trigger = self.repository.get(trigger_id)
        if not isinstance(trigger, Trigger):
            raise NotFoundError()
        return trigger

    def cache_cutoff(self) -> datetime:
        """Cached copies last changed before this are not used.

        Compaction removes events older than the archive horizon from the
        store, so a copy older than that could be "caught up" across events
        that are no longer there. Half the horizon leaves room for clocks
        that differ between processes.
        """
        return self.clock() - timedelta(seconds=self.settings.archived_log_seconds / 2)

    def _forget(self, aggregate_id: UUID) -> None:
        cache = self.repository.cache
        if cache is not None:
            with contextlib.suppress(KeyError):
                cache.get(aggregate_id, evict=True)

    def _fire_one_due(
        self, trigger: Any, trigger_id: str, due_at: datetime, now: datetime
    ) -> list[Firing] | None:
        """The firings of one due time, or None when there is nothing to save.

        An empty list is not nothing: a misfire policy that skips every
        missed due time records that, and moves the schedule on.
        """
        if not isinstance(trigger, Trigger):
            return None
        try:
            return trigger.fire_due(
                due_at, now, fire_all_limit=self.settings.fire_all_limit
            )
        except (DueTimeAlreadyFulfilledError, NotFoundError):
            return None
        except EventTriggerError:
            log.exception("could not fire", extra={"trigger_id": trigger_id})
            return None

    def _save_each(
        self, due: Sequence[tuple[str, datetime]], now: datetime
    ) -> list[Firing]:
        firings: list[Firing] = []
        for trigger_id, due_at in due:
            try:
                trigger = self._load(UUID(trigger_id))
            except NotFoundError:
                continue
            fired = self._fire_one_due(trigger, trigger_id, due_at, now)
            if fired is None:
                continue
            try:
                self.save(trigger)
            except IntegrityError:
                continue
            firings.extend(fired)
        return firings


class SpecAsRecord(Transcoding):
    """Stores a trigger's spec in snapshots as the same record its events use."""

    type = TriggerSpec
    name = "trigger_spec"

    def encode(self, obj: TriggerSpec) -> dict[str, Any]:
        return spec_to_record(obj)

    def decode(self, data: dict[str, Any]) -> TriggerSpec:
        return spec_from_record(data)


def _create_private_file(path: Path) -> None:
    """Create the database owner-only: it holds password hashes and payloads.

    SQLite gives its -wal and -shm files the database file's permissions.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def _lateness_ms(firing: Firing) -> float | None:
    if firing.due_at is None:
        return None
    return round((firing.fired_at - firing.due_at).total_seconds() * 1000, 1)


def _log_firing(firing: Firing, level: int = logging.INFO) -> None:
    log.log(
        level,
        "trigger fired",
        extra={
            "trigger_id": firing.trigger_id,
            "firing_id": firing.firing_id,
            "reason": firing.reason,
            "due_at": firing.due_at.isoformat() if firing.due_at else None,
            "lateness_ms": _lateness_ms(firing),
        },
    )


def _log_due_firings(firings: Sequence[Firing]) -> None:
    """One line per batch: a line per firing costs as much as recording it,
    and every firing is already in the event log. Each is logged at DEBUG."""
    if not firings:
        return
    if log.isEnabledFor(logging.DEBUG):
        for firing in firings:
            _log_firing(firing, logging.DEBUG)
    lateness = [ms for ms in map(_lateness_ms, firings) if ms is not None]
    log.info(
        "triggers fired",
        extra={
            "count": len(firings),
            "max_lateness_ms": max(lateness) if lateness else None,
        },
    )
