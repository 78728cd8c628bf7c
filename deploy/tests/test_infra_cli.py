"""`python -m saga_infra`: idempotent `up`, clear one-line failures, nothing left behind."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from saga_infra import kafka_server, postgres_server, processes, stack
from saga_infra.settings import Settings

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "saga_infra", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def stack_env() -> Iterator[dict[str, str]]:
    """Env of a throwaway stack: own dir, own free ports, the shared jar cache; always stopped."""
    stack_dir = Path(tempfile.mkdtemp(prefix="saga-stack-"))
    stack_dir.chmod(0o755)  # root runs PostgreSQL as an unprivileged user, who must get in
    env = {
        **os.environ,
        "STACK_DIR": str(stack_dir),
        "KAFKA_LIBS_DIR": str(Settings.from_env().kafka_libs_dir),
        "KAFKA_PORT": str(_free_port()),
        "KAFKA_CONTROLLER_PORT": str(_free_port()),
        "PG_PORT": str(_free_port()),
        "JAEGER": "0",
        "PROMETHEUS": "0",
    }
    yield env
    settings = Settings.from_env(env)
    stack.down(settings)
    for pid_file in (kafka_server.pid_file(settings), postgres_server.pid_file(settings)):
        pid = processes.read_pid(pid_file)
        assert pid is None or not processes.is_alive(pid), f"left behind: pid {pid}"
    shutil.rmtree(stack_dir, ignore_errors=True)


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_up_twice_is_a_noop_and_down_stops_both(stack_env: dict[str, str]) -> None:
    first = _cli(stack_env, "up")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "up: ready in" in first.stdout
    assert "topics: created order-events" in first.stdout
    settings = Settings.from_env(stack_env)
    kafka_pid, pg_pid = kafka_server.running_pid(settings), postgres_server.running_pid(settings)
    assert kafka_pid is not None and pg_pid is not None

    started = time.monotonic()
    second = _cli(stack_env, "up")
    elapsed = time.monotonic() - started
    assert second.returncode == 0, second.stderr
    assert f"already running (kafka pid {kafka_pid}, postgres pid {pg_pid})" in second.stdout
    assert "topics: created" not in second.stdout
    assert elapsed < 10
    assert kafka_server.running_pid(settings) == kafka_pid
    assert postgres_server.running_pid(settings) == pg_pid
    assert _cli(stack_env, "status").returncode == 0

    down = _cli(stack_env, "down")
    assert down.returncode == 0, down.stderr
    assert f"kafka: stopped pid {kafka_pid}" in down.stdout
    assert not processes.is_alive(kafka_pid) and not processes.is_alive(pg_pid)
    assert _cli(stack_env, "status").returncode == 3
    assert (settings.pg_data_dir / "PG_VERSION").is_file(), "down keeps the data"

    reset = _cli(stack_env, "reset")
    assert reset.returncode == 0, reset.stderr
    assert not settings.pg_data_dir.exists() and not settings.kafka_data_dir.exists()


def test_down_never_signals_a_process_that_is_not_ours(stack_env: dict[str, str]) -> None:
    settings = Settings.from_env(stack_env)
    # Stale PID files that now name an unrelated live process: this very test run.
    for pid_file in (kafka_server.pid_file(settings), postgres_server.pid_file(settings)):
        processes.write_pid(pid_file, os.getpid())
    result = _cli(stack_env, "down", timeout=60)
    assert result.returncode == 0, result.stderr
    assert "kafka: was not running" in result.stdout
    assert "postgres: was not running" in result.stdout
    assert processes.is_alive(os.getpid())


@pytest.mark.parametrize("variable", ["KAFKA_PORT", "KAFKA_CONTROLLER_PORT", "PG_PORT"])
def test_up_refuses_a_port_taken_by_another_process(
    stack_env: dict[str, str], variable: str
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = {**stack_env, variable: str(port)}
        result = _cli(env, "up", timeout=60)
    assert result.returncode != 0
    assert _one_line(result) == (
        f"error: port {port} is already in use ({variable}); "
        "stop the other process or choose another port"
    )
    assert not stack.is_running(Settings.from_env(env))
    assert not (Path(env["STACK_DIR"]) / "run" / "kafka.pid").exists()


def test_up_without_java_names_the_missing_jdk(stack_env: dict[str, str]) -> None:
    env = {k: v for k, v in stack_env.items() if k not in ("JAVA", "JAVA_HOME")}
    env["PATH"] = "/nonexistent"
    result = _cli(env, "up", timeout=60)
    assert result.returncode == 2
    assert _one_line(result).startswith("error: java not found")

    result = _cli({**stack_env, "JAVA": "/nonexistent/bin/java"}, "up", timeout=60)
    assert result.returncode == 2
    assert "/nonexistent/bin/java" in _one_line(result)


def test_up_without_maven_names_it_when_jars_are_missing(stack_env: dict[str, str]) -> None:
    empty_cache = str(Path(stack_env["STACK_DIR"]) / "no-jars")
    result = _cli({**stack_env, "KAFKA_LIBS_DIR": empty_cache, "MVN": "no-such-mvn"}, "up")
    assert result.returncode == 2
    assert _one_line(result).startswith("error: mvn not found ('no-such-mvn')")


def test_up_without_postgres_binaries_names_them(stack_env: dict[str, str]) -> None:
    result = _cli({**stack_env, "PG_BIN_DIR": "/nonexistent"}, "up", timeout=60)
    assert result.returncode == 2
    assert "PG_BIN_DIR" in _one_line(result)


def test_env_prints_exports_for_the_shell(stack_env: dict[str, str]) -> None:
    result = _cli(stack_env, "env", timeout=30)
    assert result.returncode == 0
    assert f"export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:{stack_env['KAFKA_PORT']}" in result.stdout
    assert "export PG_DSN=postgresql://postgres:postgres@127.0.0.1:" in result.stdout


def test_postgres_runs_from_a_stack_dir_inside_a_private_home() -> None:
    """As root the server runs as an unprivileged user; a 0700 parent must not stop it."""
    home = Path(tempfile.mkdtemp(prefix="saga-home-"))  # mkdtemp makes it 0700
    env = {**os.environ, "STACK_DIR": str(home / "checkout" / ".local")}
    env.pop("PG_DIR", None)
    env["PG_PORT"] = str(_free_port())
    settings = Settings.from_env(env)
    try:
        postgres_server.start(settings, timeout=60)
        assert postgres_server.accepts_connections(settings)
        if os.geteuid() == 0:
            assert not settings.pg_dir.is_relative_to(home), settings.pg_dir
    finally:
        postgres_server.stop(settings)
        shutil.rmtree(settings.pg_dir, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
