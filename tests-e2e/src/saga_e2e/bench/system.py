"""The bench's own stack (BENCH_<VAR>, /tmp/benchstack), and restarting its services per mode."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from saga_e2e import own_stack
from saga_e2e.own_stack import FOREIGN, StackSpec, System
from saga_infra import jaeger_server, kafka_server, postgres_server, services
from saga_infra.services import SERVICES
from saga_infra.settings import Settings

Progress = Callable[[str], None]

# Never the `make dev` (9092/5432/8001-8003), chaos (19092/...) or storm (29092/...) stacks.
BENCH_DEFAULTS = {
    "STACK_DIR": "/tmp/benchstack",
    "KAFKA_PORT": "30092",
    "KAFKA_CONTROLLER_PORT": "30093",
    "PG_PORT": "30532",
    "ORDER_HTTP_PORT": "30001",
    "PAYMENT_HTTP_PORT": "30002",
    "INVENTORY_HTTP_PORT": "30003",
    # Its own Jaeger, for the tracing-on mode; the other modes run with the SDK disabled.
    "JAEGER_UI_PORT": "30686",
    "JAEGER_OTLP_GRPC_PORT": "30317",
    "JAEGER_OTLP_HTTP_PORT": "30318",
    "JAEGER_HEALTH_PORT": "30133",
    "PROMETHEUS": "0",  # a bench measures the saga; nothing scrapes it
    "OTEL_SDK_DISABLED": "true",
    # Statements per saga come from pg_stat_statements, which must be preloaded.
    "PG_SHARED_PRELOAD_LIBRARIES": "pg_stat_statements",
}
BATCH_VARS = tuple(f"{s.prefix}_CONSUMER_BATCH_MAX" for s in SERVICES)
BENCH_UNTRACED = {"OTEL_SDK_DISABLED": "true"}
# Also a PG_DIR or PG_DSN exported for another stack (`saga_infra env`), and any batch setting:
# each mode sets the services' environment itself.
BENCH = StackSpec("bench", "BENCH", BENCH_DEFAULTS, (*FOREIGN, "PG_DIR", "PG_DSN", *BATCH_VARS))
READY_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class Mode:
    """A way of running the services: a name and the environment variables it sets."""

    name: str
    env: Mapping[str, str] = field(default_factory=dict)


BATCHED = Mode("batched")  # the services' own defaults
BATCH1 = Mode("batch1", dict.fromkeys(BATCH_VARS, "1"))  # one event per transaction
TRACED = Mode("traced", {"OTEL_SDK_DISABLED": "false"})  # batched, every span to Jaeger
MODE_VARS = (*BATCH_VARS, "OTEL_SDK_DISABLED")


def point_at_bench_stack(environ: MutableMapping[str, str]) -> None:
    """Rewrite `environ` (os.environ, or a test's copy) to the bench stack only."""
    BENCH.point_at(environ)


@dataclass
class Bench:
    """The stack, and the mode its services run in (None: started by someone else)."""

    system: System
    mode: Mode | None = None
    changed: set[str] = field(default_factory=set)  # services it restarted but did not start


def bring_up(progress: Progress) -> Bench:
    """Start what is not running; services it started itself run in the batched mode."""
    system = own_stack.bring_up(progress, BENCH.name)
    ours = all(s.name in system.started for s in SERVICES)
    return Bench(system, BATCHED if ours else None)


def use_mode(bench: Bench, mode: Mode, progress: Progress) -> None:
    """Restart the three services with `mode`'s environment unless they already run in it."""
    if bench.mode == mode:
        return
    progress(f"bench: restarting the services in mode {mode.name} {dict(mode.env) or ''}")
    began = time.monotonic()
    _restart(bench, mode, progress)
    progress(f"bench: services ready in mode {mode.name} after {time.monotonic() - began:.1f} s")
    bench.mode = mode
    bench.changed |= {s.name for s in SERVICES if s.name not in bench.system.started}


def _restart(bench: Bench, mode: Mode, progress: Progress) -> None:
    settings = bench.system.settings
    for var in MODE_VARS:
        os.environ.pop(var, None)
    os.environ.update(BENCH_UNTRACED)
    os.environ.update(mode.env)  # services.start passes os.environ on
    with ThreadPoolExecutor(len(SERVICES)) as pool:
        list(pool.map(lambda s: services.stop(settings, s), SERVICES))
        for service in SERVICES:
            services.start(settings, service)
        list(pool.map(lambda s: _ready_or_once_more(settings, s, progress), SERVICES))


def _ready_or_once_more(settings: Settings, service: services.Service, progress: Progress) -> None:
    # In two of five runs a service restarted right after a loaded ramp was reported gone
    # before its first log line; the error names its exit status. One more start, only when
    # its process has really ended (a second copy would orphan the first).
    try:
        services.wait_ready(settings, service, READY_TIMEOUT_S)
    except services.ServiceError as error:
        if not services.has_exited(settings, service):
            raise
        progress(f"bench: {error}; starting it once more")
        services.start(settings, service)
        services.wait_ready(settings, service, READY_TIMEOUT_S)


def shut_down(bench: Bench, progress: Progress) -> None:
    """Stop what it started; services it found running are left running in their default mode."""
    if bench.changed:
        try:
            _restart(bench, BATCHED, progress)
        except Exception as error:  # still stop what we started
            progress(f"bench: could not restart {sorted(bench.changed)}: {error}")
    for var in MODE_VARS:
        os.environ.pop(var, None)
    own_stack.shut_down(bench.system, progress)


def traced_services(bench: Bench) -> list[str]:
    """The services the stack's Jaeger holds traces of ([] when it does not answer)."""
    try:
        answer = httpx.get(f"{bench.system.settings.jaeger_url}/api/services", timeout=5.0)
        answer.raise_for_status()
        return sorted(answer.json().get("data") or [])
    except (httpx.HTTPError, ValueError):
        return []


def component_pids(bench: Bench) -> dict[str, int | None]:
    """PID of each service, the broker and the postmaster, as their PID files say now."""
    settings = bench.system.settings
    pids: dict[str, int | None] = {s.name: services.running_pid(settings, s) for s in SERVICES}
    pids["kafka"] = kafka_server.running_pid(settings)
    pids["postgres"] = postgres_server.running_pid(settings)
    pids["jaeger"] = jaeger_server.running_pid(settings)
    return pids
