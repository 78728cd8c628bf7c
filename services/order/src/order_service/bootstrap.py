"""Wiring: settings -> engine, unit of work, consumer, relay, deadline, app; all overridable."""

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.resources import files

from alembic import command
from alembic.config import Config
from fastapi import APIRouter, FastAPI
from sqlalchemy import URL, Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from order_service.api import create_app
from order_service.consumer import HANDLERS, REPLAYABLE, TOPICS
from order_service.deadline import SagaDeadline
from order_service.metrics import Metrics
from order_service.peers import Peers
from order_service.settings import Settings
from order_service.tables import outbox, processed_events
from order_service.ui import DeadLetters, ui_router
from order_service.unit_of_work import SqlUnitOfWork
from shared_events.kafka.consuming.consumer import EventConsumer
from shared_events.kafka.publishing.relay import OutboxRelay
from shared_events.runtime.startup import BackgroundWork
from shared_events.runtime.threads import LoopThreads
from shared_events.topics import dead_letter_topic


@dataclass
class Service:
    """One wired instance: what `serve` runs (the app is None with `--no-api`)."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    background: BackgroundWork
    metrics: Metrics
    app: FastAPI | None = field(default=None)

    def uow(self) -> SqlUnitOfWork:
        """A unit of work owning its transaction (one per HTTP request)."""
        return SqlUnitOfWork(self.session_factory)


def bootstrap(
    settings: Settings,
    *,
    engine: Engine | None = None,
    with_api: bool = True,
    with_consumer: bool = True,
    with_relay: bool = True,
    make_consumer: Callable[[Settings, sessionmaker[Session]], EventConsumer] | None = None,
    make_relay: Callable[[Settings, Engine], OutboxRelay] | None = None,
    with_deadline: bool = True,
) -> Service:
    """Wire one instance; the FastAPI lifespan starts and drains the background parts."""
    engine = engine or create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 5},
    )
    session_factory = sessionmaker(engine)
    metrics = Metrics()
    consumer = (
        (make_consumer or default_consumer)(settings, session_factory) if with_consumer else None
    )
    relay = (make_relay or default_relay)(settings, engine) if with_relay else None
    for part in (consumer, relay):
        if part is not None:
            part.observer = metrics
    metrics.watch_delivery(engine, outbox, settings.kafka, settings.consumer_group, TOPICS)
    metrics.watch_orders(engine)
    metrics.count_sagas_ended(session_factory)
    loops = {"saga-deadline": saga_deadline(settings, session_factory).run} if with_deadline else {}
    background = BackgroundWork(LoopThreads(relay, consumer, loops), engine, outbox, settings.kafka)
    service = Service(settings, engine, session_factory, background, metrics)

    if with_api:
        has_workers = consumer is not None or relay is not None or bool(loops)
        service.app = create_app(
            service.uow,
            background.readiness,
            metrics,
            (lambda _app: background.running()) if has_workers else None,
            pages=operator_pages(settings, service.uow),
            stuck_after_s=settings.saga_stuck_after_s,
        )
    return service


def operator_pages(settings: Settings, uow: Callable[[], SqlUnitOfWork]) -> APIRouter:
    """The /ui pages, reading the peers' APIs and this stack's dead-letter topics."""
    return ui_router(
        uow,
        Peers(settings.payment_url, settings.inventory_url),
        DeadLetters(settings.kafka),
        jaeger_ui_url=settings.jaeger_ui_url,
        stuck_after_s=settings.saga_stuck_after_s,
    )


def default_consumer(settings: Settings, session_factory: sessionmaker[Session]) -> EventConsumer:
    """The EventConsumer of payment-, inventory-events and product-catalog for this group."""
    return EventConsumer(
        bootstrap_servers=settings.kafka,
        group_id=settings.consumer_group,
        topics=TOPICS,
        handlers=HANDLERS,
        session_factory=session_factory,
        processed_table=processed_events,
        dead_letter_topic=dead_letter_topic(settings.consumer_group),
        batch_max=settings.consumer_batch_max,
        batch_wait_s=settings.consumer_batch_wait_ms / 1000,
        replayable_types=REPLAYABLE,
    )


def saga_deadline(settings: Settings, session_factory: sessionmaker[Session]) -> SagaDeadline:
    """The loop cancelling orders still open `ORDER_SAGA_DEADLINE_S` after they were placed."""
    return SagaDeadline(
        lambda: SqlUnitOfWork(session_factory),
        deadline_s=settings.saga_deadline_s,
        every_s=settings.saga_deadline_check_s,
    )


def default_relay(settings: Settings, engine: Engine) -> OutboxRelay:
    """The relay publishing this service's outbox to `order-events`."""
    return OutboxRelay(
        engine,
        outbox,
        settings.kafka,
        duplicate_every_event=settings.relay_duplicate_every_event,
    )


def upgrade_schema(url: URL | str) -> None:
    """Alembic upgrade head of the `orders` schema (migrations ship inside the package)."""
    config = Config()
    config.set_main_option("script_location", str(files("order_service") / "migrations"))
    config.attributes["url"] = url
    command.upgrade(config, "head")


def database_reachable(engine: Engine) -> bool:
    """Whether a trivial query succeeds."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        return False
    return True
