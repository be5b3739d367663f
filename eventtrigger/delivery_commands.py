"""The application service's commands and queries for webhook delivery.

``TriggerService`` takes these in as a base class: they record events only
through the service's own ``save``, like every other command.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from domain.delivery import AttemptResult, Delivery, RetryPolicy
from domain.errors import ConflictError, InvalidInputError
from eventtrigger.clock import Clock
from eventtrigger.settings import PREFIX, Settings
from eventtrigger.signing import SigningKeys, SigningSecret
from eventtrigger.targets import literal_refusal
from projections.deliveries import DeliveriesView

if TYPE_CHECKING:
    from domain.trigger import Trigger

log = logging.getLogger(__name__)


class DeliveryCommands:
    """Signing secrets, the outbox, and the record of delivery attempts."""

    settings: Settings
    clock: Clock
    deliveries: DeliveriesView
    signing: SigningKeys
    repository: Any
    events: Any
    projections: Any
    # Also save() and get_trigger(), from TriggerService.

    # Endpoints -----------------------------------------------------------

    def check_endpoint_target(self, endpoint: str | None) -> None:
        """Refuse now an endpoint whose literal address no delivery could reach."""
        if endpoint is None or self.settings.allow_private_targets:
            return
        reason = literal_refusal(endpoint)
        if reason is not None:
            raise InvalidInputError(
                f"api_endpoint is refused: {reason}; set "
                f"{PREFIX}ALLOW_PRIVATE_TARGETS to deliver there",
                field="api_endpoint",
            )

    # Signing secrets -----------------------------------------------------

    def signing_secret(self, owner_id: str, trigger_id: str) -> SigningSecret:
        trigger = self.get_trigger(owner_id, trigger_id)
        return self._secret_of(trigger)

    def rotate_signing_secret(self, owner_id: str, trigger_id: str) -> SigningSecret:
        trigger = self.get_trigger(owner_id, trigger_id)
        generation = trigger.rotate_signing_secret(owner_id, self.clock())
        self.save(trigger)
        log.info(
            "signing secret rotated",
            extra={"trigger_id": trigger.trigger_id, "generation": generation},
        )
        return self._secret_of(trigger)

    def secrets_for_delivery(self, row: Any, now: datetime) -> list[str]:
        """The secrets that sign a request for an outbox row sent now."""
        rotated_at = row["rotated_at"]
        return self.signing.secrets_in_use(
            row["trigger_id"],
            int(row["generation"]),
            datetime.fromisoformat(rotated_at) if rotated_at else None,
            now,
        )

    # The outbox ----------------------------------------------------------

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            base_seconds=self.settings.delivery_backoff_base_seconds,
            cap_seconds=self.settings.delivery_backoff_cap_seconds,
            max_attempts=self.settings.delivery_max_attempts,
        )

    def due_deliveries(self, limit: int) -> tuple[list[Any], datetime | None]:
        """Deliveries due now, at most ``limit``, and when the next one is due."""
        self.projections.catch_up()
        now = self.clock()
        return self.deliveries.due(now, limit), self.deliveries.next_attempt_after(now)

    def record_delivery_attempt(
        self,
        row: Any,
        attempt: int,
        started_at: datetime,
        result: AttemptResult,
        fraction: float,
    ) -> str | None:
        """Record one attempt; answer the outcome, or None when another
        worker recorded this attempt first."""
        delivery = self._delivery_for(row, started_at)
        try:
            outcome = delivery.record_attempt(
                attempt, started_at, result, self.retry_policy, fraction
            )
            self.save(delivery)
        except (ConflictError, IntegrityError):
            log.info(
                "delivery attempt already recorded",
                extra={"firing_id": row["firing_id"], "attempt": attempt},
            )
            return None
        return outcome

    def delivery_states(self, firing_ids: Sequence[str]) -> dict[str, Any]:
        """Outbox rows by firing id; a firing without an endpoint has none."""
        self.projections.catch_up()
        return self.deliveries.for_firings(firing_ids)

    def delivery_history(
        self, owner_id: str, trigger_id: str
    ) -> list[tuple[Any, list[Any]]]:
        """Each delivery of the trigger's firings, with its recorded events."""
        trigger = self.get_trigger(owner_id, trigger_id)
        self.projections.catch_up()
        return [
            (row, list(self.events.get(Delivery.id_for(row["firing_id"]))))
            for row in self.deliveries.for_trigger(trigger.trigger_id)
        ]

    # Internals -----------------------------------------------------------

    def _secret_of(self, trigger: Trigger) -> SigningSecret:
        return self.signing.current(
            trigger.trigger_id,
            trigger.signing_generation,
            trigger.signing_rotated_at,
            self.clock(),
        )

    def _delivery_for(self, row: Any, now: datetime) -> Delivery:
        try:
            delivery = self.repository.get(Delivery.id_for(row["firing_id"]))
        except AggregateNotFoundError:
            return Delivery.open(
                row["firing_id"], row["trigger_id"], row["endpoint"], now
            )
        assert isinstance(delivery, Delivery)
        return delivery
