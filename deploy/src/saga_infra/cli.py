"""`python -m saga_infra COMMAND`: the local stack and the whole system without Docker."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from saga_infra import db_init, dev, stack
from saga_infra.errors import StackError
from saga_infra.services import ServiceError
from saga_infra.settings import Settings
from shared_events.kafka.provisioning import ensure_topics

EXIT_NOT_RUNNING = 3


def _say(line: str) -> None:
    print(line, flush=True)


def _up(settings: Settings) -> int:
    started = time.monotonic()
    result = stack.up(settings, progress=_say)
    elapsed = time.monotonic() - started
    pids = f"kafka pid {result.kafka_pid}, postgres pid {result.postgres_pid}"
    if result.jaeger_pid is not None:
        pids += f", jaeger pid {result.jaeger_pid} (UI {settings.jaeger_url})"
    if result.prometheus_pid is not None:
        pids += f", prometheus pid {result.prometheus_pid} ({settings.prometheus_url})"
    if result.was_running:
        _say(f"up: already running ({pids}); checked in {elapsed:.1f} s")
        return 0
    _say(result.db_init)
    if result.created_topics:
        _say(f"topics: created {', '.join(result.created_topics)}")
    _say(
        f"up: ready in {elapsed:.1f} s ({pids}): KAFKA_BOOTSTRAP_SERVERS={settings.kafka_bootstrap}"
        f" PG={settings.pg_host}:{settings.pg_port}/{settings.pg_database}"
    )
    return 0


def _down(settings: Settings, wipe: bool) -> int:
    started = time.monotonic()
    stopped = stack.reset(settings) if wipe else stack.down(settings)
    for name, pid in stopped.items():
        _say(f"{name}: {'stopped pid ' + str(pid) if pid else 'was not running'}")
    if wipe:
        _say(f"reset: wiped Kafka, PostgreSQL and Prometheus data under {settings.stack_dir}")
    _say(f"{'reset' if wipe else 'down'}: done in {time.monotonic() - started:.1f} s")
    return 0


def _status(settings: Settings) -> int:
    for name, line in stack.status(settings).items():
        _say(f"{name}: {line}")
    return 0 if stack.is_running(settings) else EXIT_NOT_RUNNING


def _dev(settings: Settings, action: str) -> int:
    started = time.monotonic()
    if action == "down":
        dev.down(settings, _say)
        return 0
    dev.up(settings, _say)
    _say(f"dev: system ready in {time.monotonic() - started:.1f} s")
    for line in dev.usage_lines(settings):
        _say(line)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m saga_infra",
        description="Local Kafka (KRaft) + PostgreSQL (+ Jaeger, Prometheus) stack without "
        "Docker. Configured by environment variables (STACK_DIR, KAFKA_PORT, PG_PORT, ...).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("up", help="start Kafka and PostgreSQL (no-op if running), init DB+topics")
    commands.add_parser("down", help="stop them; data stays")
    commands.add_parser("reset", help="stop them and wipe their data (the jar cache stays)")
    commands.add_parser("status", help="one line per component; exit 3 unless both run")
    commands.add_parser("db-init", help="create database, schemas and service roles (idempotent)")
    commands.add_parser(
        "test-infra",
        help="up, with the tests' database (TEST_PG_DATABASE, else <PG_DATABASE>_test) "
        "initialised: what a service's own `make test` needs",
    )
    commands.add_parser("env", help="print shell export lines of the effective settings")
    commands.add_parser("topics", help="create the event and dead-letter topics (idempotent)")
    dev_parser = commands.add_parser("dev", help="the whole system: infra + services + demo data")
    dev_parser.add_argument("action", choices=["up", "down"])
    commands.add_parser(
        "demo", help="load demo data into running services (e.g. docker compose) and say how"
    )
    e2e_parser = commands.add_parser("e2e", help="run pytest on a running system or a local one")
    e2e_parser.add_argument("pytest_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.command == "up":
            return _up(settings)
        if args.command == "test-infra":
            return _up(settings.for_tests())
        if args.command in ("down", "reset"):
            return _down(settings, wipe=args.command == "reset")
        if args.command == "status":
            return _status(settings)
        if args.command == "topics":
            for topic in ensure_topics(settings.kafka_bootstrap, settings.topic_partitions):
                _say(f"topics: created {topic}")
            return 0
        if args.command == "dev":
            return _dev(settings, args.action)
        if args.command == "demo":
            dev.load_demo(_say)
            for line in dev.usage_lines():
                _say(line)
            return 0
        if args.command == "e2e":
            return dev.e2e(settings, [a for a in args.pytest_args if a != "--"], _say)
        if args.command == "db-init":
            _say(db_init.run(settings))
            return 0
        for line in settings.export_lines():
            _say(line)
        return 0
    except (StackError, ServiceError, RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return getattr(exc, "exit_code", 1)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
