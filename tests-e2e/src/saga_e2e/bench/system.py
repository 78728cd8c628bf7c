"""The bench's own stacks (BENCH_<VAR>, /tmp/benchstack; BENCH_3B_<VAR>, /tmp/benchstack-3b for
the 3-broker mode), and switching their services from one mode to the next.

A mode is the services' environment and how many replicas of each run. Switching restarts
only the instances whose environment changes and starts or stops the replicas the new mode
adds or drops: batched -> replicas starts the extra replicas and restarts nothing; replicas ->
batch1 stops them and restarts replica 1 of each service once. Every replica serves HTTP on its
service's port + 10(n-1) (saga_infra.services), joins its service's consumer group and runs a
relay; the load generator spreads `POST /orders` over the order replicas' ports.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

from saga_e2e import own_stack
from saga_e2e.own_stack import FOREIGN, StackSpec, System
from saga_infra import groups, jaeger_server, kafka_server, postgres_server, services
from saga_infra.services import SERVICES, Service
from saga_infra.settings import Settings

Progress = Callable[[str], None]

# Never the `make dev` (9092/5432/8001-8003), chaos (19092/...) or storm (29092/...) stacks.
BENCH_DEFAULTS = {
    "STACK_DIR": "/tmp/benchstack",
    "KAFKA_PORT": "30092",
    "KAFKA_CONTROLLER_PORT": "30093",
    "KAFKA_BROKERS": "1",  # the 3-broker mode has a stack of its own (BENCH_3B)
    "PG_PORT": "30532",
    "ORDER_HTTP_PORT": "30001",  # replica n on + 10(n-1): 30011, 30021, ...
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
# The second stack, for the brokers mode: started after the first is stopped, never beside it.
# Kafka nodes on 32092/32093, 32094/32095, 32096/32097; everything below 32768.
BENCH_3B_DEFAULTS = {
    "STACK_DIR": "/tmp/benchstack-3b",
    "KAFKA_PORT": "32092",
    "KAFKA_CONTROLLER_PORT": "32093",
    "KAFKA_BROKERS": "3",
    "PG_PORT": "32532",
    "ORDER_HTTP_PORT": "32001",
    "PAYMENT_HTTP_PORT": "32002",
    "INVENTORY_HTTP_PORT": "32003",
    "JAEGER": "0",  # the brokers mode is untraced
    "PROMETHEUS": "0",
    "OTEL_SDK_DISABLED": "true",
    "PG_SHARED_PRELOAD_LIBRARIES": "pg_stat_statements",
}
BATCH_VARS = tuple(f"{s.prefix}_CONSUMER_BATCH_MAX" for s in SERVICES)
REPLICA_VARS = ("SERVICE_REPLICAS", *(f"{s.prefix}_REPLICAS" for s in SERVICES))
BENCH_UNTRACED = {"OTEL_SDK_DISABLED": "true"}
# Also a PG_DIR or PG_DSN exported for another stack (`saga_infra env`), any batch setting
# (each mode sets the services' environment itself) and the replica counts (read into the
# config before; the stack itself starts one instance of each, the modes add the others).
_FOREIGN = (*FOREIGN, "PG_DIR", "PG_DSN", *BATCH_VARS, *REPLICA_VARS)
BENCH = StackSpec("bench", "BENCH", BENCH_DEFAULTS, _FOREIGN)
BENCH_3B = StackSpec("bench-3b", "BENCH_3B", BENCH_3B_DEFAULTS, _FOREIGN)
READY_TIMEOUT_S = 90.0
SPREAD_TIMEOUT_S = 45.0


@dataclass(frozen=True)
class Mode:
    """A way of running the services: a name, the environment variables it sets and how many
    replicas of each service run (by service name; 1 where absent)."""

    name: str
    env: Mapping[str, str] = field(default_factory=dict)
    replicas: Mapping[str, int] = field(default_factory=dict)

    def count(self, service: Service) -> int:
        return self.replicas.get(service.name, 1)

    def instances(self) -> list[Service]:
        """Every instance this mode runs: replica 1 of each service first, then the others."""
        every = [r for s in SERVICES for r in s.replicas(self.count(s))]
        order = {s.name: n for n, s in enumerate(SERVICES)}
        return sorted(every, key=lambda s: (s.replica, order[s.name]))


BATCHED = Mode("batched")  # the services' own defaults
BATCH1 = Mode("batch1", dict.fromkeys(BATCH_VARS, "1"))  # one event per transaction
TRACED = Mode("traced", {"OTEL_SDK_DISABLED": "false"})  # batched, every span to Jaeger
BROKERS = Mode("brokers")  # batched, on the 3-broker stack
MODE_VARS = (*BATCH_VARS, "OTEL_SDK_DISABLED")


def replicas_mode(counts: Mapping[str, int]) -> Mode:
    """The batched mode with `counts` replicas of each service (by name)."""
    return Mode("replicas", replicas={name: n for name, n in counts.items() if n > 1})


@dataclass(frozen=True)
class Transition:
    """What switching from one mode to another does to the service instances."""

    stop: tuple[Service, ...] = ()  # run now, not in the new mode
    restart: tuple[Service, ...] = ()  # in both, but the environment changes
    start: tuple[Service, ...] = ()  # not run now, in the new mode

    @property
    def idle(self) -> bool:
        return not (self.stop or self.restart or self.start)


def transition(current: Mode | None, new: Mode) -> Transition:
    """The least to do: stop what `new` drops, start what it adds, restart the instances kept
    only when the environment changes (`current` None: services someone else started, one of
    each, in an environment unknown)."""
    old = current.instances() if current is not None else list(SERVICES)
    wanted = new.instances()
    changed = current is None or dict(current.env) != dict(new.env)
    return Transition(
        stop=tuple(s for s in old if s not in wanted),
        restart=tuple(s for s in wanted if s in old) if changed else (),
        start=tuple(s for s in wanted if s not in old),
    )


def point_at_bench_stack(environ: MutableMapping[str, str]) -> None:
    """Rewrite `environ` (os.environ, or a test's copy) to the bench stack only."""
    BENCH.point_at(environ)


@dataclass
class Bench:
    """The stack, and the mode its services run in (None: started by someone else)."""

    system: System
    mode: Mode | None = None
    changed: set[str] = field(default_factory=set)  # services it restarted but did not start
    extras: set[Service] = field(default_factory=set)  # replicas > 1 it started (and stops)


def bring_up(progress: Progress, spec: StackSpec = BENCH) -> Bench:
    """Start what is not running; services it started itself run in the batched mode."""
    system = own_stack.bring_up(progress, spec.name)
    ours = all(s.name in system.started for s in SERVICES)
    return Bench(system, BATCHED if ours else None)


def use_mode(bench: Bench, mode: Mode, progress: Progress) -> None:
    """Switch the services to `mode`: each instance stopped, started or restarted at most once."""
    if bench.mode == mode:
        return
    change = transition(bench.mode, mode)
    if change.idle:
        bench.mode = mode
        return
    progress(f"bench: mode {mode.name} {dict(mode.env) or ''}: {_describe(change)}")
    began = time.monotonic()
    # Noted before: what fails or is interrupted half way is still stopped or restored.
    bench.changed |= {s.instance for s in change.restart if s.instance not in bench.system.started}
    bench.extras |= {s for s in change.start if s.replica > 1}
    _apply(bench, mode, change, progress)
    bench.extras -= set(change.stop)
    progress(f"bench: services ready in mode {mode.name} after {time.monotonic() - began:.1f} s")
    bench.mode = mode
    if change.stop or change.start:
        _wait_spread(bench, mode, progress)


def _describe(change: Transition) -> str:
    """`stop order-2 payment-2; restart order payment inventory; start ...`"""
    steps = (("stop", change.stop), ("restart", change.restart), ("start", change.start))
    return "; ".join(
        f"{verb} {' '.join(s.instance for s in which)}" for verb, which in steps if which
    )


def _environment(mode: Mode) -> None:
    for var in MODE_VARS:
        os.environ.pop(var, None)
    os.environ.update(BENCH_UNTRACED)
    os.environ.update(mode.env)  # services.start passes os.environ on


def _apply(bench: Bench, mode: Mode, change: Transition, progress: Progress) -> None:
    settings = bench.system.settings
    _environment(mode)
    down, up = [*change.stop, *change.restart], [*change.restart, *change.start]
    with ThreadPoolExecutor(max(1, len(down), len(up))) as pool:
        list(pool.map(lambda s: services.stop(settings, s), down))
        for service in up:
            services.start(settings, service)
        list(pool.map(lambda s: _ready_or_once_more(settings, s, progress), up))


def _wait_spread(bench: Bench, mode: Mode, progress: Progress) -> None:
    """Wait until each group has one member per replica (the broker's rebalance)."""
    expected = {f"{s.name}-service": mode.count(s) for s in SERVICES}
    bootstrap = bench.system.settings.kafka_bootstrap
    seen = groups.wait_spread(bootstrap, expected, SPREAD_TIMEOUT_S)
    found = {group: len(seen.get(group, [])) for group in expected}
    if found != expected:
        progress(f"bench: groups not spread within {SPREAD_TIMEOUT_S:.0f} s: {found}")
    else:
        members = ", ".join(f"{group} {n}" for group, n in found.items())
        progress(f"bench: members per group: {members}")


def _ready_or_once_more(settings: Settings, service: Service, progress: Progress) -> None:
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
    """Stop what it started (every extra replica too); services it found running are left
    running in their default mode."""
    settings = bench.system.settings
    for extra in sorted(bench.extras, key=lambda s: (s.replica, s.name), reverse=True):
        try:
            services.stop(settings, extra)
        except Exception as error:  # still stop the rest
            progress(f"bench: could not stop {extra.instance}: {error}")
    if bench.extras:
        progress(f"bench: stopped {', '.join(sorted(s.instance for s in bench.extras))}")
    bench.extras = set()
    if bench.changed:
        back = tuple(s for s in SERVICES if s.instance in bench.changed)
        try:
            _apply(bench, BATCHED, Transition(restart=back), progress)
        except Exception as error:  # still stop what we started
            progress(f"bench: could not restart {sorted(bench.changed)}: {error}")
    for var in MODE_VARS:
        os.environ.pop(var, None)
    own_stack.shut_down(bench.system, progress)


@contextmanager
def brokers_stack(brokers: int, progress: Progress) -> Iterator[Bench]:
    """The second stack (BENCH_3B_<VAR>, `brokers` Kafka nodes) with os.environ pointed at it,
    brought up and, on the way out, stopped as far as it was started here; os.environ then
    points at the first stack again. Its Kafka runs from the first stack's jars (resolved
    once, by Maven, per directory) unless BENCH_3B_KAFKA_LIBS_DIR names others."""
    libs = os.environ.get("BENCH_3B_KAFKA_LIBS_DIR") or str(Settings.from_env().kafka_libs_dir)
    with own_stack.pointed_at(BENCH_3B, {"KAFKA_BROKERS": str(brokers), "KAFKA_LIBS_DIR": libs}):
        bench = bring_up(progress, BENCH_3B)
        try:
            yield bench
        finally:
            shut_down(bench, progress)


def order_urls(bench: Bench) -> list[str]:
    """Where the load generator sends `POST /orders`: every order replica of the current mode."""
    return [s.url for s in (bench.mode or BATCHED).instances() if s.name == "order"]


def traced_services(bench: Bench) -> list[str]:
    """The services the stack's Jaeger holds traces of ([] when it does not answer)."""
    try:
        answer = httpx.get(f"{bench.system.settings.jaeger_url}/api/services", timeout=5.0)
        answer.raise_for_status()
        return sorted(answer.json().get("data") or [])
    except (httpx.HTTPError, ValueError):
        return []


def component_pids(bench: Bench) -> dict[str, int | None]:
    """PID of every service instance (`order`, `order-2`, ...), every Kafka node (`kafka`,
    `kafka-2`, ...), the postmaster and Jaeger, as their PID files say now. The CPU accounting
    adds the instances of a component up (cpu.component_of)."""
    settings = bench.system.settings
    pids: dict[str, int | None] = {}
    for service in SERVICES:
        for instance in services.started_instances(settings, service) or [service]:
            pids[instance.instance] = services.running_pid(settings, instance)
    for node in kafka_server.nodes(settings):
        name = "kafka" if node == 1 else f"kafka-{node}"
        pids[name] = kafka_server.running_pid(settings, node)
    pids["postgres"] = postgres_server.running_pid(settings)
    pids["jaeger"] = jaeger_server.running_pid(settings)
    return pids
