"""The bench's PNG: throughput, latency, CPU per saga and work per saga, both modes side by side."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from saga_e2e.bench.cpu import LOADGEN  # noqa: E402
from saga_e2e.bench.result import BenchResult, headline  # noqa: E402
from saga_e2e.bench.step import COMPONENTS, StepResult  # noqa: E402

MODES = (("batched", "tab:blue"), ("batch1", "tab:orange"), ("traced", "tab:green"))


def plot(result: BenchResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    _throughput(axes[0][0], result)
    _latency(axes[0][1], result)
    tops = [(mode, result.at_max(mode)) for mode, _ in MODES]
    reached = [(mode, step) for mode, step in tops if step is not None]
    _cpu(axes[1][0], reached)
    _work(axes[1][1], reached)
    figures = headline(result)
    figure.suptitle(
        f"{result.run_id}{' (quick)' if result.config.quick else ''}: "
        f"max {figures.max_sagas_per_s:g} sagas/s batched, "
        f"{figures.batch1_sagas_per_s:g} batch-1; pgbench {figures.pg_tps:.0f} tps"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _throughput(axis: Axes, result: BenchResult) -> None:
    top = 1.0
    for mode, color in MODES:
        ramp = result.ramp(mode)
        rates = [s.plan.rate for s in ramp]
        axis.plot(rates, [s.completed_per_s for s in ramp], "-", color=color, label=mode)
        for step in ramp:
            marker = "o" if step.verdict.sustained else "x"
            axis.plot(step.plan.rate, step.completed_per_s, marker, color=color, markersize=7)
        top = max([top, *rates])
    axis.plot([0, top], [0, top], ":", color="gray", label="completions = offered")
    axis.set_xlabel("offered orders/s (o sustained, x not)")
    axis.set_ylabel("CONFIRMED in time, per s")
    axis.set_title("throughput")
    _finish(axis)


def _latency(axis: Axes, result: BenchResult) -> None:
    for mode, color in MODES:
        ramp = result.ramp(mode)
        rates = [s.plan.rate for s in ramp]
        axis.plot(rates, [s.latency.p50 for s in ramp], "o-", color=color, label=f"{mode} p50")
        axis.plot(rates, [s.latency.p99 for s in ramp], "s--", color=color, label=f"{mode} p99")
    for phase, marker in (("at50", "D"), ("at80", "^")):
        point = result.point(phase)
        if point is not None:
            lat = point.latency
            axis.errorbar(
                [point.plan.rate],
                [lat.p50],
                yerr=[[0.0], [max(0.0, _zero(lat.p99) - _zero(lat.p50))]],
                fmt=marker,
                color="black",
                capsize=4,
                label=f"{phase[2:]}% of max: p50 (bar to p99)",
            )
    axis.set_xlabel("offered orders/s")
    axis.set_ylabel("POST -> CONFIRMED, ms")
    axis.set_yscale("log")
    axis.set_title("latency (order service's DB timestamps)")
    _finish(axis)


def _cpu(axis: Axes, tops: list[tuple[str, StepResult]]) -> None:
    names = [*COMPONENTS, LOADGEN]
    labels = [_label(mode, step, "\n") for mode, step in tops]
    bottoms = [0.0] * len(tops)
    for name in names:
        values = [_zero(step.cpu_ms.get(name, math.nan)) for _, step in tops]
        hatch = "//" if name == LOADGEN else None
        axis.bar(labels, values, bottom=bottoms, label=name, hatch=hatch, width=0.5)
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    axis.set_ylabel("CPU ms per saga")
    axis.set_title("CPU per saga at each mode's max (hatched: load generator)")
    _finish(axis)


def _work(axis: Axes, tops: list[tuple[str, StepResult]]) -> None:
    kinds = ("pg transactions", "pg commits", "pg statements", "kafka records")
    width = 0.8 / max(1, len(tops))
    for n, (mode, step) in enumerate(tops):
        values = [_zero(v) for v in (step.xacts, step.commits, step.statements, step.records)]
        where = [k + n * width for k in range(len(kinds))]
        color = dict(MODES)[mode]
        axis.bar(where, values, width=width, color=color, label=_label(mode, step, " "))
    axis.set_xticks([k + width * (len(tops) - 1) / 2 for k in range(len(kinds))])
    axis.set_xticklabels(kinds)
    axis.set_ylabel("per saga")
    axis.set_title("work per saga at each mode's max")
    _finish(axis)


def _label(mode: str, step: StepResult, sep: str) -> str:
    sustained = "" if step.verdict.sustained else f"{sep}(none sustained)"
    return f"{mode}{sep}@{step.plan.rate:g}/s{sustained}"


def _finish(axis: Axes) -> None:
    axis.grid(alpha=0.3)
    axis.legend(loc="best", fontsize=8)


def _zero(value: float) -> float:
    return 0.0 if math.isnan(value) else value
