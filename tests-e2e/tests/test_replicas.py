"""Two replicas of every service in one consumer group each, on a stack of its own
(`REPLICA_*` variables): the partitions spread over both, a killed replica's partitions move
to the survivor while sagas keep completing, and a replica paused past its session timeout
(a zombie) wakes to apply nothing twice and commit no stale offset.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, TopicPartition

from saga_e2e import own_stack
from saga_e2e.client import SagaClient, unique
from saga_e2e.own_stack import StackSpec, System
from saga_infra import groups, services
from saga_infra.services import SERVICES
from shared_events.topics import ORDER_EVENTS

pytestmark = [pytest.mark.e2e, pytest.mark.replicas, pytest.mark.timeout(900)]

REPLICA = StackSpec(
    "replicas",
    "REPLICA",
    {
        "STACK_DIR": "/tmp/replicastack",
        "KAFKA_PORT": "24092",
        "KAFKA_CONTROLLER_PORT": "24093",
        "PG_PORT": "24532",
        "ORDER_HTTP_PORT": "24001",
        "PAYMENT_HTTP_PORT": "24002",
        "INVENTORY_HTTP_PORT": "24003",
        "JAEGER": "0",
        "PROMETHEUS": "0",
        "SERVICE_REPLICAS": "2",
    },
    foreign=(*own_stack.FOREIGN, "ORDER_REPLICAS", "PAYMENT_REPLICAS", "INVENTORY_REPLICAS"),
)
PAYMENT = next(s for s in SERVICES if s.name == "payment")
SECOND_PAYMENT = PAYMENT.replicas(2)[1]
SESSION_TIMEOUT_S = 10  # shared_events.kafka.consuming.group: session.timeout.ms


@pytest.fixture(scope="session")
def system_is_up() -> None:
    """Overrides the e2e check of the main system: this module brings up its own stack."""


@pytest.fixture(scope="module")
def system() -> Iterator[System]:
    with own_stack.running(REPLICA, print) as running:
        yield running


def committed(settings_bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset per partition of `topic` (read without joining it)."""
    reader = Consumer({"bootstrap.servers": settings_bootstrap, "group.id": group})
    try:
        partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
        offsets = reader.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        return {tp.partition: tp.offset for tp in offsets}
    finally:
        reader.close()


def orders_for(saga: SagaClient, count: int) -> list[str]:
    sku, customer = unique("sku"), unique("cust")
    saga.put_product(sku, quantity=count, price_cents=100)
    saga.open_account(customer, 100 * count)
    return [saga.place_order(customer, [(sku, 1)]).json()["order_id"] for _ in range(count)]


def test_each_group_spreads_its_partitions_over_both_replicas(system: System) -> None:
    expected = {f"{s.name}-service": 2 for s in SERVICES}
    spread = groups.wait_spread(system.settings.kafka_bootstrap, expected)

    for group in expected:
        members = spread.get(group, [])
        assert len(members) == 2, (group, members)
        assert all(member.partitions for member in members), (group, members)
        held = [p for member in members for p in member.partitions]
        assert len(held) == len(set(held)), f"{group}: a partition held twice: {held}"


def test_a_killed_replica_hands_its_partitions_to_the_survivor(
    system: System, saga: SagaClient
) -> None:
    settings = system.settings
    assert services.kill(settings, SECOND_PAYMENT) is not None
    try:
        orders = orders_for(saga, 8)
        # The survivor takes the dead member's partitions once the session times out.
        outcomes = [saga.wait_terminal(order_id, 60)["status"] for order_id in orders]
        assert outcomes == ["CONFIRMED"] * len(orders)
    finally:
        services.start(settings, SECOND_PAYMENT)
        services.wait_ready(settings, SECOND_PAYMENT, 90)


def test_a_paused_replica_wakes_to_apply_nothing_twice_and_commit_no_stale_offset(
    system: System, saga: SagaClient
) -> None:
    settings = system.settings
    pid = services.running_pid(settings, SECOND_PAYMENT)
    assert pid is not None
    placed: list[str] = []
    stop = threading.Event()

    def load() -> None:
        client = SagaClient()
        try:
            while not stop.is_set():
                placed.extend(orders_for(client, 2))
                time.sleep(0.3)
        finally:
            client.close()

    loader = threading.Thread(target=load)
    loader.start()
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(SESSION_TIMEOUT_S + 8)  # past the session timeout: the group moves on
        before = committed(settings.kafka_bootstrap, "payment-service", ORDER_EVENTS)
        during = list(placed)
        # Orders placed while the zombie sleeps complete on the survivor.
        assert during, "the load placed nothing"
        assert saga.wait_terminal(during[-1], 60)["status"] == "CONFIRMED"
    finally:
        os.kill(pid, signal.SIGCONT)
    time.sleep(SESSION_TIMEOUT_S)  # the woken member finds itself out of the group, rejoins
    stop.set()
    loader.join(60)

    after = committed(settings.kafka_bootstrap, "payment-service", ORDER_EVENTS)
    went_back = {p: (before[p], after[p]) for p in before if after[p] < before[p]}
    assert not went_back, f"committed offsets moved back after the zombie woke: {went_back}"
    for order_id in placed:
        assert saga.wait_terminal(order_id, 90)["status"] == "CONFIRMED"
        charges = [p for p in saga.payments(order_id) if p["kind"] == "charge"]
        assert len(charges) == 1, (order_id, charges)
    assert services.running_pid(settings, SECOND_PAYMENT) == pid, "the zombie did not survive"
