"""Wiring: settings -> engine, unit of work, consumer, relay, HTTP app; every part overridable."""

import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

import structlog
from fastapi import FastAPI
from sqlalchemy import Engine, text

from inventory_service.api import create_app
from inventory_service.consumer import EVENT_HANDLERS, TOPICS, counted
from inventory_service.db import SqlUnitOfWork, create_db_engine, session_factory
from inventory_service.metrics import Metrics
from inventory_service.settings import Settings
from inventory_service.tables import outbox, processed_events
from shared_events.kafka.consumer import EventConsumer
from shared_events.kafka.relay import OutboxRelay
from shared_events.topics import dead_letter_topic

log = structlog.get_logger(__name__)


class Runnable(Protocol):
    """A loop that runs until its stop event is set (the consumer, the relay)."""

    def run(self, stop: threading.Event) -> None: ...


@dataclass
class Worker:
    """The consumer and relay loops in background threads, restarted if one crashes."""

    consumer: EventConsumer | None
    relay: OutboxRelay | None
    restart_delay_s: float = 2.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        """Start one thread per configured loop."""
        self._stop.clear()
        for name, loop in self._loops():
            thread = threading.Thread(target=self._supervise, args=(name, loop), name=name)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ask the loops to finish their batch (commit offsets, flush) and wait for them."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads.clear()

    def request_stop(self) -> None:
        """Ask the loops to stop without waiting (safe from a signal handler)."""
        self._stop.set()

    def wait(self) -> None:
        """Block until a stop is requested (the `--no-api` mode)."""
        while not self._stop.wait(1.0):
            pass

    def readiness(self) -> dict[str, bool]:
        """Consumer joined its group and healthy; relay running; only for configured parts."""
        parts: dict[str, bool] = {}
        if self.consumer is not None:
            parts["consumer"] = self.consumer.assigned and self.consumer.healthy
        if self.relay is not None:
            parts["relay"] = self.relay.running
        return parts

    def _loops(self) -> Iterator[tuple[str, Runnable]]:
        if self.consumer is not None:
            yield "inventory-consumer", self.consumer
        if self.relay is not None:
            yield "inventory-relay", self.relay

    def _supervise(self, name: str, loop: Runnable) -> None:
        while not self._stop.is_set():
            try:
                loop.run(self._stop)
            except Exception:
                log.exception("background loop crashed, restarting", loop=name)
                self._stop.wait(self.restart_delay_s)


@dataclass
class Service:
    """One wired process: its HTTP app (if any) and its background worker."""

    settings: Settings
    engine: Engine
    metrics: Metrics
    worker: Worker
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
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=settings.consumer_group,
            topics=topics,
            handlers=counted(EVENT_HANDLERS, metrics),
            session_factory=sessions,
            processed_table=processed_events,
            dead_letter_topic=dead_letter_topic(settings.consumer_group),
        )
        if consume
        else None
    )
    outbox_relay = OutboxRelay(engine, outbox, settings.kafka_bootstrap_servers) if relay else None
    worker = Worker(consumer, outbox_relay)
    _export_worker_counters(metrics, worker)

    def readiness() -> dict[str, bool]:
        return {"database": database_reachable(engine), **worker.readiness()}

    app = None
    if api:
        app = create_app(
            lambda: SqlUnitOfWork(sessions),
            readiness=readiness,
            metrics=metrics,
            lifespan=_lifespan(worker) if start_worker_with_app else None,
        )
    return Service(settings=settings, engine=engine, metrics=metrics, worker=worker, app=app)


def database_reachable(engine: Engine) -> bool:
    """Whether a `SELECT 1` succeeds as the service's role."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


def _lifespan(worker: Worker) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        worker.start()
        try:
            yield
        finally:
            # SIGTERM lands here via uvicorn: finish the batch, commit offsets, flush, close.
            worker.stop()

    return lifespan


def _export_worker_counters(metrics: Metrics, worker: Worker) -> None:
    if worker.relay is not None:
        relay = worker.relay
        metrics.outbox_published.set_function(lambda: relay.published)
    if worker.consumer is not None:
        consumer = worker.consumer
        metrics.consumer_duplicates.set_function(lambda: consumer.duplicates)
        metrics.consumer_dead_lettered.set_function(lambda: consumer.dead_lettered)
