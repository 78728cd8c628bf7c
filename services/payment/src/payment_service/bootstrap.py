"""Wiring: settings -> engine, unit of work, consumer, relay, HTTP app; and migrations."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from payment_service.api import create_app
from payment_service.consumer import HANDLERS, TOPICS
from payment_service.handlers import UnitOfWork
from payment_service.metrics import Metrics
from payment_service.settings import Settings
from payment_service.tables import outbox, processed_events
from payment_service.unit_of_work import SqlUnitOfWork
from shared_events.kafka.consuming.consumer import EventConsumer
from shared_events.kafka.publishing.relay import OutboxRelay
from shared_events.runtime.startup import BackgroundWork
from shared_events.runtime.threads import LoopThreads
from shared_events.topics import dead_letter_topic

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class Service:
    """The wired service: `app` serves HTTP; `background` runs the consumer and relay threads."""

    engine: Engine
    session_factory: sessionmaker[Session]
    background: BackgroundWork
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
    metrics = Metrics()
    event_consumer = (
        EventConsumer(
            bootstrap_servers=settings.kafka,
            group_id=settings.consumer_group,
            topics=TOPICS,
            handlers=HANDLERS,
            session_factory=session_factory,
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
        LoopThreads(outbox_relay, event_consumer),
        engine,
        outbox,
        settings.kafka,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Serve /health at once; the loops start when PostgreSQL and Kafka answer.
        async with background.running():
            yield
        engine.dispose()

    metrics.watch_delivery(engine, outbox, settings.kafka, settings.consumer_group, TOPICS)
    app = create_app(
        uow_factory or (lambda: SqlUnitOfWork(session_factory)),
        background.readiness,
        lifespan=lifespan,
        metrics=metrics,
    )
    return Service(engine, session_factory, background, app)


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
