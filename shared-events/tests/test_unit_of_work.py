"""The services' shared unit of work: envelopes built in one place, and when it commits."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Self

import pytest
from sqlalchemy import MetaData, Table, func, select
from sqlalchemy.orm import Session

from shared_events import Envelope, Event, EventRegistry, new_envelope
from shared_events.kafka import decode
from shared_events.kafka.publishing.outbox import write_staged
from shared_events.kafka.tables import outbox_table
from shared_events.runtime.unit_of_work import Envelopes, SessionUnitOfWork, UnitOfWork


class Step(Event):
    event_type: ClassVar[str] = "UnitOfWorkProbe"
    event_version: ClassVar[int] = 1
    topic: ClassVar[str] = "t-unit-of-work"
    ref: str

    def key(self) -> str:
        return self.ref


@dataclass(eq=False)
class Thing:
    """An aggregate: records plain events, as the services' domains do."""

    ref: str
    events: list[Event] = field(default_factory=list)
    history: list[Envelope[Event]] = field(default_factory=list)

    def step(self) -> None:
        self.events.append(Step(ref=self.ref))


def consumed(ref: str) -> Envelope[Event]:
    return new_envelope(Step(ref=ref), producer="upstream")


def test_an_event_follows_the_consumed_event_of_its_correlation_id() -> None:
    a, b = consumed("a"), consumed("b")

    envelope = Envelopes("svc", [a, b]).wrap(Step(ref="b"))

    assert (envelope.correlation_id, envelope.causation_id) == ("b", b.event_id)
    assert envelope.producer.service == "svc"
    assert envelope.event_id != b.event_id


def test_an_event_without_a_consumed_cause_starts_its_own_chain() -> None:
    envelope = Envelopes("svc", [consumed("a")]).wrap(Step(ref="z"))

    assert (envelope.correlation_id, envelope.causation_id) == ("z", None)
    assert envelope.producer.service == "svc"


class Recording(UnitOfWork[Thing]):
    """A unit of work that only says what its commit did, in order."""

    service = "svc"

    def __init__(self, things: list[Thing], causes: Sequence[Envelope[Event]] = ()) -> None:
        super().__init__(causes=causes)
        self.things = things
        self.calls: list[str] = []
        self.staged: list[Envelope[Event]] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pass

    def _aggregates(self) -> Iterable[Thing]:
        return self.things

    def _caused(self, aggregate: Thing, envelope: Envelope[Event]) -> None:
        aggregate.history.append(envelope)
        self.calls.append(f"caused {aggregate.ref}")

    def _persist(self) -> None:
        self.calls.append("persist")

    def _stage(self, envelopes: Sequence[Envelope[Event]]) -> None:
        self.staged.extend(envelopes)
        self.calls.append("stage")

    def _finish(self) -> None:
        self.calls.append("finish")


def test_commit_wraps_every_recorded_event_once_before_persisting_and_staging() -> None:
    a, b = Thing("a"), Thing("b")
    a.step()
    b.step()
    b.step()
    cause = consumed("b")
    uow = Recording([a, b], causes=[cause])

    with uow:
        uow.commit()
        uow.commit()  # nothing new recorded: nothing staged twice

    assert uow.calls == [
        *["caused a", "caused b", "caused b", "persist", "stage", "finish"],
        *["persist", "stage", "finish"],
    ]
    assert [e.correlation_id for e in uow.staged] == ["a", "b", "b"]
    assert [e.causation_id for e in uow.staged] == [None, cause.event_id, cause.event_id]
    assert a.history == uow.staged[:1] and b.history == uow.staged[1:]
    assert a.events == b.events == []


class Things:
    """A repository of nothing but the aggregates it is given."""

    def __init__(self) -> None:
        self.seen: list[Thing] = []


OUTBOX = outbox_table(MetaData(), "unused")
REGISTRY = EventRegistry([Step])


class SqlThings(SessionUnitOfWork[Thing]):
    service = "svc"
    outbox: ClassVar[Table] = OUTBOX

    def _start(self, session: Session) -> None:
        self.things = Things()

    def _aggregates(self) -> Iterable[Thing]:
        return self.things.seen


def test_riding_never_begins_nor_ends_the_consumer_s_transaction() -> None:
    with Session() as session:
        with SqlThings.riding(session, [consumed("a")]) as uow:
            thing = Thing("a")
            thing.step()
            uow.things.seen.append(thing)
            uow.commit()
            assert uow.session is session

        assert not session.in_transaction()


def test_leaving_an_owned_unit_of_work_without_commit_rolls_back_and_closes() -> None:
    sessions: list[Session] = []

    def open_session() -> Session:
        sessions.append(Session())
        return sessions[-1]

    with pytest.raises(RuntimeError), SqlThings(open_session) as uow:
        assert uow.session.in_transaction()
        raise RuntimeError("handler failed")

    [session] = sessions
    assert not session.in_transaction()


# -- against PostgreSQL --------------------------------------------------------------------


class DbThings(SessionUnitOfWork[Thing]):
    service = "svc"

    def _start(self, session: Session) -> None:
        self.things = Things()

    def _aggregates(self) -> Iterable[Thing]:
        return self.things.seen


def _bound(db: Any) -> type[DbThings]:
    class Bound(DbThings):
        outbox = db.outbox

    return Bound


def _rows(db: Any) -> list[Envelope[Event]]:
    outbox = db.outbox
    with db.sessions() as session:
        values = session.scalars(select(outbox.c.value).order_by(outbox.c.id))
        return [decode(value, registry=REGISTRY) for value in values]


@pytest.mark.integration
def test_an_owned_unit_of_work_commits_its_events_with_its_change(db: Any) -> None:
    uow = _bound(db)(db.sessions)
    with uow:
        thing = Thing("a")
        thing.step()
        uow.things.seen.append(thing)
        uow.commit()

    [row] = _rows(db)
    assert (row.correlation_id, row.causation_id, row.producer.service) == ("a", None, "svc")


@pytest.mark.integration
def test_an_owned_unit_of_work_left_uncommitted_writes_nothing(db: Any) -> None:
    uow = _bound(db)(db.sessions)
    with uow:
        thing = Thing("a")
        thing.step()
        uow.things.seen.append(thing)

    assert _rows(db) == []


@pytest.mark.integration
def test_a_riding_unit_of_work_leaves_writing_and_committing_to_the_consumer(db: Any) -> None:
    causes = [consumed("a"), consumed("b")]
    outbox = db.outbox
    with db.sessions() as session, session.begin():
        with _bound(db).riding(session, causes) as uow:
            for ref in ("b", "a"):
                thing = Thing(ref)
                thing.step()
                uow.things.seen.append(thing)
            uow.commit()
        assert session.scalar(select(func.count()).select_from(outbox)) == 0
        assert write_staged(session) == 2

    rows = _rows(db)
    assert [(e.correlation_id, e.causation_id) for e in rows] == [
        ("b", causes[1].event_id),
        ("a", causes[0].event_id),
    ]
