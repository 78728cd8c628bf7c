"""The order service's unit of work: one transaction over its repositories and outbox."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy.orm import Session

from order_service import SERVICE, tables
from order_service.db import SqlCatalogRepository, SqlIdempotencyKeyRepository, SqlOrderRepository
from order_service.domain import Order
from shared_events import CancelReason, Envelope, Event, OrderCancelled, OrderConfirmed
from shared_events.runtime.after_commit import note
from shared_events.runtime.unit_of_work import SessionUnitOfWork

SAGAS_ENDED: Final = "sagas_ended"
"""Where a transaction notes its `SagaEnded` facts; metrics count them once it commits."""

_OUTCOMES: Final = {OrderConfirmed.event_type: "confirmed", OrderCancelled.event_type: "cancelled"}


@dataclass(frozen=True, slots=True)
class SagaEnded:
    """An order reached CONFIRMED or CANCELLED in this transaction."""

    outcome: str  # confirmed | cancelled
    created_at: datetime
    reason: CancelReason | None = None  # why it was cancelled


class SqlUnitOfWork(SessionUnitOfWork[Order]):
    """Orders, the local catalog and idempotency keys; the orders write at commit, after
    each has the events it caused in its history."""

    service = SERVICE
    outbox = tables.outbox

    orders: SqlOrderRepository
    catalog: SqlCatalogRepository
    idempotency_keys: SqlIdempotencyKeyRepository

    def _start(self, session: Session) -> None:
        self.orders = SqlOrderRepository(session)
        self.catalog = SqlCatalogRepository(session)
        self.idempotency_keys = SqlIdempotencyKeyRepository(session)

    def _aggregates(self) -> Iterable[Order]:
        return self.orders.seen()

    def _caused(self, order: Order, envelope: Envelope[Event]) -> None:
        order.caused(envelope)
        outcome = _OUTCOMES.get(envelope.event_type)
        if outcome is not None:
            reason = order.cancel_reason if outcome == "cancelled" else None
            note(self.session, SAGAS_ENDED, SagaEnded(outcome, order.created_at, reason))

    def _persist(self) -> None:
        self.orders.persist()
