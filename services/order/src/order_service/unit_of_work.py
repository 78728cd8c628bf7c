"""The order service's unit of work: one transaction over its repositories and outbox."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Final, Self

from sqlalchemy.orm import Session

from order_service.db import (
    OutboxWriter,
    SqlCatalogRepository,
    SqlIdempotencyKeyRepository,
    SqlOrderRepository,
)
from order_service.tables import outbox as outbox_table
from shared_events import CancelReason, Envelope, Event, OrderCancelled, OrderConfirmed
from shared_events.kafka.publishing.outbox import Outbox, write_staged
from shared_events.runtime.after_commit import note

SAGAS_ENDED: Final = "sagas_ended"
"""Where a transaction notes its `SagaEnded` facts; metrics count them once it commits."""

_OUTCOMES: Final = {OrderConfirmed.event_type: "confirmed", OrderCancelled.event_type: "cancelled"}


@dataclass(frozen=True, slots=True)
class SagaEnded:
    """An order reached CONFIRMED or CANCELLED in this transaction."""

    outcome: str  # confirmed | cancelled
    created_at: datetime
    reason: CancelReason | None = None  # why it was cancelled


class SqlUnitOfWork:
    """One transaction: its own (HTTP) or the consumer's batch transaction it rides on.

    `commit()` stages the events recorded by the orders it loaded in the outbox; owning
    its transaction, it then writes them (one statement) and commits. Riding, it leaves
    both to the consumer, which writes everything its batch staged before committing.
    """

    orders: SqlOrderRepository
    catalog: SqlCatalogRepository
    idempotency_keys: SqlIdempotencyKeyRepository

    def __init__(
        self,
        session_factory: Callable[[], Session],
        *,
        outbox: OutboxWriter | None = None,
        owns_transaction: bool = True,
    ) -> None:
        self._open = session_factory
        self._outbox = outbox or Outbox(outbox_table)
        self._owns_transaction = owns_transaction

    @classmethod
    def riding(cls, session: Session, causes: Sequence[Envelope[Event]]) -> Self:
        """A unit of work inside the consumer's batch transaction, which it never commits.

        `causes` (the consumed events) is taken for the signature every service shares; the
        order domain wraps its own follow-up events (`follow_up`), so it needs none of them.
        """
        return cls(lambda: session, owns_transaction=False)

    def __enter__(self) -> Self:
        self.session = self._open()
        self.orders = SqlOrderRepository(self.session)
        self.catalog = SqlCatalogRepository(self.session)
        self.idempotency_keys = SqlIdempotencyKeyRepository(self.session)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._owns_transaction:
            self.session.rollback()  # a no-op after commit; undoes (and unstages) anything else
            self.session.close()

    def commit(self) -> None:
        for order in self.orders.seen():
            for event in order.pending_events:
                self._outbox.add(self.session, event)
                if event.event_type in _OUTCOMES:
                    outcome = _OUTCOMES[event.event_type]
                    reason = order.cancel_reason if outcome == "cancelled" else None
                    note(self.session, SAGAS_ENDED, SagaEnded(outcome, order.created_at, reason))
            order.pending_events.clear()
        if self._owns_transaction:
            write_staged(self.session)
            self.session.commit()
