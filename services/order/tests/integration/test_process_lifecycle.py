"""The service process: started without its dependencies it waits, and SIGTERM drains it.

Postgres and Kafka sit behind a TCP gate the test opens when it wants them to "come back"
(Kafka clients only bootstrap through it; later connections go to the advertised broker).
The order service is the one under test because it ignores events of orders it does not
know, so consuming the shared broker's topics leaves other tests' data alone.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from confluent_kafka import ConsumerGroupState
from confluent_kafka.admin import AdminClient

from shared_events.runtime.migrations import upgrade

ROLE = "order_service"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TcpGate:
    """Forwards 127.0.0.1:<port> to a target once opened; until then the port refuses."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = _free_port()
        self._server: socket.socket | None = None
        self._sockets: list[socket.socket] = []

    def open(self) -> None:
        server = socket.create_server(("127.0.0.1", self.port))
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def close(self) -> None:
        for sock in [*self._sockets, *([self._server] if self._server else [])]:
            try:
                sock.close()
            except OSError:
                pass

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
                upstream = socket.create_connection(self.target)
            except OSError:
                return
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def gates(infra: Any) -> Iterator[tuple[TcpGate, TcpGate]]:
    host, port = infra.kafka_bootstrap.rsplit(":", 1)
    database, kafka = TcpGate((infra.pg_host, infra.pg_port)), TcpGate((host, int(port)))
    yield database, kafka
    database.close()
    kafka.close()


@pytest.fixture
def order_process(infra: Any, gates: tuple[TcpGate, TcpGate]) -> Iterator[dict[str, Any]]:
    upgrade("order_service", infra.sqlalchemy_url(ROLE))
    database, kafka = gates
    group = f"order-lifecycle-{uuid.uuid4().hex[:8]}"
    port = _free_port()
    env = {
        **os.environ,
        "ORDER_DB_HOST": "127.0.0.1",
        "ORDER_DB_PORT": str(database.port),
        "ORDER_DB_NAME": infra.pg_database,
        "ORDER_DB_PASSWORD": ROLE,
        "ORDER_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka.port}",
        "ORDER_HTTP_PORT": str(port),
        "ORDER_CONSUMER_GROUP": group,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "order_service", "serve", "--no-relay"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield {"process": process, "url": f"http://127.0.0.1:{port}", "group": group}
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def _wait_for(check: Any, timeout_s: float, what: str) -> Any:
    until = time.monotonic() + timeout_s
    while time.monotonic() < until:
        try:
            found = check()
        except httpx.HTTPError:
            found = None
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def test_started_without_postgres_and_kafka_it_waits_then_recovers_and_drains_on_sigterm(
    infra: Any, gates: tuple[TcpGate, TcpGate], order_process: dict[str, Any]
) -> None:
    database, kafka = gates
    url, process = order_process["url"], order_process["process"]

    live = _wait_for(lambda: httpx.get(f"{url}/health/live"), 30, "/health/live")
    assert live.status_code == 200
    waiting = httpx.get(f"{url}/health/ready")
    assert waiting.status_code == 503
    assert {"database", "kafka", "consumer"} <= set(waiting.json()["not_ready"])

    database.open()
    kafka.open()
    _wait_for(lambda: httpx.get(f"{url}/health/ready").status_code == 200, 60, "readiness")
    assert process.poll() is None, "the service exited instead of waiting"

    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=45)
    assert process.returncode == 0, output[-2000:]
    assert '"consumer stopped"' in output and '"clean": true' in output, output[-2000:]
    # It left its group on the way out, instead of waiting to be timed out of it.
    admin = AdminClient({"bootstrap.servers": infra.kafka_bootstrap})
    group = order_process["group"]
    described = admin.describe_consumer_groups([group])[group].result(timeout=15)
    assert described.state == ConsumerGroupState.EMPTY
    assert described.members == []
