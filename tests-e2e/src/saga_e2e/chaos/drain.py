"""Waiting for the saga to settle: orders terminal, outboxes sent, consumer groups caught up."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

import psycopg
from confluent_kafka import Consumer, TopicPartition

from shared_events.topics import INVENTORY_EVENTS, ORDER_EVENTS, PAYMENT_EVENTS

Progress = Callable[[str], None]
CONSUMED = {
    "order-service": (PAYMENT_EVENTS, INVENTORY_EVENTS),
    "payment-service": (ORDER_EVENTS,),
    "inventory-service": (ORDER_EVENTS, PAYMENT_EVENTS),
}
SCHEMAS = ("orders", "payments", "inventory")


@dataclass(frozen=True)
class Backlog:
    """What is still in flight; all zero means the saga has settled."""

    not_terminal: int
    unsent: int
    lag: int

    @property
    def settled(self) -> bool:
        return self.not_terminal == self.unsent == self.lag == 0


def backlog(dsn: str, bootstrap: str, order_ids: Collection[str]) -> Backlog:
    """Accepted orders not yet terminal, unsent outbox rows, and consumer lag, right now."""
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT count(*) FROM unnest(%s::uuid[]) AS a(id) LEFT JOIN orders.orders o"
            " ON o.order_id = a.id WHERE o.status IS NULL"
            " OR o.status NOT IN ('CONFIRMED', 'CANCELLED')",
            (list(order_ids),),
        ).fetchone()
        not_terminal = int(row[0]) if row else 0
        unsent = 0
        for schema in SCHEMAS:
            sent = conn.execute(f"SELECT count(*) FROM {schema}.outbox WHERE sent_at IS NULL")
            unsent += int((sent.fetchone() or (0,))[0])
    return Backlog(not_terminal, unsent, consumer_lag(bootstrap))


def consumer_lag(bootstrap: str) -> int:
    """Messages on the event topics that their consumer groups have not committed yet."""
    total = 0
    for group, topics in CONSUMED.items():
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "log_level": 0})
        try:
            partitions = [
                TopicPartition(topic, p)
                for topic in topics
                for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions
            ]
            for tp in consumer.committed(partitions, timeout=10):
                low, high = consumer.get_watermark_offsets(tp, timeout=10)
                committed = tp.offset if tp.offset >= 0 else low
                total += max(0, high - committed)
        finally:
            consumer.close()
    return total


def dead_letters(bootstrap: str) -> int:
    """Messages ever written to the saga's dead-letter topics (high watermarks summed)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "chaos-probe", "log_level": 0})
    try:
        total = 0
        for group in CONSUMED:
            topic = f"{group}.dlq"
            meta = consumer.list_topics(topic, timeout=10).topics[topic]
            for p in meta.partitions:
                total += consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
        return total
    finally:
        consumer.close()


def wait_settled(
    dsn: str, bootstrap: str, order_ids: Collection[str], deadline_s: float, report: Progress
) -> tuple[Backlog, float]:
    """Poll until settled twice in a row or the deadline; the last backlog and the time taken."""
    began = time.monotonic()
    last, settled_once, next_report = Backlog(-1, -1, -1), False, began + 5
    while True:
        try:
            last = backlog(dsn, bootstrap, order_ids)
        except (psycopg.Error, KeyError) as exc:  # a component still recovering: poll again
            report(f"drain: backlog unavailable ({type(exc).__name__})")
        if last.settled and settled_once:
            return last, time.monotonic() - began
        settled_once = last.settled
        if time.monotonic() - began > deadline_s:
            return last, time.monotonic() - began
        if time.monotonic() >= next_report:
            report(
                f"drain: {last.not_terminal} orders not terminal, {last.unsent} outbox rows "
                f"unsent, consumer lag {last.lag}"
            )
            next_report += 5
        time.sleep(0.5)
