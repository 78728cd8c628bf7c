"""Group membership: a crashed member must not hold its partitions for long."""

import json
import signal
import subprocess
import sys
import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from shared_events.kafka.backoff import Backoff
from shared_events.kafka.consumer import EventConsumer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


CRASHING_MEMBER = """
import json, sys
from confluent_kafka import Consumer
config = json.loads(sys.argv[1])
consumer = Consumer(config)
consumer.subscribe([sys.argv[2]], on_assign=lambda c, ps: print("assigned", flush=True))
while True:
    consumer.poll(0.2)
"""


def test_a_crashed_members_partitions_are_reassigned_in_seconds_not_the_45_s_default(
    db, kit, new_topic
) -> None:
    topic, dlq = new_topic(partitions=2), new_topic()
    consumer = ConsumerNotingAssignments(
        bootstrap_servers=kit.bootstrap,
        group_id=f"g-{topic}",
        topics=[topic],
        handlers={},
        session_factory=db.sessions,
        processed_table=db.processed,
        dead_letter_topic=dlq,
        retry_backoff=Backoff(initial_s=0.01, max_s=0.05),
    )
    config = {k: v for k, v in consumer._config.items() if not callable(v)}
    member = subprocess.Popen(
        [sys.executable, "-c", CRASHING_MEMBER, json.dumps(config), topic],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert member.stdout is not None and member.stdout.readline().strip() == "assigned"
        member.send_signal(signal.SIGKILL)  # no LeaveGroup: the broker must notice by itself
        member.wait(10)
        began = time.monotonic()
        loop = kit.loop(consumer.run)
        try:
            kit.wait_for(lambda: consumer.assigned_partitions == {0, 1}, timeout_s=60)
            waited = time.monotonic() - began
        finally:
            loop.stop(timeout_s=30)
        assert waited < 30, f"partitions came back after {waited:.0f} s"
    finally:
        if member.poll() is None:
            member.kill()
        member.wait(10)
        assert member.stdout is not None
        member.stdout.close()


class ConsumerNotingAssignments(EventConsumer):
    # The client's own assignment() blocks while another thread polls it.
    assigned_partitions: set[int] = set()

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        super()._on_assign(consumer, partitions)
        self.assigned_partitions = self.assigned_partitions | {tp.partition for tp in partitions}
