"""The unit of work every service's handlers run in, and the one place events get envelopes.

Aggregates record plain events (`events`). A unit of work's `commit()` wraps each in its
envelope: a follow-up of the consumed event of the same correlation id among `causes` (what
a consumer applies), else a new envelope; the producer is the service. It stages them with
the state change and, when the transaction is its own, commits.

`SessionUnitOfWork` is the SQL one, on either side: built with a session factory it owns its
transaction (HTTP, CLI, timers); `riding(session, causes)` rides on an event consumer's batch
transaction, which it never commits, with no savepoint: an error rolls back the whole batch,
which the consumer then applies one event at a time. The outbox rows it stages carry the
trace context of their cause's span (`shared_events.kafka.tracing`), so `commit()` must run
while the consumer applies the causes, as the handlers do. A service's subclass declares its
repositories (`_start`) and the aggregates they hand out (`_aggregates`); the tests' fakes
subclass `UnitOfWork` the same way.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import ClassVar, Generic, Protocol, Self, TypeVar

from sqlalchemy import Table
from sqlalchemy.orm import Session, SessionTransaction

from shared_events.contracts.event import Event
from shared_events.envelope import Envelope, follow_up, new_envelope
from shared_events.kafka.publishing.outbox import Outbox, write_staged


class Aggregate(Protocol):
    """Records the events its changes cause, for the unit of work to stage and clear."""

    @property
    def events(self) -> list[Event]: ...


A = TypeVar("A", bound=Aggregate)


class Atomic(Protocol):
    """What a handler needs of any unit of work: `with uow:`, then one `commit()`.

    Each service's handlers declare their `UnitOfWork` protocol as this plus its repositories.
    """

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...


class Envelopes:
    """Wraps the events of one unit of work: `producer` on each, caused by `causes`.

    An event follows the consumed event of its own correlation id (its key: the order id
    of a saga event); with none (an HTTP command, a timer) it starts its own chain.
    """

    def __init__(self, producer: str, causes: Iterable[Envelope[Event]] = ()) -> None:
        self.producer = producer
        self._causes = {cause.correlation_id: cause for cause in causes}

    def wrap(self, event: Event) -> Envelope[Event]:
        """The envelope `event` goes out in."""
        cause = self._causes.get(event.key())
        if cause is None:
            return new_envelope(event, producer=self.producer)
        return follow_up(cause, event, producer=self.producer)


class UnitOfWork(ABC, Generic[A]):
    """One atomic change: `commit()` persists it and stages the envelopes of the events the
    aggregates recorded, together; where they go, and `with`, are the subclass's."""

    service: ClassVar[str]
    """The producer stamped on every envelope."""

    def __init__(self, *, causes: Sequence[Envelope[Event]] = ()) -> None:
        self._envelopes = Envelopes(self.service, causes)

    def commit(self) -> None:
        """Persist what changed and stage the events it caused; commit if the transaction
        is this unit of work's own."""
        envelopes: list[Envelope[Event]] = []
        for aggregate in self._aggregates():
            for event in aggregate.events:
                envelope = self._envelopes.wrap(event)
                self._caused(aggregate, envelope)
                envelopes.append(envelope)
            aggregate.events.clear()
        self._persist()
        self._stage(envelopes)
        self._finish()

    @abstractmethod
    def _aggregates(self) -> Iterable[A]:
        """The aggregates the repositories handed out or were given, in that order."""

    def _caused(self, aggregate: A, envelope: Envelope[Event]) -> None:
        """`aggregate` caused `envelope` (before `_persist`): e.g. note it in its history."""

    def _persist(self) -> None:
        """Write what the repositories keep until the commit (nothing, unless overridden)."""

    @abstractmethod
    def _stage(self, envelopes: Sequence[Envelope[Event]]) -> None:
        """Put the envelopes in the outbox, in the transaction of the state change."""

    @abstractmethod
    def _finish(self) -> None:
        """End the commit: commit the transaction if it is this unit of work's own."""


class SessionUnitOfWork(UnitOfWork[A]):
    """A unit of work on a SQLAlchemy session, staging in the service's transactional outbox."""

    outbox: ClassVar[Table]
    """The service's outbox table."""

    session: Session

    def __init__(
        self,
        session_factory: Callable[[], Session],
        *,
        causes: Sequence[Envelope[Event]] = (),
        owns_transaction: bool = True,
    ) -> None:
        super().__init__(causes=causes)
        self._open = session_factory
        self._owns_transaction = owns_transaction
        self._transaction: SessionTransaction | None = None
        self._outbox = Outbox(self.outbox)

    @classmethod
    def riding(cls, session: Session, causes: Sequence[Envelope[Event]]) -> Self:
        """A unit of work in an event consumer's batch transaction, which it never commits
        (the consumer writes what its batch staged, then commits); an aggregate's events
        follow the consumed event of the same correlation id among `causes`."""
        return cls(lambda: session, causes=causes, owns_transaction=False)

    def __enter__(self) -> Self:
        self.session = self._open()
        if self._owns_transaction:
            self._transaction = self.session.begin()
        self._start(self.session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._owns_transaction:
            return
        if self._transaction is not None and self._transaction.is_active:
            self._transaction.rollback()  # and with it whatever the outbox staged
        self._transaction = None
        self.session.close()

    @abstractmethod
    def _start(self, session: Session) -> None:
        """Open the repositories on `session`."""

    def _stage(self, envelopes: Sequence[Envelope[Event]]) -> None:
        for envelope in envelopes:
            self._outbox.add(self.session, envelope)

    def _finish(self) -> None:
        if self._transaction is not None:
            write_staged(self.session)
            self._transaction.commit()
