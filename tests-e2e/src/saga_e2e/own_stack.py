"""A harness's own local stack (chaos, bench): its environment, bringing it up, stopping it.

Each harness names its stack (`StackSpec`): a prefix and defaults for the stack variables, so
`<PREFIX>_<VAR>` overrides each one and nothing ever points at the `make dev` stack.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from saga_infra import dev, services, stack
from saga_infra.services import SERVICES
from saga_infra.settings import Settings

Progress = Callable[[str], None]

# Variables that would point saga_infra or the services at another stack.
FOREIGN = ("ORDER_URL", "PAYMENT_URL", "INVENTORY_URL", "KAFKA_BOOTSTRAP_SERVERS")


@dataclass(frozen=True)
class StackSpec:
    """Which stack a harness runs on: `<prefix>_<VAR>` if set, else `defaults[VAR]`."""

    name: str  # in progress lines: "chaos: starting the stack in ..."
    prefix: str
    defaults: Mapping[str, str]
    foreign: tuple[str, ...] = FOREIGN  # removed from the environment

    def environ(self, source: Mapping[str, str]) -> dict[str, str]:
        """The stack variables of this stack: <PREFIX>_<VAR> if set, else the default."""
        return {var: source.get(f"{self.prefix}_{var}", d) for var, d in self.defaults.items()}

    def point_at(self, environ: MutableMapping[str, str]) -> None:
        """Rewrite `environ` (os.environ, or a test's copy) to this stack only."""
        environ.update(self.environ(environ))
        for var in self.foreign:
            environ.pop(var, None)


@dataclass
class System:
    """The running stack, and which of its parts this run started (and so must stop)."""

    settings: Settings
    started: list[str] = field(default_factory=list)
    name: str = "stack"

    @property
    def urls(self) -> tuple[str, str, str]:
        order, payment, inventory = (service.url for service in SERVICES)
        return order, payment, inventory


def bring_up(progress: Progress, name: str = "stack") -> System:
    """Start whatever of the stack in os.environ is not running (infra, migrations, services)."""
    settings = Settings.from_env(os.environ)
    wanted = services.instances()
    if stack.is_running(settings) and all(services.is_ready(s) for s in wanted):
        progress(f"{name}: using the running stack in {settings.stack_dir}")
        return System(settings, name=name)
    progress(f"{name}: starting the stack in {settings.stack_dir}")
    running = {s.instance for s in wanted if services.running_pid(settings, s) is not None}
    if stack.is_running(settings):
        running |= {"kafka", "postgres", "jaeger", "prometheus"}
    system = System(settings, name=name)
    try:
        system.started = dev.up(settings, progress)
    except BaseException:
        # dev.up may have started part of it before failing: stop what was not running before.
        everything = [s.instance for s in wanted] + ["kafka", "postgres", "jaeger", "prometheus"]
        system.started = [part for part in everything if part not in running]
        shut_down(system, progress)
        raise
    return system


def shut_down(system: System, progress: Progress) -> None:
    """Stop the parts this run started; a stack that was already running keeps running."""
    for service in reversed(services.instances()):
        if service.instance in system.started:
            services.stop(system.settings, service)
    if {"kafka", "postgres", "jaeger", "prometheus"} & set(system.started):
        stack.down(system.settings)
    stopped = ", ".join(system.started) or "nothing"
    progress(f"{system.name}: stopped what it started ({stopped})")


@contextmanager
def pointed_at(spec: StackSpec, extra: Mapping[str, str] | None = None) -> Iterator[None]:
    """os.environ pointed at `spec`'s stack (then `extra` set) for the block, restored after."""
    saved = dict(os.environ)
    spec.point_at(os.environ)
    os.environ.update(extra or {})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def running(spec: StackSpec, progress: Progress) -> Iterator[System]:
    """`spec`'s stack, brought up with os.environ pointed at it (and restored after), then
    stopped as far as this run started it: the module fixture of a test that needs its own."""
    with pointed_at(spec):
        system = bring_up(progress, spec.name)
        try:
            yield system
        finally:
            shut_down(system, progress)
