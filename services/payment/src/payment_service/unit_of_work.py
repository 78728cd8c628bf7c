"""The payment service's unit of work: one transaction over its repositories and outbox."""

from collections.abc import Sequence
from types import TracebackType
from typing import Self

from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from payment_service.db import SqlAccounts, SqlOrders
from payment_service.envelopes import Causes
from payment_service.tables import outbox
from shared_events import Envelope, Event
from shared_events.kafka.publishing.outbox import Outbox, write_staged


class SqlUnitOfWork:
    """A transaction on the payments schema whose commit also writes the outbox.

    Built with a session factory it owns its transaction (HTTP). `riding(session, causes)`
    rides on an event consumer's batch transaction instead: it never commits the session
    (the consumer writes the staged outbox rows and commits), and an order's events become
    follow-ups of the consumed event of that order among `causes`.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session] | None = None,
        *,
        session: Session | None = None,
        causes: Sequence[Envelope[Event]] = (),
    ) -> None:
        if (session_factory is None) == (session is None):
            raise ValueError("give either a session factory or a session to ride on")
        self._factory = session_factory
        self._riding = session
        self._causes = Causes(causes)
        self._outbox = Outbox(outbox)
        self._transaction: SessionTransaction | None = None

    @classmethod
    def riding(cls, session: Session, causes: Sequence[Envelope[Event]]) -> Self:
        """A unit of work inside an event consumer's batch transaction."""
        return cls(session=session, causes=causes)

    def __enter__(self) -> Self:
        if self._riding is not None:
            # No savepoint: an error rolls back the consumer's whole batch, which it then
            # applies one event at a time.
            self.session = self._riding
        else:
            assert self._factory is not None
            self.session = self._factory()
            self._transaction = self.session.begin()
        self.accounts = SqlAccounts(self.session)
        self.orders = SqlOrders(self.session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._transaction is None:
            return
        if self._transaction.is_active:
            self._transaction.rollback()  # and with it whatever the outbox staged
        self.session.close()
        self._transaction = None

    def commit(self) -> None:
        """Persist what changed and stage the events it caused, in the same transaction."""
        self.accounts.persist()
        self.orders.persist()
        for order in self.orders.seen.values():
            for envelope in self._causes.envelopes(order.events):
                self._outbox.add(self.session, envelope)
            order.events.clear()
        if self._transaction is not None:
            write_staged(self.session)
            self._transaction.commit()
