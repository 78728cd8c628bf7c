"""Wiring: settings -> engine -> unit of work -> consumer/relay -> app; every part overridable."""

from sqlalchemy import Engine

from payment_service.api import create_app
from payment_service.consumer import HANDLERS, TOPICS
from payment_service.metrics import Metrics
from payment_service.settings import Settings
from payment_service.tables import outbox, processed_events
from payment_service.unit_of_work import SqlUnitOfWork
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
    )
    if api:
        service.app = create_app(
            lambda: SqlUnitOfWork(service.session_factory),
            readiness=service.background.readiness,
            metrics=service.metrics,
            lifespan=service.lifespan,
        )
    return service


default_consumer = consumer_of(
    topics=TOPICS,
    handlers=HANDLERS,
    processed_table=processed_events,
)
"""The consumer of order-events in the service's group."""
