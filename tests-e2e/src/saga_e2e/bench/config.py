"""The knobs of one bench run, the full and quick presets, and how long a run may take."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from saga_e2e.bench.pgbench import PgbenchPlan
from saga_e2e.bench.sustain import Rule, ramp_rates

STACK_UP_S = 45.0  # a cold stack: broker, Postgres, migrations, three services
RESTART_S = 10.0  # the three services, between modes
STEP_OVERHEAD_S = 2.5  # accounts, bodies, snapshots, the drain of a sustained step
LATENCY_POINTS = (0.5, 0.8)  # of the batched maximum


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
    step_s: float = 15.0  # each ramp step
    latency_s: float = 20.0  # each latency point
    warmup_s: float = 5.0  # unmeasured load after the services (re)start
    grace_s: float = 3.0  # completions must follow within this after a step
    drain_cap_s: float = 60.0  # at most this long for a step's orders to drain
    retries: int = 1  # a rate that fails is run again this many times before the ramp stops
    keep_going: bool = False  # run every step of a ramp, even after one was not sustained
    rule: Rule = field(default_factory=Rule)
    pgbench: PgbenchPlan = field(default_factory=PgbenchPlan)

    def checked(self) -> BenchConfig:
        """This config, or ValueError naming what is wrong with it."""
        for ramp in (self.batched, self.batch1, self.traced):
            ramp.rates  # noqa: B018  # raises on a bad ramp
        if self.step_s < 1 or self.latency_s < 1:
            raise ValueError("steps must last at least 1 s")
        return self

    def estimate_s(self) -> tuple[float, float]:
        """(when the ramps stop about halfway, when every step runs): seconds, rough."""
        fixed = STACK_UP_S + 2 * RESTART_S + self.pgbench.duration_s + 4 * self.pgbench.scale + 5
        fixed += 3 * (self.warmup_s + STEP_OVERHEAD_S)
        fixed += len(LATENCY_POINTS) * (self.latency_s + self.grace_s + STEP_OVERHEAD_S)
        per_step = self.step_s + self.grace_s + STEP_OVERHEAD_S
        steps = len(self.batched.rates) + len(self.batch1.rates) + len(self.traced.rates)
        worst = fixed + per_step * (steps + 3 * self.retries)
        return fixed + per_step * (steps / 2 + 2), worst


QUICK = BenchConfig(
    quick=True,
    batched=Ramp(20.0, 40.0, 2.0),
    batch1=Ramp(10.0, 20.0, 2.0),
    traced=Ramp(20.0, 40.0, 2.0),
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
    for mode in ("batched", "batch1", "traced"):
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
