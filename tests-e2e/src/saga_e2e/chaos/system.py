"""The chaos run's own local stack: its environment, bringing it up, stopping what it started."""

from __future__ import annotations

import os
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field

from saga_infra import dev, services, stack
from saga_infra.services import SERVICES
from saga_infra.settings import Settings

Progress = Callable[[str], None]

# Never the defaults (9092/5432/8001-8003): a chaos run kills processes, and must never kill the
# system the main e2e run or a developer is using. CHAOS_<VAR> overrides each one.
CHAOS_DEFAULTS = {
    "STACK_DIR": "/tmp/chaosstack",
    "KAFKA_PORT": "19092",
    "KAFKA_CONTROLLER_PORT": "19093",
    "PG_PORT": "15432",
    "ORDER_HTTP_PORT": "18101",
    "PAYMENT_HTTP_PORT": "18102",
    "INVENTORY_HTTP_PORT": "18103",
}
# Variables that would point saga_infra or the services at another stack.
_FOREIGN = ("ORDER_URL", "PAYMENT_URL", "INVENTORY_URL", "KAFKA_BOOTSTRAP_SERVERS")


def chaos_environ(source: MutableMapping[str, str]) -> dict[str, str]:
    """The stack variables of the chaos stack: CHAOS_<VAR> if set, else the chaos default."""
    return {var: source.get(f"CHAOS_{var}", default) for var, default in CHAOS_DEFAULTS.items()}


def point_at_chaos_stack(environ: MutableMapping[str, str]) -> None:
    """Rewrite `environ` (os.environ, or a test's monkeypatched one) to the chaos stack only."""
    environ.update(chaos_environ(environ))
    for var in _FOREIGN:
        environ.pop(var, None)


@dataclass
class System:
    """The running stack, and which of its parts this run started (and so must stop)."""

    settings: Settings
    started: list[str] = field(default_factory=list)

    @property
    def urls(self) -> tuple[str, str, str]:
        order, payment, inventory = (service.url for service in SERVICES)
        return order, payment, inventory


def bring_up(progress: Progress) -> System:
    """Start whatever of the chaos stack is not running (infra, migrations, services)."""
    settings = Settings.from_env(os.environ)
    if stack.is_running(settings) and all(services.is_ready(s) for s in SERVICES):
        progress(f"chaos: using the running stack in {settings.stack_dir}")
        return System(settings)
    progress(f"chaos: starting the stack in {settings.stack_dir}")
    running = {s.name for s in SERVICES if services.running_pid(settings, s) is not None}
    if stack.is_running(settings):
        running |= {"kafka", "postgres"}
    system = System(settings)
    try:
        system.started = dev.up(settings, progress)
    except BaseException:
        # dev.up may have started part of it before failing: stop what was not running before.
        everything = ["order", "payment", "inventory", "kafka", "postgres"]
        system.started = [name for name in everything if name not in running]
        shut_down(system, progress)
        raise
    return system


def shut_down(system: System, progress: Progress) -> None:
    """Stop the parts this run started; a stack that was already running keeps running."""
    for service in reversed(SERVICES):
        if service.name in system.started:
            services.stop(system.settings, service)
    if {"kafka", "postgres"} & set(system.started):
        stack.down(system.settings)
    progress(f"chaos: stopped what it started ({', '.join(system.started) or 'nothing'})")
