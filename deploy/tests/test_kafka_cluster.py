"""KAFKA_BROKERS=3: a three-node KRaft cluster (combined roles) on the JDK, its topics
replicated three times with min.insync.replicas=2, so producing with acks=all goes on while
one broker is down."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient, ConfigResource

from saga_infra import kafka_server, processes, stack
from saga_infra.settings import Settings
from shared_events.topics import ORDER_EVENTS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

BASE_PORT = 21092  # nodes on 21092/21093, 21094/21095, 21096/21097 (below the ephemeral range)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "saga_infra", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.fixture
def cluster_env() -> Iterator[dict[str, str]]:
    stack_dir = Path(tempfile.mkdtemp(prefix="saga-kraft3-"))
    stack_dir.chmod(0o755)  # root runs PostgreSQL as an unprivileged user, who must get in
    env = {
        **os.environ,
        "STACK_DIR": str(stack_dir),
        "KAFKA_LIBS_DIR": str(Settings.from_env().kafka_libs_dir),
        "KAFKA_BROKERS": "3",
        "KAFKA_PORT": str(BASE_PORT),
        "KAFKA_CONTROLLER_PORT": str(BASE_PORT + 1),
        "PG_PORT": str(BASE_PORT + 440),
        "JAEGER": "0",
        "PROMETHEUS": "0",
    }
    yield env
    settings = Settings.from_env(env)
    stack.down(settings)
    for node in kafka_server.nodes(settings):
        pid = processes.read_pid(kafka_server.pid_file(settings, node))
        assert pid is None or not processes.is_alive(pid), f"left behind: kafka node {node}"
    shutil.rmtree(stack_dir, ignore_errors=True)


def _produce(bootstrap: str, count: int) -> list[KafkaError]:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    failures: list[KafkaError] = []

    def report(error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            failures.append(error)

    for n in range(count):
        producer.produce(ORDER_EVENTS, key=f"k{n}".encode(), value=b"{}", on_delivery=report)
    assert producer.flush(60) == 0
    return failures


def _in_sync(bootstrap: str) -> set[int]:
    """The smallest in-sync replica count over the partitions of order-events."""
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    return {len(p.isrs) for p in metadata.topics[ORDER_EVENTS].partitions.values()}


def test_three_nodes_replicate_the_topics_and_survive_one_broker_down(
    cluster_env: dict[str, str],
) -> None:
    up = _cli(cluster_env, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    settings = Settings.from_env(cluster_env)
    pids = kafka_server.running_pids(settings)
    assert None not in pids.values() and len(set(pids.values())) == 3
    assert settings.kafka_bootstrap == ",".join(f"127.0.0.1:{BASE_PORT + 2 * n}" for n in range(3))

    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    metadata = admin.list_topics(timeout=10)
    assert {len(p.replicas) for p in metadata.topics[ORDER_EVENTS].partitions.values()} == {3}
    [config] = admin.describe_configs([ConfigResource("topic", ORDER_EVENTS)]).values()
    assert config.result()["min.insync.replicas"].value == "2"
    # A crashed node is fenced after 3 s of missed heartbeats (Kafka's default: 9 s).
    node_props = kafka_server.config_file(settings, 1).read_text().splitlines()
    assert "broker.session.timeout.ms=3000" in node_props

    assert kafka_server.kill(settings, node=2) == pids[2]
    # Two of three replicas in sync are enough for acks=all.
    assert _produce(settings.kafka_bootstrap, 50) == []

    java = kafka_server.find_java(settings)
    pid = kafka_server.start(settings, java, node=2)
    kafka_server.wait_ready(settings, pid, 120, node=2)
    deadline = time.monotonic() + 60
    while _in_sync(settings.kafka_bootstrap) != {3}:
        assert time.monotonic() < deadline, "node 2 did not catch up into the ISR"
        time.sleep(1)
    status = _cli(cluster_env, "status")
    assert "ready" in status.stdout and "stopped" not in status.stdout.split("postgres")[0]


def test_a_cluster_size_it_cannot_run_is_refused_in_one_line() -> None:
    result = _cli({**os.environ, "KAFKA_BROKERS": "2"}, "status")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: KAFKA_BROKERS='2': give 1 or 3"
