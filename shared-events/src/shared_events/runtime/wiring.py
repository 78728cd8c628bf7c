"""The parts every service wires the same way: engine, consumer, relay, background, `Service`.

A service's `bootstrap()` calls `wire()` with what is its own (its tables, topics, handlers,
metrics and any extra loops), then puts its HTTP app on the `Service` it gets back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from fastapi import FastAPI
from sqlalchemy import Engine, Table, create_engine
from sqlalchemy.orm import Session, sessionmaker

from shared_events.kafka.consuming.consumer import EventConsumer
from shared_events.kafka.consuming.inbox import BatchHandler
from shared_events.kafka.publishing.relay import OutboxRelay
from shared_events.runtime.metrics import ServiceMetrics
from shared_events.runtime.settings import ServiceSettings
from shared_events.runtime.startup import BackgroundWork
from shared_events.runtime.threads import Loop, LoopThreads
from shared_events.topics import dead_letter_topic

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
MetricsT = TypeVar("MetricsT", bound=ServiceMetrics)

CONNECT_TIMEOUT_S = 5
"""An unreachable database fails a connection attempt after this, not after minutes."""

ConsumerFactory = Callable[[SettingsT, sessionmaker[Session]], EventConsumer]
"""Builds a service's event consumer (a test passes one reading topics of its own)."""


@dataclass
class Service(Generic[SettingsT, MetricsT]):
    """One wired process: what `serve` runs (`app` is None when it serves no HTTP API)."""

    settings: SettingsT
    engine: Engine
    session_factory: sessionmaker[Session]
    metrics: MetricsT
    background: BackgroundWork
    app: FastAPI | None = field(default=None)

    @asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        """The app's lifespan: the background loops start with it; when it stops they drain,
        then the pool's connections are closed."""
        async with self.background.running():
            yield
        self.engine.dispose()


def database_engine(settings: ServiceSettings) -> Engine:
    """The service's connection pool, as its own role; connections are checked before use."""
    return create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        pool_pre_ping=True,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_S},
    )


def event_consumer(
    settings: ServiceSettings,
    session_factory: sessionmaker[Session],
    *,
    topics: Sequence[str],
    handlers: Mapping[str, BatchHandler],
    processed_table: Table,
    replayable_types: Collection[str] = (),
) -> EventConsumer:
    """The consumer of `topics` in the service's group, with its batch settings and DLQ."""
    return EventConsumer(
        bootstrap_servers=settings.kafka,
        group_id=settings.consumer_group,
        topics=topics,
        handlers=handlers,
        session_factory=session_factory,
        processed_table=processed_table,
        dead_letter_topic=dead_letter_topic(settings.consumer_group),
        batch_max=settings.consumer_batch_max,
        batch_wait_s=settings.consumer_batch_wait_ms / 1000,
        replayable_types=replayable_types,
    )


def consumer_of(
    *,
    topics: Sequence[str],
    handlers: Mapping[str, BatchHandler],
    processed_table: Table,
    replayable_types: Collection[str] = (),
) -> Callable[[ServiceSettings, sessionmaker[Session]], EventConsumer]:
    """A service's consumer factory (its `default_consumer`): `event_consumer` of its topics,
    dispatch table and inbox, in the group its settings name."""

    def make(settings: ServiceSettings, session_factory: sessionmaker[Session]) -> EventConsumer:
        return event_consumer(
            settings,
            session_factory,
            topics=topics,
            handlers=handlers,
            processed_table=processed_table,
            replayable_types=replayable_types,
        )

    return make


def outbox_relay(settings: ServiceSettings, engine: Engine, outbox: Table) -> OutboxRelay:
    """The relay publishing the service's outbox."""
    return OutboxRelay(
        engine,
        outbox,
        settings.kafka,
        duplicate_every_event=settings.relay_duplicate_every_event,
    )


def wire(
    settings: SettingsT,
    metrics: MetricsT,
    *,
    engine: Engine | None,
    outbox: Table,
    topics: Sequence[str],
    consumer: ConsumerFactory[SettingsT] | None,
    relay: bool,
    loops: Callable[[sessionmaker[Session]], Mapping[str, Loop]] | None = None,
) -> Service[SettingsT, MetricsT]:
    """Engine -> sessions -> consumer and relay (None/False: left to other processes) ->
    background work behind the start-up gate, every part observed by `metrics`."""
    engine = engine or database_engine(settings)
    session_factory = sessionmaker(engine)
    event_consumer_ = consumer(settings, session_factory) if consumer is not None else None
    relay_ = outbox_relay(settings, engine, outbox) if relay else None
    for part in (event_consumer_, relay_):
        if part is not None:
            part.observer = metrics
    metrics.watch_delivery(engine, outbox, settings.kafka, settings.consumer_group, topics)
    threads = LoopThreads(relay_, event_consumer_, loops(session_factory) if loops else None)
    background = BackgroundWork(threads, engine, outbox, settings.kafka)
    return Service(settings, engine, session_factory, metrics, background)
