"""Wiring: settings -> engine -> unit of work -> consumer/relay/deadline -> app; overridable."""

from collections.abc import Callable

from fastapi import APIRouter
from sqlalchemy import Engine
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
from shared_events.runtime import wiring
from shared_events.runtime.wiring import ConsumerFactory, consumer_of, wire

Service = wiring.Service[Settings, Metrics]


def bootstrap(
    settings: Settings,
    *,
    engine: Engine | None = None,
    api: bool = True,
    consume: bool = True,
    relay: bool = True,
    make_consumer: ConsumerFactory[Settings] | None = None,
) -> Service:
    """Wire one process; the parts switched off are left to other processes (and readiness)."""
    service = wire(
        settings,
        Metrics(),
        engine=engine,
        outbox=outbox,
        topics=TOPICS,
        consumer=(make_consumer or default_consumer) if consume else None,
        relay=relay,
        loops=lambda sessions: {"saga-deadline": saga_deadline(settings, sessions).run},
    )
    service.metrics.watch_orders(service.engine)
    service.metrics.count_sagas_ended(service.session_factory)
    if api:

        def uow() -> SqlUnitOfWork:
            return SqlUnitOfWork(service.session_factory)

        service.app = create_app(
            uow,
            readiness=service.background.readiness,
            metrics=service.metrics,
            lifespan=service.lifespan,
            pages=operator_pages(settings, uow),
            stuck_after_s=settings.saga_stuck_after_s,
        )
    return service


default_consumer = consumer_of(
    topics=TOPICS,
    handlers=HANDLERS,
    processed_table=processed_events,
    replayable_types=REPLAYABLE,
)
"""The consumer of payment-, inventory-events and product-catalog in the service's group."""


def saga_deadline(settings: Settings, session_factory: sessionmaker[Session]) -> SagaDeadline:
    """The loop cancelling orders still open `ORDER_SAGA_DEADLINE_S` after they were placed."""
    return SagaDeadline(
        lambda: SqlUnitOfWork(session_factory),
        deadline_s=settings.saga_deadline_s,
        every_s=settings.saga_deadline_check_s,
    )


def operator_pages(settings: Settings, uow: Callable[[], SqlUnitOfWork]) -> APIRouter:
    """The /ui pages, reading the peers' APIs and this stack's dead-letter topics."""
    return ui_router(
        uow,
        Peers(settings.payment_url, settings.inventory_url),
        DeadLetters(settings.kafka),
        jaeger_ui_url=settings.jaeger_ui_url,
        stuck_after_s=settings.saga_stuck_after_s,
    )
