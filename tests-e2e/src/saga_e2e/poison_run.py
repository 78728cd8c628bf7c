"""Poison under load: inject malformed records while orders flow, then check nothing stalled.

uv run python -m saga_e2e.poison_run --count 1000   # against ORDER_URL.. / KAFKA_BOOTSTRAP_SERVERS
"""

import argparse
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from saga_e2e.client import Ledger
from saga_e2e.kafka_tap import bootstrap_servers
from saga_e2e.poison import (
    GROUPS,
    READERS,
    dead_letter_marks,
    expected_letters,
    inject,
    letter_problems,
    letters_of,
    poison_records,
)
from saga_e2e.steady_load import SteadyLoad
from shared_events.kafka.dead_letters.reader import DeadLetter


@dataclass
class PoisonReport:
    """What a run saw: letters per dead-letter topic, throughput per phase, lag at the end."""

    injected: int
    expected: Counter[str]
    letters: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    rates: dict[str, float] = field(default_factory=dict)
    phase_s: dict[str, float] = field(default_factory=dict)
    lag: dict[str, int] = field(default_factory=dict)
    unfinished: list[str] = field(default_factory=list)
    load_errors: list[str] = field(default_factory=list)
    orders: int = 0
    placed_after_injection: int = 0
    ledger: Ledger = field(default_factory=Ledger)

    def lines(self) -> list[str]:
        """The report, for people."""
        out = [f"injected {self.injected} poison records over {', '.join(READERS)}"]
        for topic, want in sorted(self.expected.items()):
            out.append(f"  {topic}: {self.letters[topic]} of {want} dead letters")
        for phase in ("before", "during", "after"):
            out.append(
                f"  {phase:6s}: {self.rates.get(phase, 0):6.1f} orders/s "
                f"over {self.phase_s.get(phase, 0):.1f} s"
            )
        out.append(
            f"  orders {self.orders} ({self.placed_after_injection} placed after the injection), "
            f"unfinished {len(self.unfinished)}, lag {self.lag}"
        )
        out += [f"  problem: {p}" for p in self.problems[:10]]
        out += [f"  load error: {e}" for e in self.load_errors[:5]]
        return out


def group_lag(group: str) -> int:
    """Records of the group's topics not yet committed by the group (all partitions)."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers()})
    reader = Consumer({"bootstrap.servers": bootstrap_servers(), "group.id": "poison-lag"})
    try:
        topics = [t for t, groups in READERS.items() if group in groups]
        metadata = reader.list_topics(timeout=10).topics
        partitions = [TopicPartition(t, p) for t in topics for p in metadata[t].partitions]
        request = [ConsumerGroupTopicPartitions(group, partitions)]
        committed = admin.list_consumer_group_offsets(request)[group].result(timeout=10)
        lag = 0
        for tp in committed.topic_partitions:
            low, high = reader.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), 10)
            lag += high - (tp.offset if tp.offset >= 0 else low)
        return lag
    finally:
        reader.close()


def run(
    count: int, phase_s: float = 8.0, workers: int = 4, deadline_s: float = 120.0
) -> PoisonReport:
    """Load, inject `count` poison records, wait for every dead letter, load on, drain."""
    records = poison_records(count)
    report = PoisonReport(count, expected_letters(records))
    run_id = uuid.uuid4().hex
    marks = dead_letter_marks()
    load = SteadyLoad(workers=workers)
    load.start()
    try:
        began = time.monotonic()
        time.sleep(phase_s)
        injected_at = time.monotonic()
        inject(run_id, records)
        until = injected_at + deadline_s
        letters: dict[str, list[DeadLetter]] = {}
        while time.monotonic() < until:
            letters = letters_of(run_id, marks)
            # Distinct origins: a rebalance may write one letter twice (at least once).
            report.letters = Counter(
                {topic: len({ltr.origin for ltr in found}) for topic, found in letters.items()}
            )
            if all(report.letters[t] >= n for t, n in report.expected.items()):
                break
            time.sleep(1.0)
        drained_at = time.monotonic()
        time.sleep(phase_s)
        ended = time.monotonic()
    finally:
        load.stop()
    report.problems = letter_problems(run_id, letters)
    windows = {
        "before": (began, injected_at),
        "during": (injected_at, drained_at),
        "after": (drained_at, ended),
    }
    report.rates = {name: load.rate(*window) for name, window in windows.items()}
    report.phase_s = {name: end - start for name, (start, end) in windows.items()}
    report.orders = len(load.completions)
    report.placed_after_injection = sum(1 for c in load.completions if c.placed_at > injected_at)
    report.unfinished = [c.order_id for c in load.completions if c.done_at is None]
    report.load_errors = load.errors
    report.lag = _drained_lag(until=time.monotonic() + 60)
    report.ledger = load.ledger
    return report


def _drained_lag(until: float) -> dict[str, int]:
    lag = {group: group_lag(group) for group in GROUPS}
    while any(lag.values()) and time.monotonic() < until:
        time.sleep(0.5)
        lag = {group: group_lag(group) for group in GROUPS}
    return lag


def main() -> int:
    """Run once against the system under test and print the report; 1 if anything failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="poison records to inject")
    parser.add_argument("--phase-s", type=float, default=8.0, help="seconds of load before/after")
    parser.add_argument("--workers", type=int, default=4, help="concurrent order placers")
    args = parser.parse_args()
    report = run(args.count, args.phase_s, args.workers)
    print("\n".join(report.lines()))
    failed = (
        report.problems
        or report.unfinished
        or any(report.lag.values())
        or any(report.letters[t] != n for t, n in report.expected.items())
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
