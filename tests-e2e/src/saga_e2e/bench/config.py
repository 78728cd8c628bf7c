"""The knobs of one bench run, the full and quick presets, and how long a run may take."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from saga_e2e.bench.pgbench import PgbenchPlan
from saga_e2e.bench.sustain import Rule, ramp_rates
from saga_infra.services import MAX_REPLICAS, SERVICES

STACK_UP_S = 45.0  # a cold stack: broker, Postgres, migrations, three services
RESTART_S = 10.0  # the three services, between modes
REPLICAS_UP_S = 20.0  # the extra replicas started, and their groups' rebalance
BROKERS_STACK_S = 90.0  # the 3-broker stack: up (three JVMs), the catalog, and down again
STEP_OVERHEAD_S = 2.5  # accounts, bodies, snapshots, the drain of a sustained step
LATENCY_POINTS = (0.5, 0.8)  # of the batched maximum
MODES = ("batched", "replicas", "batch1", "traced", "brokers")  # the ramps, in the order run
BROKER_COUNTS = (1, 3)  # KAFKA_BROKERS: one node, or a cluster (replication 3, min.insync 2)


def replica_counts(count: int) -> dict[str, int]:
    """`count` replicas of every service."""
    return {service.name: count for service in SERVICES}


@dataclass(frozen=True)
class Ramp:
    """Geometric steps of offered rate for one mode."""

    start: float
    top: float
    factor: float = 1.3

    @property
    def rates(self) -> list[float]:
        return ramp_rates(self.start, self.factor, self.top)


@dataclass(frozen=True)
class BenchConfig:
    quick: bool = False
    out_dir: Path = Path(".local/bench")
    batched: Ramp = Ramp(25.0, 600.0)
    batch1: Ramp = Ramp(10.0, 150.0)
    traced: Ramp = Ramp(25.0, 600.0)  # the batched mode with tracing on, exported to Jaeger
    # From 10/s: on 2 cores twice the processes share the CPU, and 25/s was not sustained there.
    replicas: Ramp = Ramp(10.0, 600.0)  # the batched mode with more replicas of each service
    brokers: Ramp = Ramp(25.0, 600.0)  # the batched mode on a 3-broker Kafka (its own stack)
    # Replicas of each service in the replicas mode (all 1: no such mode), and Kafka nodes of
    # the brokers mode's stack (1: no such mode). The other modes run one of each.
    replica_counts: Mapping[str, int] = field(default_factory=lambda: replica_counts(2))
    broker_count: int = 3
    step_s: float = 15.0  # each ramp step
    latency_s: float = 20.0  # each latency point
    warmup_s: float = 5.0  # unmeasured load after the services (re)start
    grace_s: float = 3.0  # completions must follow within this after a step
    drain_cap_s: float = 60.0  # at most this long for a step's orders to drain
    retries: int = 1  # a rate that fails is run again this many times before the ramp stops
    keep_going: bool = False  # run every step of a ramp, even after one was not sustained
    rule: Rule = field(default_factory=Rule)
    pgbench: PgbenchPlan = field(default_factory=PgbenchPlan)

    @property
    def with_replicas(self) -> bool:
        """Whether the run has a replicas mode (some service with more than one replica)."""
        return any(n > 1 for n in self.replica_counts.values())

    @property
    def with_brokers(self) -> bool:
        """Whether the run has a brokers mode (a second stack with a Kafka cluster)."""
        return self.broker_count > 1

    @property
    def modes(self) -> tuple[str, ...]:
        """The modes this run ramps, in order."""
        skipped = {
            mode
            for mode, runs in (("replicas", self.with_replicas), ("brokers", self.with_brokers))
            if not runs
        }
        return tuple(mode for mode in MODES if mode not in skipped)

    def ramp(self, mode: str) -> Ramp:
        ramp: Ramp = getattr(self, mode)
        return ramp

    def checked(self) -> BenchConfig:
        """This config, or ValueError naming what is wrong with it."""
        for mode in MODES:
            self.ramp(mode).rates  # noqa: B018  # raises on a bad ramp
        if self.step_s < 1 or self.latency_s < 1:
            raise ValueError("steps must last at least 1 s")
        if set(self.replica_counts) != {s.name for s in SERVICES} or not all(
            1 <= n <= MAX_REPLICAS for n in self.replica_counts.values()
        ):
            raise ValueError(f"replicas: 1 to {MAX_REPLICAS} of each service")
        if self.broker_count not in BROKER_COUNTS:
            raise ValueError("brokers: 1 (no brokers mode) or 3")
        return self

    def estimate_s(self) -> tuple[float, float]:
        """(when the ramps stop about halfway, when every step runs): seconds, rough."""
        ramps = self.modes
        fixed = STACK_UP_S + 2 * RESTART_S + self.pgbench.duration_s + 4 * self.pgbench.scale + 5
        fixed += REPLICAS_UP_S if self.with_replicas else 0.0
        fixed += BROKERS_STACK_S if self.with_brokers else 0.0
        fixed += len(ramps) * (self.warmup_s + STEP_OVERHEAD_S)
        fixed += len(LATENCY_POINTS) * (self.latency_s + self.grace_s + STEP_OVERHEAD_S)
        per_step = self.step_s + self.grace_s + STEP_OVERHEAD_S
        steps = sum(len(self.ramp(mode).rates) for mode in ramps)
        worst = fixed + per_step * (steps + len(ramps) * self.retries)
        if self.keep_going:
            return worst, worst
        return fixed + per_step * (steps / 2 + len(ramps) - 1), worst


QUICK = BenchConfig(
    quick=True,
    batched=Ramp(20.0, 40.0, 2.0),
    batch1=Ramp(10.0, 20.0, 2.0),
    traced=Ramp(20.0, 40.0, 2.0),
    replicas=Ramp(20.0, 20.0, 2.0),  # one step each: the modes' code paths, briefly
    brokers=Ramp(20.0, 20.0, 2.0),
    step_s=3.0,
    latency_s=3.0,
    warmup_s=2.0,
    grace_s=2.0,
    drain_cap_s=20.0,
    retries=0,
    keep_going=True,
    pgbench=PgbenchPlan(duration_s=5, scale=1),
)


def build(quick: bool, **overrides: Any) -> BenchConfig:
    """The preset, with every override that is not None applied (nested: ramp and pgbench)."""
    config = QUICK if quick else BenchConfig()
    given = {k: v for k, v in overrides.items() if v is not None}
    ramps = {}
    for mode in MODES:
        ramp = getattr(config, mode)
        parts = {
            part: given.pop(f"{mode}_{part}")
            for part in ("start", "top")
            if f"{mode}_{part}" in given
        }
        if "factor" in given:
            parts["factor"] = given["factor"]
        ramps[mode] = replace(ramp, **parts)
    given.pop("factor", None)
    pgbench = {
        part: given.pop(f"pgbench_{part}")
        for part in ("duration_s", "clients", "threads", "scale")
        if f"pgbench_{part}" in given
    }
    rule = {"backlog_s": given.pop("backlog_s")} if "backlog_s" in given else {}
    return replace(
        config,
        **ramps,
        **given,
        pgbench=replace(config.pgbench, **pgbench),
        rule=replace(config.rule, **rule),
    )
