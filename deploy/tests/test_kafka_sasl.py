"""The services' Kafka clients on a SASL_PLAINTEXT listener with SCRAM-SHA-512 (the Helm chart's
default authentication): a real KRaft broker from the Maven-resolved jars, its SCRAM users
written at `kafka-storage format`, reached through a service's own settings (ORDER_KAFKA_*)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer

from order_service.settings import Settings as OrderSettings
from saga_infra import kafka_server, processes
from saga_infra.errors import BadSettingError, StackError
from saga_infra.settings import Settings
from shared_events.kafka.connection import KafkaConnection
from shared_events.kafka.consuming.group import group_config
from shared_events.kafka.consuming.lag import GroupLag
from shared_events.kafka.dead_letters.reader import end_offsets
from shared_events.kafka.provisioning import ensure_topics
from shared_events.kafka.publishing.producer import (
    OutgoingRecord,
    produce_and_flush,
    producer_config,
)
from shared_events.runtime.startup import KafkaProbe
from shared_events.topics import ORDER_EVENTS, dead_letter_topic

pytestmark = pytest.mark.timeout(300)

STACK_DIR = Path("/tmp/sasl-kafka-test")
PORT = 22092  # clients (SASL_PLAINTEXT); the controller listens on 22093
BOOTSTRAP = f"127.0.0.1:{PORT}"
BROKER_USER = ("broker", "broker-secret")  # the brokers' own (inter-broker) user
SERVICE_USER, SERVICE_PASSWORD = "saga-order-service", "order-scram-secret"


@pytest.fixture(scope="module")
def sasl_kafka() -> Iterator[Settings]:
    env = {
        **os.environ,
        "STACK_DIR": str(STACK_DIR),
        "KAFKA_LIBS_DIR": str(Settings.from_env().kafka_libs_dir),
        "KAFKA_HOST": "127.0.0.1",
        "KAFKA_PORT": str(PORT),
        "KAFKA_CONTROLLER_PORT": str(PORT + 1),
        "KAFKA_BROKERS": "1",
    }
    settings = dataclasses.replace(
        Settings.from_env(env), kafka_scram_users=(BROKER_USER, (SERVICE_USER, SERVICE_PASSWORD))
    )
    kafka_server.stop(settings)  # a broker a killed run of this module left (by its PID file)
    shutil.rmtree(STACK_DIR, ignore_errors=True)
    for port in (PORT, PORT + 1):
        if processes.port_in_use("127.0.0.1", port):
            pytest.fail(f"port {port} is taken by a process this test did not start")
    kafka_server.ensure_jars(settings, progress=print)
    pid = kafka_server.start(settings, kafka_server.find_java(settings))
    try:
        try:
            kafka_server.wait_ready(settings, pid, 120)
        except StackError as error:
            log = kafka_server.log_file(settings).read_text(errors="replace").splitlines()
            pytest.fail(f"{error}\n" + "\n".join(log[-30:]))
        yield settings
    finally:
        kafka_server.stop(settings)
        assert not processes.is_alive(pid), f"left behind: kafka {pid}"
        shutil.rmtree(STACK_DIR, ignore_errors=True)


def test_a_scram_stack_has_a_sasl_listener_and_plain_word_credentials(tmp_path: Path) -> None:
    users = (BROKER_USER, (SERVICE_USER, SERVICE_PASSWORD))
    env = {"STACK_DIR": str(tmp_path), "KAFKA_PORT": str(PORT), "KAFKA_CONTROLLER_PORT": "22093"}
    settings = dataclasses.replace(Settings.from_env(env), kafka_scram_users=users)
    lines = kafka_server.write_config(settings).read_text().splitlines()
    props = dict(line.split("=", 1) for line in lines)
    assert props["listeners"] == f"SASL_PLAINTEXT://{BOOTSTRAP},CONTROLLER://127.0.0.1:22093"
    assert props["inter.broker.listener.name"] == "SASL_PLAINTEXT"
    assert props["sasl.enabled.mechanisms"] == props["sasl.mechanism.inter.broker.protocol"]
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    jaas = props["listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config"]
    assert 'username="broker" password="broker-secret";' in jaas
    assert kafka_server.client_config(settings)["sasl.username"] == "broker"
    # Without users: the PLAINTEXT listener of every other stack.
    plain = kafka_server.write_config(Settings.from_env(env)).read_text()
    assert f"listeners=PLAINTEXT://{BOOTSTRAP}," in plain and "sasl.enabled" not in plain

    quoted = dataclasses.replace(settings, kafka_scram_users=(("broker", 'pa"ss'),))
    with pytest.raises(BadSettingError, match="letters, digits"):
        kafka_server.write_config(quoted)


def _order_service_kafka(monkeypatch: pytest.MonkeyPatch, password: str) -> KafkaConnection:
    """The connection the order service makes from its ORDER_KAFKA_* variables (as the chart
    sets them)."""
    monkeypatch.setenv("ORDER_KAFKA_BOOTSTRAP_SERVERS", BOOTSTRAP)
    monkeypatch.setenv("ORDER_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("ORDER_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("ORDER_KAFKA_SASL_USERNAME", SERVICE_USER)
    monkeypatch.setenv("ORDER_KAFKA_SASL_PASSWORD", password)
    monkeypatch.delenv("ORDER_KAFKA_SSL_CA_LOCATION", raising=False)
    return OrderSettings().kafka


@pytest.mark.integration
def test_with_its_scram_password_a_service_creates_topics_produces_and_consumes(
    sasl_kafka: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    kafka = _order_service_kafka(monkeypatch, SERVICE_PASSWORD)
    assert KafkaProbe(kafka, timeout_s=10)() is None
    ensure_topics(kafka, partitions=1)

    key = uuid.uuid4().hex.encode()
    records = [OutgoingRecord(n, ORDER_EVENTS, key, b'{"n": %d}' % n, []) for n in range(3)]
    config = producer_config(kafka)
    outcome = produce_and_flush(Producer(config), records, timeout_s=30)
    assert (outcome.delivered, outcome.failed) == ([0, 1, 2], {})

    group = f"sasl-test-{uuid.uuid4().hex[:8]}"
    consumer = Consumer(group_config(kafka, group))
    consumer.subscribe([ORDER_EVENTS])
    seen: list[bytes] = []
    deadline = time.monotonic() + 60
    try:
        while len(seen) < 3:
            assert time.monotonic() < deadline, f"consumed {len(seen)} of 3"
            for message in consumer.consume(10, 0.5):
                assert message.error() is None, message.error()
                if message.key() == key:
                    seen.append(message.value() or b"")
                    consumer.store_offsets(message)
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    assert seen == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']

    # The lag reader (metrics) and the dead-letter reader go through the same settings.
    sample = GroupLag(kafka, group, [ORDER_EVENTS], dead_letter_topic(group), timeout_s=10).sample()
    assert sample.lag == {(ORDER_EVENTS, 0): 0}
    assert end_offsets(kafka, ORDER_EVENTS) == {0: 3}


@pytest.mark.integration
def test_a_wrong_password_is_refused_and_the_broker_says_so(
    sasl_kafka: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    kafka = _order_service_kafka(monkeypatch, "not-the-password")

    # What /health/ready's gate logs while it waits for Kafka: the broker's reason.
    problem = KafkaProbe(kafka, timeout_s=5)()
    assert problem is not None
    assert "SASL authentication error" in problem and "invalid credentials" in problem, problem
    assert "not-the-password" not in problem

    errors: list[KafkaError] = []
    quiet = {"log_level": 0, "error_cb": errors.append}
    config = {**producer_config(kafka), "message.timeout.ms": 5000, **quiet}
    record = OutgoingRecord(0, ORDER_EVENTS, b"k", b"{}", [])
    outcome = produce_and_flush(Producer(config), [record], timeout_s=15)
    assert outcome.delivered == [] and list(outcome.failed) == [0]

    consumer = Consumer({**group_config(kafka, "sasl-test-refused"), **quiet})
    consumer.subscribe([ORDER_EVENTS])
    try:
        got = [m for m in consumer.consume(10, 3.0) if m.error() is None]
    finally:
        consumer.close()
    assert got == []
    refused = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
    assert refused and "invalid credentials with SASL mechanism SCRAM-SHA-512" in refused[0].str()


@pytest.mark.integration
def test_a_plaintext_client_gets_no_answer_from_the_scram_listener(sasl_kafka: Settings) -> None:
    # The services' defaults (PLAINTEXT): what they did before they could speak SASL.
    assert KafkaProbe(BOOTSTRAP, timeout_s=3)() is not None
