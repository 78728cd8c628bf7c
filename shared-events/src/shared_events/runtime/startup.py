"""Start-up gate of the background loops: they start once PostgreSQL and Kafka both answer."""

import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import structlog
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from sqlalchemy import Engine, Table, literal, select
from sqlalchemy.exc import DBAPIError, OperationalError

from shared_events.kafka.connection import KafkaTarget, client_config
from shared_events.kafka.consuming.backoff import Backoff
from shared_events.runtime.threads import LoopThreads

log = structlog.get_logger(__name__)

Probe = Callable[[], str | None]
"""Why a dependency is unusable right now (one line), or None when it answers."""


def database_probe(engine: Engine, migrated: Table | None = None) -> Probe:
    """`SELECT 1` as the service's role; with `migrated`, that table must exist too."""
    query = select(literal(1)) if migrated is None else select(literal(1)).select_from(migrated)

    def problem() -> str | None:
        try:
            with engine.connect() as connection:
                connection.execute(query.limit(0))
        except DBAPIError as error:
            lines = str(error.orig or error).strip().splitlines()
            return lines[0] if lines else type(error).__name__
        return None

    return problem


class KafkaProbe:
    """Asks the cluster for metadata through one long-lived admin client."""

    def __init__(self, bootstrap_servers: KafkaTarget, timeout_s: float = 2.0) -> None:
        self.timeout_s = timeout_s
        # librdkafka would log every refused reconnect to stderr; the gate logs the outage.
        self._config: dict[str, Any] = {
            **client_config(bootstrap_servers),
            "log_level": 0,
            "error_cb": self._on_error,
        }
        self._admin: AdminClient | None = None
        self._lock = threading.Lock()
        self._refused: str | None = None

    def __call__(self) -> str | None:
        with self._lock:
            if self._admin is None:
                self._admin = AdminClient(self._config)
            self._refused = None
            try:
                metadata = self._admin.list_topics(timeout=self.timeout_s)
            except KafkaException as error:
                # Wrong credentials surface as "broker transport failure" here; the error
                # callback (served by poll) has the broker's reason.
                self._admin.poll(0)
                if self._refused is not None:
                    return self._refused
                return str(error.args[0]) if error.args else "no metadata"
        return None if metadata.brokers else "no broker in the cluster metadata"

    def _on_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._AUTHENTICATION:
            self._refused = error.str()


class StartupGate:
    """Retries the probes with capped exponential backoff; calls `start` once all answer."""

    def __init__(
        self,
        probes: Mapping[str, Probe],
        start: Callable[[], None],
        backoff: Backoff | None = None,
    ) -> None:
        self.probes = dict(probes)
        self._start = start
        self._backoff = backoff or Backoff(initial_s=0.5, max_s=10.0)
        self._stop = threading.Event()
        self._opened = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def opened(self) -> bool:
        """Whether every dependency answered once and the loops were started."""
        return self._opened.is_set()

    def open_when_ready(self) -> None:
        """Wait for the dependencies in a background thread (the API serves meanwhile)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._wait, name="startup-gate", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = 15.0) -> None:
        """Stop waiting (shutdown before the dependencies came up); `start` is not called."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def checks(self) -> dict[str, bool]:
        """Each dependency -> whether it answers now (for `/health/ready`)."""
        return {name: probe() is None for name, probe in self.probes.items()}

    def _wait(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            attempt += 1
            problems = {name: p for name, probe in self.probes.items() if (p := probe())}
            if not problems:
                if self._stop.is_set():
                    return
                log.info("dependencies reachable, starting delivery", attempts=attempt)
                self._start()
                self._opened.set()
                return
            delay = self._backoff.next_delay()
            log.warning(
                "waiting for dependencies",
                attempt=attempt,
                missing=sorted(problems),
                errors=problems,
                retry_in_s=round(delay, 2),
            )
            self._stop.wait(delay)


class BackgroundWork:
    """A service's background work (relay, consumer, own loops) behind the start-up gate."""

    def __init__(
        self, threads: LoopThreads, engine: Engine, outbox: Table, bootstrap_servers: KafkaTarget
    ) -> None:
        self.threads = threads
        # The outbox table doubles as the check that the service's migrations have run.
        probes: dict[str, Probe] = {"database": database_probe(engine, outbox)}
        if threads.consumer is not None or threads.relay is not None:
            probes["kafka"] = KafkaProbe(bootstrap_servers)
        self.gate = StartupGate(probes, threads.start)

    def readiness(self) -> dict[str, bool]:
        """`/health/ready` parts: each dependency answering, each loop started and healthy."""
        loops = {part: self.gate.opened and ok for part, ok in self.threads.readiness().items()}
        return {**self.gate.checks(), **loops}

    def start(self) -> None:
        """Start the loops in the background as soon as PostgreSQL and Kafka answer."""
        self.gate.open_when_ready()

    def stop(self) -> bool:
        """Finish the in-flight batch, commit offsets, leave the group, flush; False if hung."""
        self.gate.close()
        return self.threads.stop()

    def run_until(self, stop: threading.Event) -> bool:
        """Run without a web app until `stop` is set or a loop dies; True if stopped and drained."""
        self.start()
        while not stop.wait(1.0):
            if self.gate.opened and not self.threads.alive:
                log.error("a delivery loop died; stopping", parts=self.threads.readiness())
                break
        return self.stop() and stop.is_set()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The work for the life of a web app (its lifespan): start, then drain on shutdown."""
        self.start()
        try:
            yield
        finally:
            # SIGTERM lands here via uvicorn's graceful shutdown.
            self.stop()


def retry_while_unreachable(action: Callable[[], None], wait_s: float) -> None:
    """Run `action`; retry an unreachable database with capped backoff for up to `wait_s`."""
    deadline = time.monotonic() + wait_s
    backoff = Backoff(initial_s=0.5, max_s=10.0)
    while True:
        try:
            action()
            return
        except OperationalError as error:
            delay = backoff.next_delay()
            if time.monotonic() + delay > deadline:
                raise
            lines = str(error.orig or error).strip().splitlines()
            log.warning(
                "database unreachable, retrying",
                attempt=backoff.failures,
                error=lines[0] if lines else type(error).__name__,
                retry_in_s=delay,
            )
            time.sleep(delay)
