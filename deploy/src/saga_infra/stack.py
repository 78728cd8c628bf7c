"""The local stack as a whole: Kafka + PostgreSQL (+ Jaeger, Prometheus) up, down, reset, status."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field

from saga_infra import (
    db_init,
    jaeger_server,
    kafka_server,
    postgres_server,
    processes,
    prometheus_server,
)
from saga_infra.errors import PortInUseError, StackError
from saga_infra.settings import Settings
from shared_events.kafka.provisioning import BrokerUnavailableError, ensure_topics

Progress = Callable[[str], None]
# What `down` stops, in this order (the observers first, then what they observe).
COMPONENTS = ("prometheus", "jaeger", "kafka", "postgres")


@dataclass(frozen=True)
class UpResult:
    """What `up` found or did."""

    kafka_pid: int
    postgres_pid: int
    started: tuple[str, ...]
    jaeger_pid: int | None = None
    created_topics: tuple[str, ...] = field(default=())
    db_init: str = ""
    prometheus_pid: int | None = None

    @property
    def was_running(self) -> bool:
        return not self.started


def _ignore(_: str) -> None:
    pass


def up(settings: Settings, progress: Progress = _ignore) -> UpResult:
    """Start whatever is not running, wait until both answer, init the DB, ensure topics."""
    with processes.stack_lock(settings.run_dir):
        kafka_pids = kafka_server.running_pids(settings)
        kafka_missing = None in kafka_pids.values()
        pg_pid = postgres_server.running_pid(settings)
        jaeger_pid = jaeger_server.running_pid(settings) if settings.jaeger else None
        start_jaeger = settings.jaeger and jaeger_pid is None
        prometheus_pid = prometheus_server.running_pid(settings) if settings.prometheus else None
        start_prometheus = settings.prometheus and prometheus_pid is None
        java = kafka_server.find_java(settings) if kafka_missing else ""
        if pg_pid is None:
            postgres_server.check_binaries(settings)
        if start_prometheus:
            prometheus_server.binary(settings)
        _check_ports(
            settings,
            kafka=kafka_missing,
            postgres=pg_pid is None,
            jaeger=start_jaeger,
            prometheus=start_prometheus,
        )
        if kafka_missing:
            kafka_server.ensure_jars(settings, progress)
        if start_jaeger:
            jaeger_server.ensure_binary(settings, progress)
        if settings.prometheus:
            # Rewritten on every `up` (the services' ports may have changed); a running
            # Prometheus sees the change by itself.
            prometheus_server.write_service_targets(settings)
        started: list[str] = []
        try:
            if kafka_missing:
                nodes = f"{settings.kafka_brokers} nodes on " if settings.kafka_brokers > 1 else ""
                progress(f"kafka: starting {nodes}{settings.kafka_bootstrap}")
                kafka_pids.update(kafka_server.start_missing(settings, java))
                started.append("kafka")
            if pg_pid is None:
                progress(f"postgres: starting on {settings.pg_host}:{settings.pg_port}")
                pg_pid = postgres_server.start(settings, settings.start_timeout)
                started.append("postgres")
            if start_jaeger:
                progress(f"jaeger: starting, UI on {settings.jaeger_url}")
                jaeger_pid = jaeger_server.start(settings)
                started.append("jaeger")
            if start_prometheus:
                progress(f"prometheus: starting on {settings.prometheus_url}")
                prometheus_pid = prometheus_server.start(settings)
                started.append("prometheus")
            for node, pid in kafka_pids.items():
                assert pid is not None
                kafka_server.wait_ready(settings, pid, settings.start_timeout, node)
            postgres_server.wait_ready(settings, settings.start_timeout)
            if jaeger_pid is not None:
                jaeger_server.wait_ready(settings, jaeger_pid, settings.start_timeout)
            if prometheus_pid is not None:
                prometheus_server.wait_ready(settings, prometheus_pid, settings.start_timeout)
        except BaseException:
            _stop(settings, started)
            raise
        init = db_init.run(settings)
        try:
            created = ensure_topics(
                settings.kafka_bootstrap, settings.topic_partitions, settings.kafka_replication
            )
        except BrokerUnavailableError as exc:
            raise StackError(str(exc)) from exc
        kafka_pid = kafka_pids[1]
        assert kafka_pid is not None
        return UpResult(
            kafka_pid, pg_pid, tuple(started), jaeger_pid, tuple(created), init, prometheus_pid
        )


def down(settings: Settings) -> dict[str, int | None]:
    """Stop the processes named in our PID files; data stays. Safe when nothing runs."""
    with processes.stack_lock(settings.run_dir):
        return _stop(settings, list(COMPONENTS))


def reset(settings: Settings) -> dict[str, int | None]:
    """Stop, then wipe Kafka, PostgreSQL and Prometheus data (the jar cache and logs stay)."""
    with processes.stack_lock(settings.run_dir):
        stopped = _stop(settings, list(COMPONENTS))
        for node in kafka_server.nodes(settings):
            shutil.rmtree(kafka_server.data_dir(settings, node), ignore_errors=True)
        (settings.kafka_dir / "cluster.id").unlink(missing_ok=True)
        shutil.rmtree(prometheus_server.data_dir(settings), ignore_errors=True)
        shutil.rmtree(settings.pg_data_dir.parent, ignore_errors=True)
        return stopped


def status(settings: Settings) -> dict[str, str]:
    """One human-readable line per component, keyed by component."""
    lines = {}
    kafka_pids = kafka_server.running_pids(settings)
    if not any(kafka_pids.values()):
        lines["kafka"] = "stopped"
    else:
        ready = kafka_server.answers_metadata(settings.kafka_bootstrap, timeout=2.0)
        state = "ready" if ready else "not answering"
        pids = ", ".join(str(pid) if pid else "stopped" for pid in kafka_pids.values())
        lines["kafka"] = f"running (pid {pids}) on {settings.kafka_bootstrap}, {state}"
    pg_pid = postgres_server.running_pid(settings)
    if pg_pid is None:
        lines["postgres"] = "stopped"
    else:
        ready = postgres_server.accepts_connections(settings)
        state = "ready" if ready else "not accepting connections"
        where = f"{settings.pg_host}:{settings.pg_port}"
        lines["postgres"] = f"running (pid {pg_pid}) on {where}, {state}"
    jaeger_pid = jaeger_server.running_pid(settings)
    if jaeger_pid is not None:
        state = "ready" if jaeger_server.answers(settings) else "not answering"
        lines["jaeger"] = f"running (pid {jaeger_pid}), UI on {settings.jaeger_url}, {state}"
    elif settings.jaeger:
        lines["jaeger"] = "stopped"
    prometheus_pid = prometheus_server.running_pid(settings)
    if prometheus_pid is not None:
        state = "ready" if prometheus_server.answers(settings) else "not answering"
        where = settings.prometheus_url
        lines["prometheus"] = f"running (pid {prometheus_pid}) on {where}, {state}"
    elif settings.prometheus:
        lines["prometheus"] = "stopped"
    return lines


def is_running(settings: Settings) -> bool:
    return (
        None not in kafka_server.running_pids(settings).values()
        and postgres_server.running_pid(settings) is not None
    )


def _check_ports(
    settings: Settings, *, kafka: bool, postgres: bool, jaeger: bool, prometheus: bool = False
) -> None:
    wanted: list[tuple[str, str, int]] = []
    if kafka:
        host = settings.kafka_host
        for node, pid in kafka_server.running_pids(settings).items():
            if pid is None:
                wanted.append(("KAFKA_PORT", host, kafka_server.broker_port(settings, node)))
                port = kafka_server.controller_port(settings, node)
                wanted.append(("KAFKA_CONTROLLER_PORT", host, port))
    if postgres:
        wanted.append(("PG_PORT", settings.pg_host, settings.pg_port))
    if jaeger:
        wanted += [(var, settings.jaeger_host, port) for var, port in jaeger_server.ports(settings)]
    if prometheus:
        host = settings.prometheus_host
        wanted += [(var, host, port) for var, port in prometheus_server.ports(settings)]
    for var, host, port in wanted:
        if processes.port_in_use(host, port):
            raise PortInUseError(
                f"port {port} is already in use ({var}); "
                "stop the other process or choose another port"
            )


def _stop(settings: Settings, components: list[str]) -> dict[str, int | None]:
    stopped: dict[str, int | None] = {}
    if "prometheus" in components:
        stopped["prometheus"] = prometheus_server.stop(settings)
    if "jaeger" in components:
        stopped["jaeger"] = jaeger_server.stop(settings)
    if "kafka" in components:
        stopped["kafka"] = kafka_server.stop(settings)
    if "postgres" in components:
        stopped["postgres"] = postgres_server.stop(settings)
    return stopped
