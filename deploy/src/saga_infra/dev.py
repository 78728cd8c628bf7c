"""`make dev` and `make e2e`: the whole system on the local stack, without Docker."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from saga_infra import demo, services, stack
from saga_infra import groups as group_spread
from saga_infra.services import SERVICES
from saga_infra.settings import Settings

Progress = Callable[[str], None]
READY_TIMEOUT_S = 90.0


def up(settings: Settings, progress: Progress) -> list[str]:
    """Infra, topics, migrations, the services (`SERVICE_REPLICAS` of each) and demo data;
    returns what it started (instances by name: `order`, `order-2`, ...)."""
    wanted = services.instances()
    started = list(stack.up(settings, progress).started)
    for service in SERVICES:
        progress(f"{service.name}: migrating schema")
        services.migrate(settings, service)
    for instance in wanted:
        if services.running_pid(settings, instance) is None:
            pid = services.start(settings, instance)
            started.append(instance.instance)
            progress(f"{instance.instance}: started pid {pid}, log {instance.log_file(settings)}")
    for instance in wanted:
        services.wait_ready(settings, instance, READY_TIMEOUT_S)
        progress(f"{instance.instance}: ready at {instance.url}")
    if len(wanted) > len(SERVICES):
        show_spread(settings, wanted, progress)
    load_demo(progress)
    return started


def show_spread(settings: Settings, wanted: list[services.Service], progress: Progress) -> None:
    """Print which member of each consumer group holds which partitions."""
    groups = {f"{s.name}-service": sum(1 for w in wanted if w.name == s.name) for s in SERVICES}
    spread = group_spread.wait_spread(settings.kafka_bootstrap, groups)
    names = {
        pid: instance.instance
        for instance in wanted
        if (pid := services.running_pid(settings, instance)) is not None
    }
    for line in group_spread.lines(spread, names):
        progress(line)


def load_demo(progress: Progress) -> None:
    """Demo products and funded accounts, through the running services' HTTP APIs."""
    order, payment, inventory = (service.url for service in SERVICES)
    demo.load(order, payment, inventory)
    products, accounts = ", ".join(demo.PRODUCTS), ", ".join(demo.ACCOUNTS)
    progress(f"demo data: products {products}; accounts {accounts}")


def down(settings: Settings, progress: Progress) -> None:
    """Stop every service instance this stack started (the infra keeps running)."""
    for service in reversed(SERVICES):
        for instance in reversed(services.started_instances(settings, service) or [service]):
            stopped = services.stop(settings, instance)
            progress(f"{instance.instance}: {'stopped' if stopped else 'was not running'}")


def usage_lines(settings: Settings | None = None) -> list[str]:
    """What to do next, printed at the end of `make dev` (with the stack's Jaeger, Prometheus)."""
    order, payment, inventory = (service.url for service in SERVICES)
    extra = [
        f"{instance.instance:<11}{instance.url}/docs  (replica: same consumer group)"
        for instance in services.instances()
        if instance.replica > 1
    ]
    observers = []
    if settings is not None and settings.jaeger:
        observers.append(f"jaeger     {settings.jaeger_url}  (query API: /api/traces)")
    if settings is not None and settings.prometheus:
        observers.append(f"prometheus {settings.prometheus_url}  (alerts: /alerts)")
    return [
        f"order      {order}/docs",
        f"payment    {payment}/docs",
        f"inventory  {inventory}/docs",
        *extra,
        *observers,
        "place an order:",
        f"  curl -s -X POST {order}/orders -H 'content-type: application/json' "
        '-d \'{"customer_id": "alice", "items": [{"sku": "KEYBOARD-01", "quantity": 1}]}\'',
        f"then: curl -s {order}/orders/<order_id>",
        "stop: make dev-down (services), make infra-down (Kafka, Postgres, Jaeger, Prometheus)",
    ]


def e2e(settings: Settings, pytest_args: Sequence[str], progress: Progress) -> int:
    """Run the e2e suite against a running system, or start one and stop it afterwards."""
    if all(services.is_ready(service) for service in SERVICES):
        progress("e2e: using the running system")
        return _pytest(settings, pytest_args)
    progress("e2e: no running system; starting the local one")
    begun = time.monotonic()
    started = up(settings, progress)
    progress(f"e2e: system ready in {time.monotonic() - begun:.1f} s")
    try:
        return _pytest(settings, pytest_args)
    finally:
        for instance in reversed(services.instances()):
            if instance.instance in started:
                services.stop(settings, instance)
        if {"kafka", "postgres", "jaeger", "prometheus"} & set(started):
            stack.down(settings)
        progress(f"e2e: stopped what it started ({', '.join(started) or 'nothing'})")


def _pytest(settings: Settings, args: Sequence[str]) -> int:
    env_args = [f"KAFKA_BOOTSTRAP_SERVERS={settings.kafka_bootstrap}"]
    command = [sys.executable, "-m", "pytest", *args]
    return subprocess.call(["env", *env_args, *command])
