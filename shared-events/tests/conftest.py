"""Fixtures of the Kafka binding tests: a throwaway schema and topics per test, probe events."""

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from sqlalchemy import Column, Engine, Integer, MetaData, Table, Text, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from shared_events import Envelope, Event, EventRegistry, new_envelope
from shared_events.kafka.codec import encode
from shared_events.kafka.consuming.backoff import Backoff
from shared_events.kafka.consuming.consumer import EventConsumer
from shared_events.kafka.tables import event_tables

WAIT_S = 30.0
FAST_RETRY = Backoff(initial_s=0.05, max_s=0.2)
RawRecord = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]


class ProbeEvent(Event):
    """A test event: `ref` is the key, `seq` the order within a key."""

    ref: str
    seq: int = 0

    def key(self) -> str:
        return self.ref


def probe_model(topic: str, event_type: str = "Probe") -> type[ProbeEvent]:
    """A probe event model published on `topic` (each test has its own topics)."""
    topic_name = topic

    class Probe(ProbeEvent):
        event_type: ClassVar[str] = "Probe"
        event_version: ClassVar[int] = 1
        topic: ClassVar[str] = topic_name

    Probe.event_type = event_type
    return Probe


class Db:
    """One test's schema: its delivery tables, an `effects` table, and a session factory."""

    def __init__(self, engine: Engine, schema: str) -> None:
        self.engine = engine
        self.schema = schema
        metadata = MetaData()
        self.outbox, self.processed = event_tables(schema, metadata)
        self.effects = Table(
            "effects",
            metadata,
            Column("event_id", Text, nullable=False),
            Column("seq", Integer, nullable=False),
            schema=schema,
        )
        metadata.create_all(engine)
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    def scalar(self, sql: str) -> Any:
        """Run one query (`{s}` stands for the schema) and return the first column."""
        with self.engine.connect() as conn:
            return conn.execute(text(sql.format(s=self.schema))).scalar()

    def record_effect(self, envelope: Envelope[Event], session: Session) -> None:
        """The effect of one event: one row in `effects`."""
        self.record_effects([envelope], session)

    def record_effects(self, envelopes: Sequence[Envelope[Event]], session: Session) -> None:
        """A set-based handler whose effect is one row in `effects` per event."""
        rows = [
            {"event_id": str(e.event_id), "seq": getattr(e.payload, "seq", 0)} for e in envelopes
        ]
        if rows:
            session.execute(self.effects.insert(), rows)


EventHandler = Callable[[Envelope[Event], Session], None]


def each(handler: EventHandler) -> Callable[[Sequence[Envelope[Event]], Session], None]:
    """A batch handler that hands its events to `handler` one by one, in order."""

    def handle(envelopes: Sequence[Envelope[Event]], session: Session) -> None:
        for envelope in envelopes:
            handler(envelope, session)

    return handle


@pytest.fixture(scope="session")
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    engine = create_engine(make_url(postgres_url).set(drivername="postgresql+psycopg"))
    yield engine
    engine.dispose()


@pytest.fixture
def db(pg_engine: Engine) -> Iterator[Db]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with pg_engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield Db(pg_engine, schema)
    with pg_engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def new_topic(kafka_bootstrap: str) -> Iterator[Callable[..., str]]:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    created: list[str] = []

    def create(prefix: str = "t", partitions: int = 3) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        futures = admin.create_topics([NewTopic(name, num_partitions=partitions)])
        futures[name].result(timeout=WAIT_S)
        created.append(name)
        return name

    yield create
    if created:
        for future in admin.delete_topics(created).values():
            future.result(timeout=WAIT_S)


def read_topic(bootstrap: str, topic: str, count: int, timeout_s: float = WAIT_S) -> list[Message]:
    """Read `count` records of a topic from its beginning (fewer if the timeout passes)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    messages: list[Message] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(messages) < count and time.monotonic() < deadline:
            for message in consumer.consume(count - len(messages), 0.5):
                if message.error() is None:
                    messages.append(message)
    finally:
        consumer.close()
    return messages


def wait_for(condition: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    """Poll `condition` until it holds; fail the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout_s}s")
        time.sleep(0.05)


class Loop:
    """A `run(stop)` loop in a thread, stopped (and joined) by `stop()`."""

    def __init__(self, run: Callable[[threading.Event], None]) -> None:
        self.stop_event = threading.Event()
        self.error: BaseException | None = None

        def target() -> None:
            try:
                run(self.stop_event)
            except BaseException as error:  # kept for the test to inspect
                self.error = error

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def stop(self, timeout_s: float = WAIT_S) -> None:
        self.stop_event.set()
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), "loop did not stop"


def envelopes(model: type[ProbeEvent], refs: list[str]) -> list[Envelope[Event]]:
    """One probe envelope per ref, numbered in order per ref."""
    counters: dict[str, int] = {}
    result: list[Envelope[Event]] = []
    for ref in refs:
        counters[ref] = counters.get(ref, 0) + 1
        result.append(new_envelope(model(ref=ref, seq=counters[ref]), producer="test"))
    return result


class Kit:
    """Test helpers bound to the broker (test modules cannot import conftest)."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.wait_for = wait_for
        self.envelopes = envelopes
        self.each = each
        self.probe_model = probe_model
        self.loop = Loop

    def read_topic(self, topic: str, count: int, timeout_s: float = WAIT_S) -> list[Message]:
        """Read `count` records of `topic` from its beginning."""
        return read_topic(self.bootstrap, topic, count, timeout_s)

    def consumer(
        self,
        db: Db,
        topic: str,
        dead_letters: str,
        handlers: dict[str, Any],
        cls: type[EventConsumer] = EventConsumer,
        **options: Any,
    ) -> EventConsumer:
        """A consumer of `topic` in group `g-<topic>` applying to `db`, retrying fast."""
        return cls(
            bootstrap_servers=self.bootstrap,
            group_id=options.pop("group_id", f"g-{topic}"),
            topics=[topic],
            handlers=handlers,
            session_factory=db.sessions,
            processed_table=db.processed,
            dead_letter_topic=dead_letters,
            retry_backoff=options.pop("retry_backoff", FAST_RETRY),
            outage_backoff=options.pop("outage_backoff", FAST_RETRY),
            **options,
        )

    @staticmethod
    def record(envelope: Envelope[Event]) -> RawRecord:
        """An envelope as the (key, value, headers) the codec writes."""
        record = encode(envelope)
        return record.key, record.value, record.headers

    def produce(
        self,
        topic: str,
        records: list[RawRecord],
        *,
        partitions: list[int] | None = None,
        **config: Any,
    ) -> None:
        """Publish raw records (the n-th to `partitions[n]` when given, else by key)."""
        producer = Producer(
            {"bootstrap.servers": self.bootstrap, "enable.idempotence": True, **config}
        )
        for n, (key, value, headers) in enumerate(records):
            where = {} if partitions is None else {"partition": partitions[n]}
            producer.produce(topic, value=value, key=key, headers=headers, **where)
        assert producer.flush(30) == 0

    def committed_offset(self, group: str, topic: str, partition: int = 0) -> int:
        """The offset `group` has committed on one partition of `topic`."""
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group})
        try:
            [tp] = consumer.committed([TopicPartition(topic, partition)], timeout=10)
            return int(tp.offset)
        finally:
            consumer.close()

    def topic_size(self, topic: str) -> int:
        """How many records a topic holds: the sum of its partitions' high watermarks."""
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "watermarks"})
        try:
            partitions = consumer.list_topics(topic, timeout=WAIT_S).topics[topic].partitions
            return sum(
                consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=WAIT_S)[1]
                for p in partitions
            )
        finally:
            consumer.close()

    def registry(self, *models: type[Event]) -> EventRegistry:
        """A registry of just these models."""
        return EventRegistry(models)


@pytest.fixture
def kit(kafka_bootstrap: str) -> Kit:
    return Kit(kafka_bootstrap)
