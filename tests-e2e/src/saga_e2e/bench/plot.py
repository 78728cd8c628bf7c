"""The bench's PNG: throughput, latency, CPU per saga and work per saga, every mode side by side;
then the scale-out comparison (batched against more replicas and a 3-broker Kafka)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from saga_e2e.bench.cpu import LOADGEN  # noqa: E402
from saga_e2e.bench.result import BenchResult, ScaleOut, ScaleRow, headline, scale_out  # noqa: E402
from saga_e2e.bench.step import COMPONENTS, StepResult  # noqa: E402

MODES = (
    ("batched", "tab:blue"), ("batch1", "tab:orange"), ("traced", "tab:green"),
    ("replicas", "tab:red"), ("brokers", "tab:purple"),
)  # fmt: skip


def plot(result: BenchResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(3, 2, figsize=(13, 12.5))
    _throughput(axes[0][0], result)
    _latency(axes[0][1], result)
    tops = [(mode, result.at_max(mode)) for mode, _ in MODES]
    reached = [(mode, step) for mode, step in tops if step is not None]
    _cpu(axes[1][0], reached)
    _work(axes[1][1], reached)
    scale = scale_out(result)
    _scale_rates(axes[2][0], scale)
    _scale_costs(axes[2][1], scale)
    figures = headline(result)
    figure.suptitle(
        f"{result.run_id}{' (quick)' if result.config.quick else ''}: "
        f"max {figures.max_sagas_per_s:g} sagas/s batched, "
        f"{figures.batch1_sagas_per_s:g} batch-1{_scaled(scale)}; pgbench {figures.pg_tps:.0f} tps"
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


def _scaled(scale: ScaleOut) -> str:
    """`, 2 replicas 80/s, 3 brokers 60/s` for the title."""
    parts = [
        f"{row.replicas} replicas {row.max_rate:g}" if row.mode == "replicas"
        else f"{row.brokers} brokers {row.max_rate:g}"
        for row in scale.rows
        if row.mode != "batched"
    ]  # fmt: skip
    return "".join(f", {part}" for part in parts)


def _setup(row: ScaleRow, sep: str = "\n") -> str:
    replicas = "replica" if row.replicas == "1" else "replicas"
    brokers = "broker" if row.brokers == 1 else "brokers"
    return f"{row.mode}{sep}{row.replicas} {replicas}, {row.brokers} {brokers}"


def _scale_rates(axis: Axes, scale: ScaleOut) -> None:
    labels = [_setup(row) for row in scale.rows]
    colors = [dict(MODES)[row.mode] for row in scale.rows]
    rates = [row.max_rate for row in scale.rows]
    bars = axis.bar(labels, rates, color=colors, width=0.5)
    base = scale.base
    for bar, row in zip(bars, scale.rows, strict=True):
        text = f"{row.max_rate:g}/s"
        if base is not None and row is not base and base.max_rate > 0:
            text += f"\n{(row.max_rate / base.max_rate - 1) * 100:+.0f}%"
        axis.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                      ha="center", va="bottom", fontsize=8)  # fmt: skip
    axis.set_ylim(0, max([1.0, *rates]) * 1.25)  # room for the labels
    axis.set_ylabel("max sustained sagas/s")
    axis.set_title("scale-out: max sustained, batched consumers")
    axis.grid(alpha=0.3)
    if not scale.rows:
        axis.text(0.5, 0.5, "no scale-out mode in this run", ha="center", transform=axis.transAxes)


def _scale_costs(axis: Axes, scale: ScaleOut) -> None:
    common = scale.common_rate
    where = f"at {common:g}/s (every setup sustained it)" if common is not None else "at each max"
    steps = [(row, row.at_common if common is not None else row.at_max) for row in scale.rows]
    shown = [(row, step) for row, step in steps if step is not None]
    kinds = ("p50 ms", "p95 ms")
    width = 0.8 / max(1, len(shown))
    cpu_axis = axis.twinx()
    for n, (row, step) in enumerate(shown):
        color = dict(MODES)[row.mode]
        label = _setup(row, ": ")
        values = [_zero(step.latency.p50), _zero(step.latency.p95)]
        axis.bar([k + n * width for k in range(len(kinds))], values, width=width, color=color,
                 label=label)  # fmt: skip
        cpu_axis.bar([len(kinds) + n * width], [_zero(step.system_cpu_ms)], width=width,
                     color=color, hatch="//")  # fmt: skip
    axis.set_xticks([k + width * (len(shown) - 1) / 2 for k in range(len(kinds) + 1)])
    axis.set_xticklabels([*kinds, "CPU ms/saga (right)"])
    axis.set_ylabel("POST -> CONFIRMED, ms")
    cpu_axis.set_ylabel("CPU ms per saga (hatched)")
    axis.set_title(f"scale-out: latency and CPU per saga {where}")
    axis.grid(alpha=0.3)
    axis.set_ylim(0, axis.get_ylim()[1] * 1.3)  # room for the legend, drawn above both axes
    cpu_axis.set_ylim(0, cpu_axis.get_ylim()[1] * 1.3)
    if shown:
        handles, labels = axis.get_legend_handles_labels()
        cpu_axis.legend(handles, labels, loc="upper left", fontsize=8)


def _label(mode: str, step: StepResult, sep: str) -> str:
    sustained = "" if step.verdict.sustained else f"{sep}(none sustained)"
    return f"{mode}{sep}@{step.plan.rate:g}/s{sustained}"


def _finish(axis: Axes) -> None:
    axis.grid(alpha=0.3)
    axis.legend(loc="best", fontsize=8)


def _zero(value: float) -> float:
    return 0.0 if math.isnan(value) else value
