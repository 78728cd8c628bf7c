"""The inventory service's unit of work: one transaction over its repositories and outbox."""

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Self

from sqlalchemy.orm import Session, SessionTransaction

from inventory_service import SERVICE
from inventory_service.db import SqlOrderRepository, SqlProductRepository
from inventory_service.domain import (
    Order,
    Product,
)
from inventory_service.tables import outbox
from shared_events import Envelope, Event, follow_up, new_envelope
from shared_events.kafka.publishing.outbox import Outbox, write_staged


class SqlUnitOfWork:
    """Owns a transaction (HTTP), or rides on an event consumer's session in a savepoint.

    Either way `commit()` stages the events the aggregates recorded in the outbox, in
    the same transaction as the state change; only an owned transaction really commits.
    """

    def __init__(
        self,
        session_factory: Callable[[], Session] | None = None,
        *,
        session: Session | None = None,
        causes: Sequence[Envelope[Event]] = (),
    ) -> None:
        if (session_factory is None) == (session is None):
            raise ValueError("give either a session factory or a session")
        self._factory, self._given = session_factory, session
        self._causes = {cause.correlation_id: cause for cause in causes}
        self._outbox = Outbox(outbox)
        self._tx: SessionTransaction | None = None

    @classmethod
    def riding(cls, session: Session, causes: Sequence[Envelope[Event]]) -> Self:
        """A unit of work in a consumer's batch transaction; an order's new events follow
        the consumed event of that order among `causes`."""
        return cls(session=session, causes=causes)

    def __enter__(self) -> Self:
        if self._given is not None:
            # The consumer owns the transaction: an error rolls back its whole batch.
            self.session = self._given
        else:
            assert self._factory is not None
            self.session = self._factory()
            self._tx = self.session.begin()
        self.products = SqlProductRepository(self.session)
        self.orders = SqlOrderRepository(self.session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._tx is not None and self._tx.is_active:
            self._tx.rollback()
        if self._given is None:
            self.session.close()

    def commit(self) -> None:
        """Stage the recorded events in the outbox; commit when the transaction is ours."""
        aggregates: list[Product | Order] = [*self.products.seen, *self.orders.seen]
        for aggregate in aggregates:
            for event in aggregate.events:
                self._outbox.add(self.session, self._envelope(event))
            aggregate.events.clear()
        if self._tx is not None:
            write_staged(self.session)
            self._tx.commit()

    def _envelope(self, event: Event) -> Envelope[Event]:
        cause = self._causes.get(event.key())
        if cause is not None:
            return follow_up(cause, event, producer=SERVICE)
        return new_envelope(event, producer=SERVICE)
