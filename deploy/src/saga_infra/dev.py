"""`make dev` and `make e2e`: the whole system on the local stack, without Docker."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from saga_infra import demo, services, stack
from saga_infra.services import SERVICES
from saga_infra.settings import Settings

Progress = Callable[[str], None]
READY_TIMEOUT_S = 90.0


def up(settings: Settings, progress: Progress) -> list[str]:
    """Infra, topics, migrations, the three services and demo data; returns what it started."""
    started = list(stack.up(settings, progress).started)
    for service in SERVICES:
        progress(f"{service.name}: migrating schema")
        services.migrate(settings, service)
    for service in SERVICES:
        if services.running_pid(settings, service) is None:
            pid = services.start(settings, service)
            started.append(service.name)
            progress(f"{service.name}: started pid {pid}, log {service.log_file(settings)}")
    for service in SERVICES:
        services.wait_ready(settings, service, READY_TIMEOUT_S)
        progress(f"{service.name}: ready at {service.url}")
    load_demo(progress)
    return started


def load_demo(progress: Progress) -> None:
    """Demo products and funded accounts, through the running services' HTTP APIs."""
    order, payment, inventory = (service.url for service in SERVICES)
    demo.load(order, payment, inventory)
    products, accounts = ", ".join(demo.PRODUCTS), ", ".join(demo.ACCOUNTS)
    progress(f"demo data: products {products}; accounts {accounts}")


def down(settings: Settings, progress: Progress) -> None:
    """Stop the three services this stack started (the infra keeps running)."""
    for service in reversed(SERVICES):
        stopped = services.stop(settings, service)
        progress(f"{service.name}: {'stopped' if stopped else 'was not running'}")


def usage_lines(settings: Settings | None = None) -> list[str]:
    """What to do next, printed at the end of `make dev` (with the stack's Jaeger, Prometheus)."""
    order, payment, inventory = (service.url for service in SERVICES)
    observers = []
    if settings is not None and settings.jaeger:
        observers.append(f"jaeger     {settings.jaeger_url}  (query API: /api/traces)")
    if settings is not None and settings.prometheus:
        observers.append(f"prometheus {settings.prometheus_url}  (alerts: /alerts)")
    return [
        f"order      {order}/docs",
        f"payment    {payment}/docs",
        f"inventory  {inventory}/docs",
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
        for service in reversed(SERVICES):
            if service.name in started:
                services.stop(settings, service)
        if {"kafka", "postgres", "jaeger", "prometheus"} & set(started):
            stack.down(settings)
        progress(f"e2e: stopped what it started ({', '.join(started) or 'nothing'})")


def _pytest(settings: Settings, args: Sequence[str]) -> int:
    env_args = [f"KAFKA_BOOTSTRAP_SERVERS={settings.kafka_bootstrap}"]
    command = [sys.executable, "-m", "pytest", *args]
    return subprocess.call(["env", *env_args, *command])
