"""A real Prometheus (Debian's binary) on a free port: ready, scrapes file_sd targets, stops."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from saga_infra import processes, prometheus_server, stack
from saga_infra.settings import Settings

pytestmark = pytest.mark.integration

METRICS = b"""\
# HELP saga_outbox_backlog_rows Outbox rows not yet published
# TYPE saga_outbox_backlog_rows gauge
saga_outbox_backlog_rows{service="probe"} 3
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Metrics(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/metrics":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("content-type", "text/plain; version=0.0.4")
        self.send_header("content-length", str(len(METRICS)))
        self.end_headers()
        self.wfile.write(METRICS)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def metrics_server() -> Iterator[str]:
    """A tiny /metrics endpoint on 127.0.0.1; its `host:port`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def settings() -> Iterator[Settings]:
    """A throwaway stack dir and a free port, scraping every second; Prometheus always stopped."""
    stack_dir = Path(tempfile.mkdtemp(prefix="saga-prometheus-"))
    settings = Settings.from_env(
        {
            "STACK_DIR": str(stack_dir),
            "PROMETHEUS_PORT": str(_free_port()),
            "PROMETHEUS_SCRAPE_INTERVAL": "1s",
        }
    )
    try:
        yield settings
    finally:
        pid = processes.read_pid(prometheus_server.pid_file(settings))
        prometheus_server.stop(settings)
        assert pid is None or not processes.is_alive(pid), f"left behind: pid {pid}"
        shutil.rmtree(stack_dir, ignore_errors=True)


def _query(settings: Settings, promql: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{settings.prometheus_url}/api/v1/query", params={"query": promql}, timeout=5.0
    )
    answer.raise_for_status()
    result: list[dict[str, Any]] = answer.json()["data"]["result"]
    return result


def _wait_for_value(settings: Settings, promql: str, value: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    def arrived() -> bool:
        nonlocal seen
        seen = _query(settings, promql)
        return bool(seen) and all(sample["value"][1] == value for sample in seen)

    assert processes.wait_until(arrived, timeout=30, interval=0.5), f"{promql}: {seen}"
    return seen


def test_it_becomes_ready_scrapes_the_targets_dir_and_stops_by_pid(
    settings: Settings, metrics_server: str
) -> None:
    prometheus_server.write_targets(settings, "probe", [(metrics_server, {"service": "probe"})])

    pid = prometheus_server.start(settings)
    prometheus_server.wait_ready(settings, pid, timeout=30)

    assert prometheus_server.running_pid(settings) == pid
    assert prometheus_server.answers(settings)
    assert f"--web.listen-address=127.0.0.1:{settings.prometheus_port}" in processes.cmdline(pid)
    (up,) = _wait_for_value(settings, 'up{job="saga"}', "1")
    assert up["metric"] == {
        "__name__": "up",
        "job": "saga",
        "instance": metrics_server,
        "service": "probe",
    }
    (backlog,) = _query(settings, "saga_outbox_backlog_rows")
    assert backlog["metric"]["service"] == "probe" and backlog["value"][1] == "3"
    assert "running (pid" in stack.status(settings)["prometheus"]
    assert stack.status(settings)["prometheus"].endswith(", ready")

    # The committed rules are loaded, all five alerts.
    rules = httpx.get(f"{settings.prometheus_url}/api/v1/rules", timeout=5.0).json()
    names = {rule["name"] for group in rules["data"]["groups"] for rule in group["rules"]}
    assert names == {
        "SagaStuckPastDeadline",
        "ConsumerLagHigh",
        "DeadLetterTopicNotEmpty",
        "OutboxOldestAgeHigh",
        "ServiceDown",
    }

    # Another instance is one more file in the targets dir, seen without a restart.
    free = _free_port()
    prometheus_server.write_targets(settings, "replica", [(f"127.0.0.1:{free}", {"service": "x"})])
    (down,) = _wait_for_value(settings, 'up{job="saga", service="x"}', "0")
    assert down["metric"]["instance"] == f"127.0.0.1:{free}"

    assert prometheus_server.stop(settings) == pid
    assert not processes.is_alive(pid)
    assert not prometheus_server.pid_file(settings).exists()
    assert prometheus_server.running_pid(settings) is None
    assert stack.status(settings)["prometheus"] == "stopped"


def test_stop_never_signals_a_process_that_is_not_ours(settings: Settings) -> None:
    # A stale PID file that now names an unrelated live process: this very test run.
    processes.write_pid(prometheus_server.pid_file(settings), os.getpid())
    assert prometheus_server.stop(settings) is None
    assert processes.is_alive(os.getpid())
