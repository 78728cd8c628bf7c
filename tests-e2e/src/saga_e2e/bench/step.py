"""One measured step: open-loop load at one rate, then the drain, then one query for the facts.

The measured window runs from just before the first request until the step's orders are all
terminal, the outboxes sent and the consumer lag 0 (+1 s), so every cost of the step's
sagas falls in it. CPU, transactions, statements and Kafka records of that window are divided
by the sagas completed (CONFIRMED) in the step. The backlog is read once, as the schedule
ends; the drain polls aggregate counts every 0.5 s, never single orders.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from saga_e2e.bench import dataset
from saga_e2e.bench.cpu import CpuProbe, deltas
from saga_e2e.bench.kafka_probe import KafkaProbe
from saga_e2e.bench.loadgen import Offered, offer
from saga_e2e.bench.pg_probe import PgProbe
from saga_e2e.bench.stats import Latency, per_saga
from saga_e2e.bench.sustain import Counts, Rule, Verdict, judge

Progress = Callable[[str], None]
SETTLE_S = 0.5
COMPONENTS = ("order", "payment", "inventory", "kafka", "postgres", "jaeger")


@dataclass(frozen=True)
class StepPlan:
    mode: str  # "batched" | "replicas" | "batch1" | "traced" | "brokers"
    phase: str  # "ramp" | "at50" | "at80"
    index: int
    rate: float
    duration_s: float
    attempt: int = 0  # a retry of the same rate: 1, 2, ...

    @property
    def label(self) -> str:
        again = f"-again{self.attempt}" if self.attempt else ""
        return f"{self.mode}-{self.phase}{self.index}{again}"


@dataclass
class StepResult:
    plan: StepPlan
    offered: Offered
    verdict: Verdict
    confirmed: int = 0
    on_time: int = 0
    not_terminal_end: int = 0
    lag_end: int = 0
    drained: bool = False
    drain_s: float = 0.0
    window_s: float = 0.0
    latency: Latency = field(default_factory=lambda: Latency.of([]))
    cpu_ms: dict[str, float] = field(default_factory=dict)  # per saga, per component
    xacts: float = math.nan  # per saga
    commits: float = math.nan
    statements: float = math.nan
    records: float = math.nan

    @property
    def completed_per_s(self) -> float:
        """Orders CONFIRMED in time per second of the schedule (about `rate` when sustained)."""
        window = self.offered.window_s
        return self.on_time / window if window else 0.0

    @property
    def system_cpu_ms(self) -> float:
        """The components' sum; one not running (no Jaeger on a stack without it) adds 0, one
        that restarted during the step (NaN) makes it NaN."""
        return sum(self.cpu_ms.get(name, 0.0) for name in COMPONENTS)


@dataclass
class Probes:
    """Everything a step reads, opened once per stack."""

    order_urls: Callable[[], list[str]]  # the order replicas of the current mode
    payment_url: str
    skus: list[str]
    run_id: str
    pg: PgProbe
    kafka: KafkaProbe
    cpu: CpuProbe


def measure(
    probes: Probes,
    plan: StepPlan,
    rule: Rule,
    grace_s: float,
    drain_cap_s: float,
    on_load: Callable[[Offered], None],
) -> StepResult:
    """Run the step and return its figures and verdict."""
    customers = dataset.open_customers(probes.payment_url, f"{probes.run_id}-{plan.label}")
    bodies = dataset.bodies(customers, probes.skus, max(1, round(plan.rate * plan.duration_s)))
    cpu0, pg0, records0 = probes.cpu.sample(), probes.pg.counters(), probes.kafka.records()
    began = time.monotonic()
    offered = offer(probes.order_urls(), bodies, plan.rate, on_progress=on_load)
    not_terminal_end, lag_end = probes.pg.not_terminal(customers), probes.kafka.lag()
    drained, drain_s = _drain(probes, customers, drain_cap_s)
    time.sleep(SETTLE_S)
    cpu1, pg1, records1 = probes.cpu.sample(), probes.pg.counters(), probes.kafka.records()
    window_s = time.monotonic() - began
    deadline = datetime.fromtimestamp(offered.ended_wall + grace_s, UTC)
    facts = probes.pg.step_facts(customers, deadline)
    counts = Counts(
        plan.rate, offered.scheduled, offered.accepted, facts.on_time, not_terminal_end, lag_end
    )
    sagas = facts.confirmed
    used = deltas(cpu0, cpu1)
    return StepResult(
        plan,
        offered,
        judge(counts, rule),
        confirmed=sagas,
        on_time=facts.on_time,
        not_terminal_end=not_terminal_end,
        lag_end=lag_end,
        drained=drained,
        drain_s=drain_s,
        window_s=window_s,
        latency=Latency.of(facts.latencies_ms),
        cpu_ms={name: per_saga(seconds * 1000, sagas) for name, seconds in used.items()},
        xacts=per_saga(_counter_delta(pg0.xacts, pg1.xacts), sagas),
        commits=per_saga(_counter_delta(pg0.commits, pg1.commits), sagas),
        statements=per_saga(_counter_delta(pg0.statements, pg1.statements), sagas),
        records=per_saga(_counter_delta(records0, records1), sagas),
    )


def warm_up(probes: Probes, mode: str, rate: float, duration_s: float, cap_s: float) -> float:
    """Unmeasured load on freshly started services, then its drain; the seconds it took.

    The first seconds after a start are slow for reasons no step should pay: the consumer
    groups' first rebalance (the broker waits 3 s for more members), pools and caches.
    """
    began = time.monotonic()
    customers = dataset.open_customers(probes.payment_url, f"{probes.run_id}-{mode}-warmup")
    bodies = dataset.bodies(customers, probes.skus, round(rate * duration_s))
    offer(probes.order_urls(), bodies, rate)
    _drain(probes, customers, cap_s)
    return time.monotonic() - began


def _counter_delta(before: float | None, after: float | None) -> float:
    """A counter's growth; NaN if unknown or it went backwards (a reset, evicted entries)."""
    if before is None or after is None or after < before:
        return math.nan
    return after - before


def _drain(probes: Probes, customers: list[str], cap_s: float) -> tuple[bool, float]:
    """Wait until the step's orders are terminal, outboxes sent and lag 0 (twice in a row)."""
    began = time.monotonic()
    held = False
    while time.monotonic() - began < cap_s:
        clear = probes.pg.not_terminal(customers) == 0
        clear = clear and probes.pg.unsent() == 0 and probes.kafka.lag() == 0
        if clear and held:
            return True, time.monotonic() - began
        held = clear
        time.sleep(0.25 if clear else 0.5)
    return False, time.monotonic() - began
