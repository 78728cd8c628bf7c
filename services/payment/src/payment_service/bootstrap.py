"""Wiring: settings -> engine, unit of work, consumer, relay, HTTP app; and migrations."""

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from payment_service.api import create_app
from payment_service.consumer import HANDLERS, TOPICS
from payment_service.db import outbox, processed_events
from payment_service.handlers import UnitOfWork
from payment_service.repository import SqlUnitOfWork
from payment_service.settings import Settings
from shared_events.kafka.consumer import EventConsumer
from shared_events.kafka.relay import OutboxRelay
from shared_events.kafka.worker import DeliveryWorker
from shared_events.topics import dead_letter_topic

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class Service:
    """The wired service: `app` serves HTTP; `worker` runs the consumer and relay threads."""

    engine: Engine
    session_factory: sessionmaker[Session]
    worker: DeliveryWorker
    app: FastAPI


def make_engine(settings: Settings) -> Engine:
    """The service's connection pool, failing fast when the database is unreachable."""
    return create_engine(
        settings.database_url, pool_pre_ping=True, connect_args={"connect_timeout": 5}
    )


def bootstrap(
    settings: Settings,
    *,
    engine: Engine | None = None,
    consume: bool = True,
    relay: bool = True,
    uow_factory: Callable[[], UnitOfWork] | None = None,
) -> Service:
    """Build the service; `consume`/`relay` False leave those roles to other processes."""
    engine = engine or make_engine(settings)
    session_factory = sessionmaker(engine)
    event_consumer = (
        EventConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=settings.consumer_group,
            topics=TOPICS,
            handlers=HANDLERS,
            session_factory=session_factory,
            processed_table=processed_events,
            dead_letter_topic=dead_letter_topic(settings.consumer_group),
        )
        if consume
        else None
    )
    outbox_relay = OutboxRelay(engine, outbox, settings.kafka_bootstrap_servers) if relay else None
    worker = DeliveryWorker(outbox_relay, event_consumer)

    def readiness() -> dict[str, bool]:
        parts = {"database": database_problem(engine) is None}
        if event_consumer is not None:
            parts["consumer"] = worker.alive and event_consumer.assigned and event_consumer.healthy
        if outbox_relay is not None:
            parts["relay"] = worker.alive and outbox_relay.running
        return parts

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if event_consumer is not None or outbox_relay is not None:
            worker.start()
        try:
            yield
        finally:
            worker.stop()
            engine.dispose()

    delivery_metrics = CollectorRegistry(auto_describe=True)
    delivery_metrics.register(DeliveryMetrics(event_consumer, outbox_relay))
    app = create_app(
        uow_factory or (lambda: SqlUnitOfWork(session_factory)),
        readiness,
        lifespan=lifespan,
        extra_metrics=delivery_metrics,
    )
    return Service(engine, session_factory, worker, app)


class DeliveryMetrics(Collector):
    """The relay's and the consumer's own counts, read at scrape time."""

    def __init__(self, consumer: EventConsumer | None, relay: OutboxRelay | None) -> None:
        self.consumer = consumer
        self.relay = relay

    def collect(self) -> Iterator[Metric]:
        if self.relay is not None:
            yield CounterMetricFamily(
                "payment_outbox_published", "Outbox rows the relay published", self.relay.published
            )
        if self.consumer is not None:
            messages = CounterMetricFamily(
                "payment_consumer_messages", "Consumed messages by outcome", labels=["outcome"]
            )
            consumer = self.consumer
            messages.add_metric(["processed"], consumer.processed)
            messages.add_metric(["duplicate"], consumer.duplicates)
            messages.add_metric(["skipped"], consumer.skipped)
            messages.add_metric(["dead_lettered"], consumer.dead_lettered)
            yield messages


def database_problem(engine: Engine) -> str | None:
    """Why a trivial query fails (first line of the driver's message), or None if it works."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except DBAPIError as error:
        lines = str(error.orig or error).strip().splitlines()
        return lines[0] if lines else type(error).__name__
    return None


def alembic_config(settings: Settings | None = None) -> Config:
    """Alembic configured in code: scripts inside the package, versions in our schema."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if settings is not None:
        url = settings.database_url.render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(settings: Settings, revision: str = "head") -> None:
    """Upgrade the payments schema to `revision`, connected as the service's role."""
    engine = make_engine(settings)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()
