"""Waiting for the saga to settle: orders terminal, outboxes sent, consumer groups caught up."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

import psycopg
from confluent_kafka import Consumer, KafkaException, TopicPartition

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


def backlog(dsn: str, lag: LagProbe, order_ids: Collection[str]) -> Backlog:
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
    return Backlog(not_terminal, unsent, lag.lag())


class LagProbe:
    """Consumer lag of the saga's groups, through one client per group kept between calls.

    The clients only read their group's committed offsets (they never subscribe or join);
    keeping them saves a connection and a metadata round per group on every sample, which
    on a loaded 2-core machine slowed the very saga being measured. One probe per thread.
    """

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._clients: dict[str, Consumer] = {}

    def lag(self) -> int:
        """Messages on the event topics that their consumer groups have not committed yet."""
        try:
            return sum(self._group_lag(group, topics) for group, topics in CONSUMED.items())
        except Exception:
            self.close()  # reconnect from scratch next time (e.g. after a broker restart)
            raise

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def lagging(self) -> list[str]:
        """Each partition a group is behind on, as `group topic[p]: committed c of end e`."""
        return [
            f"{group} {topic}[{partition}]: committed {committed} of end {end}"
            for group, topics in CONSUMED.items()
            for topic, partition, committed, end in self._offsets(group, topics)
            if end > committed
        ]

    def _group_lag(self, group: str, topics: tuple[str, ...]) -> int:
        return sum(max(0, end - committed) for *_, committed, end in self._offsets(group, topics))

    def _offsets(self, group: str, topics: tuple[str, ...]) -> list[tuple[str, int, int, int]]:
        """(topic, partition, committed offset, end offset) of every partition `group` reads."""
        client = self._clients.get(group)
        if client is None:
            config = {"bootstrap.servers": self.bootstrap, "group.id": group, "log_level": 0}
            client = self._clients[group] = Consumer(config)
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in client.list_topics(topic, timeout=10).topics[topic].partitions
        ]
        offsets = []
        for tp in client.committed(partitions, timeout=10):
            low, high = client.get_watermark_offsets(tp, timeout=10)
            offsets.append((tp.topic, tp.partition, tp.offset if tp.offset >= 0 else low, high))
        return offsets


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


def wait_until(
    done: Callable[[Backlog], bool],
    dsn: str,
    lag: LagProbe,
    order_ids: Collection[str],
    deadline_s: float,
    report: Progress,
) -> tuple[Backlog, float]:
    """Poll until `done` holds twice in a row or the deadline; the last backlog and time taken."""
    began = time.monotonic()
    last, held_once, next_report = Backlog(-1, -1, -1), False, began + 5
    while True:
        try:
            last = backlog(dsn, lag, order_ids)
        except (psycopg.Error, KafkaException, KeyError) as exc:  # still recovering: poll again
            report(f"drain: backlog unavailable ({type(exc).__name__})")
        holds = last.not_terminal >= 0 and done(last)
        if holds and held_once:
            return last, time.monotonic() - began
        held_once = holds
        if time.monotonic() - began > deadline_s:
            return last, time.monotonic() - began
        if time.monotonic() >= next_report:
            report(
                f"drain: {last.not_terminal} orders not terminal, {last.unsent} outbox rows "
                f"unsent, consumer lag {last.lag}"
            )
            next_report += 5
        time.sleep(0.5)


def all_terminal(backlog: Backlog) -> bool:
    """Every accepted order is CONFIRMED or CANCELLED (compensation may still be in flight)."""
    return backlog.not_terminal == 0


def settled(backlog: Backlog) -> bool:
    """Nothing in flight: orders terminal, outboxes sent, every group caught up."""
    return backlog.settled


def terminal_orders(dsn: str, run_id: str) -> int | None:
    """How many of the run's orders are CONFIRMED or CANCELLED now (None: Postgres is down)."""
    try:
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            row = conn.execute(
                "SELECT count(*) FROM orders.orders WHERE customer_id LIKE %s"
                " AND status IN ('CONFIRMED', 'CANCELLED')",
                (f"{run_id}-%",),
            ).fetchone()
    except psycopg.Error:
        return None
    return int(row[0]) if row else 0
