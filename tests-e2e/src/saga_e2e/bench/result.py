"""A bench run's results, and the headline figures drawn from them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from saga_e2e.bench.config import BenchConfig
from saga_e2e.bench.step import StepResult
from saga_e2e.bench.sustain import max_sustained

RAMP = "ramp"


@dataclass
class BenchResult:
    config: BenchConfig
    run_id: str
    steps: list[StepResult] = field(default_factory=list)
    pg_tps: float = math.nan
    notes: list[str] = field(default_factory=list)
    total_s: float = 0.0
    files: list[Path] = field(default_factory=list)
    traced_services: list[str] = field(default_factory=list)  # what Jaeger holds traces of

    def ramp(self, mode: str) -> list[StepResult]:
        return [s for s in self.steps if s.plan.mode == mode and s.plan.phase == RAMP]

    def max_rate(self, mode: str) -> float:
        """The highest offered rate of `mode`'s ramp sustained with every lower rate (0: none)."""
        return max_sustained([(s.plan.rate, s.verdict.sustained) for s in self.ramp(mode)])

    def at_max(self, mode: str) -> StepResult | None:
        """The (last) step at `mode`'s maximum rate; the first step if none was sustained."""
        ramp = self.ramp(mode)
        best = self.max_rate(mode)
        matching = [s for s in ramp if s.plan.rate == best and s.verdict.sustained]
        if matching:
            return matching[-1]
        return ramp[0] if ramp else None

    def point(self, phase: str) -> StepResult | None:
        """The latency point `phase` ("at50", "at80") of the batched mode."""
        return next((s for s in self.steps if s.plan.phase == phase), None)

    def sustained_at(self, mode: str, rate: float) -> StepResult | None:
        """The (last) sustained step of `mode`'s ramp at `rate`, if that rate counts."""
        if rate > self.max_rate(mode):
            return None
        matching = [s for s in self.ramp(mode) if s.plan.rate == rate and s.verdict.sustained]
        return matching[-1] if matching else None


@dataclass(frozen=True)
class Headline:
    """The figures of the RESULT line."""

    max_sagas_per_s: float
    batch1_sagas_per_s: float
    pg_tps: float
    cpu_ms_per_saga: float
    p50_ms: float
    p99_ms: float
    replicas_sagas_per_s: float = math.nan  # NaN: the run had no such mode
    brokers_sagas_per_s: float = math.nan


def headline(result: BenchResult) -> Headline:
    at_max, at50 = result.at_max("batched"), result.point("at50")
    modes = result.config.modes
    return Headline(
        max_sagas_per_s=result.max_rate("batched"),
        batch1_sagas_per_s=result.max_rate("batch1"),
        pg_tps=result.pg_tps,
        cpu_ms_per_saga=at_max.system_cpu_ms if at_max else math.nan,
        p50_ms=at50.latency.p50 if at50 else math.nan,
        p99_ms=at50.latency.p99 if at50 else math.nan,
        replicas_sagas_per_s=result.max_rate("replicas") if "replicas" in modes else math.nan,
        brokers_sagas_per_s=result.max_rate("brokers") if "brokers" in modes else math.nan,
    )


# -- scale-out: the batched mode against more replicas and more brokers ------------------------

SCALE_MODES = ("batched", "replicas", "brokers")


@dataclass(frozen=True)
class ScaleRow:
    """One setup of the scale-out comparison: its maximum, and its step there and at the
    common rate (the highest rate every setup sustained), for latency and CPU per saga."""

    mode: str
    replicas: str  # "1", "2", or per service "3/2/2" (order/payment/inventory)
    brokers: int
    max_rate: float
    at_max: StepResult | None
    at_common: StepResult | None


@dataclass(frozen=True)
class ScaleOut:
    common_rate: float | None  # None: no rate every setup sustained
    rows: list[ScaleRow]

    @property
    def base(self) -> ScaleRow | None:
        return next((row for row in self.rows if row.mode == "batched"), None)


def replicas_label(counts: Mapping[str, int]) -> str:
    """`2` when every service has as many, else `order/payment/inventory` counts: `3/2/2`."""
    values = list(counts.values())
    return str(values[0]) if len(set(values)) == 1 else "/".join(str(v) for v in values)


def scale_out(result: BenchResult) -> ScaleOut:
    """The batched mode (1 replica, 1 broker) and each scale-out mode the run had."""
    config = result.config
    shapes = {
        "batched": ("1", 1),
        "replicas": (replicas_label(config.replica_counts), 1),
        "brokers": ("1", config.broker_count),
    }
    modes = [mode for mode in SCALE_MODES if mode in config.modes and result.ramp(mode)]
    sustained = [
        {s.plan.rate for s in result.ramp(mode) if result.sustained_at(mode, s.plan.rate)}
        for mode in modes
    ]
    shared = set.intersection(*sustained) if sustained else set()
    common = max(shared) if shared else None
    rows = [
        ScaleRow(
            mode,
            *shapes[mode],
            result.max_rate(mode),
            result.at_max(mode),
            result.sustained_at(mode, common) if common is not None else None,
        )
        for mode in modes
    ]
    return ScaleOut(common, rows)
