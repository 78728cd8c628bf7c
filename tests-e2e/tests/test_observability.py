"""What an operator sees, read from a real Prometheus scraping the real services.

On a stack of its own (`OBS_*` variables; Prometheus scraping every 2 s), because these tests
stop a consumer and the broker: a poison record raises the dead-letter gauge, a stopped
consumer shows as lag that drains once it is back, the outbox backlog rises while Kafka is
down and drains after, and every panel of the committed Grafana dashboard has data.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from saga_e2e import own_stack
from saga_e2e.client import SagaClient, unique
from saga_e2e.own_stack import StackSpec, System
from saga_e2e.poison import inject, poison_records
from saga_e2e.prometheus import Prometheus
from saga_infra import kafka_server, services
from saga_infra.dashboard import panel_queries
from saga_infra.services import SERVICES

pytestmark = [pytest.mark.e2e, pytest.mark.observability, pytest.mark.timeout(900)]

# Never the defaults, the chaos, storm or bench stacks: these tests stop parts of their stack.
OBS = StackSpec(
    "obs",
    "OBS",
    {
        "STACK_DIR": "/tmp/obsstack",
        "KAFKA_PORT": "27092",
        "KAFKA_CONTROLLER_PORT": "27093",
        "PG_PORT": "27532",
        "ORDER_HTTP_PORT": "27001",
        "PAYMENT_HTTP_PORT": "27002",
        "INVENTORY_HTTP_PORT": "27003",
        "JAEGER": "0",
        "PROMETHEUS": "1",
        "PROMETHEUS_PORT": "27090",
        "PROMETHEUS_SCRAPE_INTERVAL": "2s",
    },
)
PAYMENT = next(s for s in SERVICES if s.name == "payment")
ALERTS = {
    "SagaStuckPastDeadline",
    "ConsumerLagHigh",
    "DeadLetterTopicNotEmpty",
    "OutboxOldestAgeHigh",
    "ServiceDown",
}


def group_lag(group: str) -> str:
    return f'sum(max by (topic, partition) (saga_consumer_lag{{job="saga", group="{group}"}}))'


@dataclass
class Observed:
    system: System
    prometheus: Prometheus


@pytest.fixture(scope="session")
def system_is_up() -> None:
    """Overrides the e2e check of the main system: this module brings up its own stack."""


@pytest.fixture(scope="module")
def observed() -> Iterator[Observed]:
    with own_stack.running(OBS, print) as system:
        prometheus = Prometheus(system.settings.prometheus_url)
        expr = 'count(up{job="saga"} == 1)'
        prometheus.wait_for(expr, lambda v: v == len(SERVICES), "every service scraped")
        yield Observed(system, prometheus)


def place(saga: SagaClient, confirmed: int, cancelled: int) -> list[str]:
    """Orders that will be confirmed, and ones cancelled for want of stock (then refunded)."""
    sku, empty, customer = unique("sku"), unique("sku"), unique("cust")
    saga.put_product(sku, quantity=confirmed, price_cents=100)
    saga.put_product(empty, quantity=0, price_cents=100)
    saga.open_account(customer, 100 * (confirmed + cancelled))
    items = [sku] * confirmed + [empty] * cancelled
    return [saga.place_order(customer, [(item, 1)]).json()["order_id"] for item in items]


def test_prometheus_scrapes_the_three_services_and_holds_the_alert_rules(
    observed: Observed,
) -> None:
    up = observed.prometheus.query('up{job="saga"}')
    assert sorted(s["metric"]["service"] for s in up) == sorted(s.name for s in SERVICES)
    assert all(s["value"][1] == "1" for s in up)
    assert set(observed.prometheus.alert_rules()) == ALERTS


def test_every_dashboard_panel_has_data_after_a_short_load(
    observed: Observed, saga: SagaClient
) -> None:
    orders = place(saga, confirmed=12, cancelled=4)
    outcomes = [saga.wait_terminal(order_id, 60)["status"] for order_id in orders]
    assert outcomes.count("CONFIRMED") == 12 and outcomes.count("CANCELLED") == 4
    prometheus = observed.prometheus
    ended = 'sum by (outcome) (saga_duration_seconds_count{job="saga"})'
    prometheus.wait_for(
        f"count({ended} > 0)", lambda v: v == 2, "sagas ended, confirmed and cancelled"
    )

    queries = panel_queries()
    assert queries, "the dashboard has no Prometheus queries"
    # A rate needs two scrapes of the load inside its window: allow a few scrape intervals.
    deadline = time.monotonic() + 30
    while True:
        empty = [
            f"{query.title} [{query.ref_id}]: {query.promql('1m')}"
            for query in queries
            if not prometheus.query(query.promql("1m"))
        ]
        if not empty or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert not empty, "panels with no data:\n" + "\n".join(empty)


def test_a_stopped_consumer_shows_as_lag_that_drains_once_it_is_back(
    observed: Observed, saga: SagaClient
) -> None:
    settings, prometheus = observed.system.settings, observed.prometheus
    lag = group_lag("payment-service")
    prometheus.wait_for(lag, lambda v: v == 0, "payment-service lag 0 before")
    # The payment service without its consumer: its API (and /metrics) stay up, and the
    # group's lag is read from the broker, so it shows.
    services.stop(settings, PAYMENT)
    try:
        services.start(settings, PAYMENT, ["--no-consumer"])
        services.wait_ready(settings, PAYMENT, 60)
        orders = place(saga, confirmed=5, cancelled=0)
        prometheus.wait_for(lag, lambda v: (v or 0) >= len(orders), "lag while consumer stopped")
    finally:
        services.stop(settings, PAYMENT)
        services.start(settings, PAYMENT)
        services.wait_ready(settings, PAYMENT, 60)

    prometheus.wait_for(lag, lambda v: v == 0, "lag drained after the restart")
    assert all(saga.wait_terminal(order_id, 60)["status"] == "CONFIRMED" for order_id in orders)


def test_a_poison_record_raises_the_dead_letter_metric_and_its_alert(
    observed: Observed,
) -> None:
    prometheus = observed.prometheus
    dead = 'max(saga_dead_letter_records{job="saga", group="payment-service"})'
    before = prometheus.wait_for(dead, lambda v: v is not None, "dead-letter gauge read")
    assert before is not None

    [poison] = poison_records(1)  # on order-events: payment and inventory both read it
    inject(unique("obs"), [poison])

    prometheus.wait_for(dead, lambda v: (v or 0) > before, "payment-service dead letters")
    inventory = 'max(saga_dead_letter_records{job="saga", group="inventory-service"})'
    prometheus.wait_for(inventory, lambda v: (v or 0) >= 1, "inventory-service dead letters")
    # The alert waits its minute as pending before it fires; pending is enough to prove it.
    prometheus.wait_for(
        'count(ALERTS{alertname="DeadLetterTopicNotEmpty", group="payment-service"})',
        lambda v: v == 1,
        "DeadLetterTopicNotEmpty pending or firing",
    )


def test_the_outbox_backlog_rises_while_kafka_is_down_and_drains_after(
    observed: Observed, saga: SagaClient
) -> None:
    settings, prometheus = observed.system.settings, observed.prometheus
    backlog = 'max(saga_outbox_backlog_rows{job="saga", service="order"})'
    prometheus.wait_for(backlog, lambda v: v == 0, "order outbox empty before")
    sku, customer = unique("sku"), unique("cust")
    saga.put_product(sku, quantity=3, price_cents=100)
    saga.open_account(customer, 300)
    assert kafka_server.kill(settings) is not None
    try:
        # The order service takes orders without Kafka: they wait in its outbox.
        orders = [saga.place_order(customer, [(sku, 1)]).json()["order_id"] for _ in range(3)]
        prometheus.wait_for(backlog, lambda v: (v or 0) >= 3, "outbox backlog while Kafka down")
        age = 'max(saga_outbox_oldest_age_seconds{job="saga", service="order"})'
        prometheus.wait_for(age, lambda v: (v or 0) > 0, "oldest unsent row ageing")
    finally:
        pid = kafka_server.start(settings, kafka_server.find_java(settings))
        kafka_server.wait_ready(settings, pid, 120)

    prometheus.wait_for(backlog, lambda v: v == 0, "outbox drained", timeout_s=120)
    assert all(saga.wait_terminal(order_id, 120)["status"] == "CONFIRMED" for order_id in orders)
