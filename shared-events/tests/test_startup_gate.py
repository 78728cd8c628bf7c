"""The start-up gate: delivery loops start only once every dependency answers."""

import socket
import threading

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

from shared_events.kafka.consuming.backoff import Backoff
from shared_events.runtime.startup import (
    KafkaProbe,
    StartupGate,
    database_probe,
    retry_while_unreachable,
)


class Dependency:
    """A probe whose answer the test flips: down until `come_up()`."""

    def __init__(self) -> None:
        self.up = threading.Event()
        self.asked = 0

    def __call__(self) -> str | None:
        self.asked += 1
        return None if self.up.is_set() else "connection refused"


def test_loops_start_only_after_every_dependency_answers() -> None:
    database, kafka, started = Dependency(), Dependency(), threading.Event()
    gate = StartupGate(
        {"database": database, "kafka": kafka}, started.set, Backoff(initial_s=0.01, max_s=0.02)
    )
    gate.open_when_ready()
    try:
        database.up.set()
        assert not started.wait(0.3), "started while Kafka was still down"
        assert gate.checks() == {"database": True, "kafka": False}
        assert not gate.opened
        kafka.up.set()
        assert started.wait(5), "never started after both came up"
        assert gate.opened and gate.checks() == {"database": True, "kafka": True}
        assert kafka.asked >= 3, "the gate did not retry"
    finally:
        gate.close()


def test_closing_before_the_dependencies_answer_never_starts_the_loops() -> None:
    started = threading.Event()
    gate = StartupGate({"database": Dependency()}, started.set, Backoff(initial_s=0.01))
    gate.open_when_ready()
    gate.close()
    assert not started.wait(0.2)
    assert not gate.opened


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_probes_name_what_is_down_on_a_closed_port() -> None:
    free_port = _closed_port()
    engine = create_engine(
        f"postgresql+psycopg://nobody:x@127.0.0.1:{free_port}/none",
        connect_args={"connect_timeout": 2},
    )
    try:
        problem = database_probe(engine)()
    finally:
        engine.dispose()
    assert problem is not None and str(free_port) in problem
    assert KafkaProbe(f"127.0.0.1:{free_port}", timeout_s=0.5)() is not None


def test_migrate_retries_an_unreachable_database_then_gives_up() -> None:
    calls = []

    def unreachable() -> None:
        calls.append(1)
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    with pytest.raises(OperationalError):
        retry_while_unreachable(unreachable, wait_s=1.6)
    assert len(calls) >= 2


def test_migrate_runs_once_when_the_database_answers() -> None:
    calls = []
    retry_while_unreachable(lambda: calls.append(1), wait_s=0.0)
    assert calls == [1]
