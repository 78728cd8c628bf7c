"""A bench run's results, and the headline figures drawn from them."""

from __future__ import annotations

import math
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


@dataclass(frozen=True)
class Headline:
    """The figures of the RESULT line."""

    max_sagas_per_s: float
    batch1_sagas_per_s: float
    pg_tps: float
    cpu_ms_per_saga: float
    p50_ms: float
    p99_ms: float


def headline(result: BenchResult) -> Headline:
    at_max, at50 = result.at_max("batched"), result.point("at50")
    return Headline(
        max_sagas_per_s=result.max_rate("batched"),
        batch1_sagas_per_s=result.max_rate("batch1"),
        pg_tps=result.pg_tps,
        cpu_ms_per_saga=at_max.system_cpu_ms if at_max else math.nan,
        p50_ms=at50.latency.p50 if at50 else math.nan,
        p99_ms=at50.latency.p99 if at50 else math.nan,
    )
