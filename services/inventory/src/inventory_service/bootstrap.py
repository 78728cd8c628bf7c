"""Wiring: settings -> engine, unit of work, consumer, relay, HTTP app; every part overridable."""

from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import FastAPI
from sqlalchemy import Engine

from inventory_service.api import create_app
from inventory_service.consumer import HANDLERS, TOPICS
from inventory_service.db import create_db_engine, session_factory
from inventory_service.metrics import Metrics
from inventory_service.settings import Settings
from inventory_service.tables import outbox, processed_events
from inventory_service.unit_of_work import SqlUnitOfWork
from shared_events.kafka.consuming.consumer import EventConsumer
from shared_events.kafka.publishing.relay import OutboxRelay
from shared_events.runtime.startup import BackgroundWork
from shared_events.runtime.threads import LoopThreads
from shared_events.topics import dead_letter_topic


@dataclass
class Service:
    """One wired process: its HTTP app (if any) and its background worker."""

    settings: Settings
    engine: Engine
    metrics: Metrics
    background: BackgroundWork
    app: FastAPI | None


def bootstrap(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    api: bool = True,
    consume: bool = True,
    relay: bool = True,
    start_worker_with_app: bool = True,
    metrics: Metrics | None = None,
    topics: Sequence[str] = TOPICS,
) -> Service:
    """Wire a process; `consume`/`relay` off leave those parts out (and out of readiness)."""
    settings = settings or Settings()
    engine = engine or create_db_engine(
        settings.database_url, pool_size=settings.db_pool_size, connect_args={"connect_timeout": 5}
    )
    metrics = metrics or Metrics()
    sessions = session_factory(engine)
    consumer = (
        EventConsumer(
            bootstrap_servers=settings.kafka,
            group_id=settings.consumer_group,
            topics=topics,
            handlers=HANDLERS,
            session_factory=sessions,
            processed_table=processed_events,
            dead_letter_topic=dead_letter_topic(settings.consumer_group),
            batch_max=settings.consumer_batch_max,
            batch_wait_s=settings.consumer_batch_wait_ms / 1000,
            observer=metrics,
        )
        if consume
        else None
    )
    outbox_relay = (
        OutboxRelay(
            engine,
            outbox,
            settings.kafka,
            duplicate_every_event=settings.relay_duplicate_every_event,
            observer=metrics,
        )
        if relay
        else None
    )
    background = BackgroundWork(
        LoopThreads(consumer=consumer, relay=outbox_relay),
        engine,
        outbox,
        settings.kafka,
    )
    metrics.watch_delivery(engine, outbox, settings.kafka, settings.consumer_group, topics)

    app = None
    if api:
        app = create_app(
            lambda: SqlUnitOfWork(sessions),
            readiness=background.readiness,
            metrics=metrics,
            lifespan=(lambda _app: background.running()) if start_worker_with_app else None,
        )
    return Service(
        settings=settings, engine=engine, metrics=metrics, background=background, app=app
    )
