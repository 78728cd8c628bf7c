"""The bench's table, its CSV, and the RESULT line (the run's last line of output)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from saga_e2e.bench.cpu import LOADGEN
from saga_e2e.bench.result import BenchResult, Headline, ScaleOut, ScaleRow, headline, scale_out
from saga_e2e.bench.stats import finite_or
from saga_e2e.bench.step import COMPONENTS, StepResult

CSV_COLUMNS = (
    "mode", "phase", "step", "attempt", "offered_per_s", "duration_s", "scheduled", "sent",
    "accepted", "confirmed", "on_time", "completed_per_s", "not_terminal_end", "lag_end", "drained",
    "drain_s", "sustained", "reason", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms",
    *(f"cpu_{name}_ms_per_saga" for name in COMPONENTS), "cpu_system_ms_per_saga",
    "cpu_loadgen_ms_per_saga", "pg_xacts_per_saga", "pg_commits_per_saga",
    "pg_statements_per_saga",
    "kafka_records_per_saga", "late_p99_ms",
)  # fmt: skip
TABLE = (
    # header, width, value
    ("mode", 8), ("phase", 6), ("rate/s", 7), ("ok%", 5), ("done/s", 7), ("backlog", 7),
    ("lag", 6), ("p50ms", 7), ("p90ms", 7), ("p99ms", 7), ("order", 6), ("pay", 6),
    ("inv", 6), ("kafka", 6), ("pg", 6), ("jgr", 5), ("=cpu", 6), ("gen", 6), ("xact", 5),
    ("cmt", 5), ("stmt", 5), ("rec", 5), ("verdict", 0),
)  # fmt: skip


def result_line(figures: Headline) -> str:
    """`RESULT max_sagas_per_s=<f> ...`: every figure a plain number (0.0 where none was had)."""
    pairs = (
        ("max_sagas_per_s", figures.max_sagas_per_s),
        ("batch1_sagas_per_s", figures.batch1_sagas_per_s),
        ("pg_tps", figures.pg_tps),
        ("cpu_ms_per_saga", figures.cpu_ms_per_saga),
        ("p50_ms", figures.p50_ms),
        ("p99_ms", figures.p99_ms),
        ("replicas_sagas_per_s", figures.replicas_sagas_per_s),
        ("brokers_sagas_per_s", figures.brokers_sagas_per_s),
    )
    return "RESULT " + " ".join(f"{name}={finite_or(value):.2f}" for name, value in pairs)


def _num(value: float, digits: int = 1) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def _cells(step: StepResult) -> list[str]:
    offered = step.offered
    ok = offered.accepted / offered.scheduled * 100 if offered.scheduled else 0.0
    cpu = [_num(step.cpu_ms.get(name, math.nan), 2) for name in COMPONENTS]
    return [
        step.plan.mode, step.plan.phase, _num(step.plan.rate), f"{ok:.0f}",
        _num(step.completed_per_s), str(step.not_terminal_end), str(step.lag_end),
        _num(step.latency.p50, 0), _num(step.latency.p90, 0), _num(step.latency.p99, 0),
        *cpu, _num(step.system_cpu_ms, 2), _num(step.cpu_ms.get(LOADGEN, math.nan), 2),
        _num(step.xacts), _num(step.commits), _num(step.statements), _num(step.records),
        str(step.verdict),
    ]  # fmt: skip


def table(result: BenchResult) -> str:
    """One row per step (CPU columns: ms per completed saga), then the headline figures."""
    header = " ".join(f"{name:>{width}}" if width else name for name, width in TABLE)
    lines = [
        "per completed saga: CPU ms of order, pay(ment), inv(entory), kafka, pg, j(ae)g(e)r "
        "(=cpu: their sum; gen: the load generator, not part of the system), Postgres xact(ions, "
        "pg_stat_database), c(o)m(mi)t(s) and st(ate)m(en)t(s) (pg_stat_statements), Kafka "
        "rec(ords); backlog/lag: when the schedule ended",
        header,
    ]
    for step in result.steps:
        cells = _cells(step)
        lines.append(
            " ".join(f"{c:>{w}}" if w else c for c, (_, w) in zip(cells, TABLE, strict=True))
        )
    figures = headline(result)
    at_max = result.at_max("batched")
    lines += [
        "",
        f"pgbench TPC-B-like ({result.config.pgbench.clients} clients): {_num(result.pg_tps)} tps",
        f"max sustained, batched:  {_num(figures.max_sagas_per_s)} sagas/s",
        f"max sustained, batch-1:  {_num(figures.batch1_sagas_per_s)} sagas/s "
        "(CONSUMER_BATCH_MAX=1 in every service)",
        f"max sustained, traced:   {_num(result.max_rate('traced'))} sagas/s "
        "(batched, tracing on, every span to Jaeger)",
    ]
    modes = result.config.modes
    if "replicas" in modes:
        counts = ", ".join(f"{name} {n}" for name, n in result.config.replica_counts.items())
        lines.append(
            f"max sustained, replicas: {_num(figures.replicas_sagas_per_s)} sagas/s "
            f"(batched; replicas: {counts}; orders spread over the order replicas)"
        )
    if "brokers" in modes:
        lines.append(
            f"max sustained, brokers:  {_num(figures.brokers_sagas_per_s)} sagas/s (batched, "
            f"{result.config.broker_count} Kafka nodes, replication factor 3, "
            "min.insync.replicas 2; a stack of its own)"
        )
    for phase, share in (("at50", "50%"), ("at80", "80%")):
        point = result.point(phase)
        if point is not None:
            lat = point.latency
            lines.append(
                f"latency at {share} ({_num(point.plan.rate)}/s): p50 {_num(lat.p50, 0)} ms, "
                f"p90 {_num(lat.p90, 0)} ms, p99 {_num(lat.p99, 0)} ms ({lat.count} orders)"
            )
    if at_max is not None:
        lines.append(
            f"system CPU per saga at {_num(at_max.plan.rate)}/s: "
            f"{_num(at_max.system_cpu_ms, 2)} ms; load generator "
            f"{_num(at_max.cpu_ms.get(LOADGEN, math.nan), 2)} ms"
        )
    traced = result.at_max("traced")
    if at_max is not None and traced is not None:
        lines.append(
            f"tracing: CPU per saga {_num(traced.system_cpu_ms, 2)} ms traced at "
            f"{_num(traced.plan.rate)}/s (Jaeger {_num(traced.cpu_ms.get('jaeger', math.nan), 2)}"
            f" ms) against {_num(at_max.system_cpu_ms, 2)} ms untraced at "
            f"{_num(at_max.plan.rate)}/s; Jaeger holds traces of "
            f"{', '.join(result.traced_services) or 'nothing'}"
        )
    lines += scale_table(scale_out(result))
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines)


SCALE_TABLE = (
    ("mode", 8), ("replicas", 8), ("brokers", 7), ("max/s", 6), ("p50ms", 6), ("p95ms", 6),
    ("=cpu", 6), ("|", 1), ("at/s", 6), ("p50ms", 6), ("p95ms", 6), ("=cpu", 6), ("|", 1),
    ("vs batched", 0),
)  # fmt: skip
SCALE_TITLE = "scale-out"


def scale_table(scale: ScaleOut) -> list[str]:
    """The scale-out section: batched (1 replica, 1 broker) against more replicas and a 3-broker
    Kafka, each at its maximum and at the common rate; [] when the run had neither mode."""
    if len(scale.rows) < 2:
        return []
    common = (
        "-: no rate was sustained by every setup"
        if scale.common_rate is None
        else f"{scale.common_rate:g}/s, the highest rate every setup sustained"
    )
    lines = [
        "",
        f"{SCALE_TITLE} (batched consumers; p50/p95 POST -> CONFIRMED and =cpu ms per saga at "
        f"each setup's max, then at/s: {common}):",
        " ".join(f"{name:>{width}}" if width else name for name, width in SCALE_TABLE),
    ]
    base = scale.base
    for row in scale.rows:
        cells = [
            row.mode, row.replicas, str(row.brokers), _num(row.max_rate),
            *_figures(row.at_max), "|",
            _num(scale.common_rate) if scale.common_rate is not None else "-",
            *_figures(row.at_common), "|",
            "-" if base is None or row is base else relative(row, base, scale.common_rate),
        ]  # fmt: skip
        lines.append(
            " ".join(f"{c:>{w}}" if w else c for c, (_, w) in zip(cells, SCALE_TABLE, strict=True))
        )
    return lines


def _figures(step: StepResult | None) -> list[str]:
    if step is None:
        return ["-", "-", "-"]
    lat = step.latency
    return [_num(lat.p50, 0), _num(lat.p95, 0), _num(step.system_cpu_ms, 2)]


def relative(row: ScaleRow, base: ScaleRow, common_rate: float | None) -> str:
    """`-18% sagas/s; at 42.2/s: +31 ms p50, +40 ms p95, +3.10 ms CPU per saga (+7%)`: what
    the setup of `row` gains or costs against the batched one (at each maximum where no rate
    is common)."""
    if base.max_rate > 0:
        sagas = f"{(row.max_rate / base.max_rate - 1) * 100:+.0f}% sagas/s"
    else:
        sagas = "sagas/s -"
    if common_rate is not None and row.at_common is not None and base.at_common is not None:
        where, mine, theirs = f"at {common_rate:g}/s", row.at_common, base.at_common
    elif row.at_max is not None and base.at_max is not None:
        where, mine, theirs = "at each max", row.at_max, base.at_max
    else:
        return sagas
    cpu, cpu_base = mine.system_cpu_ms, theirs.system_cpu_ms
    share = f" ({(cpu / cpu_base - 1) * 100:+.0f}%)" if cpu_base > 0 and math.isfinite(cpu) else ""
    return (
        f"{sagas}; {where}: {_signed(mine.latency.p50 - theirs.latency.p50, 0)} ms p50, "
        f"{_signed(mine.latency.p95 - theirs.latency.p95, 0)} ms p95, "
        f"{_signed(cpu - cpu_base, 2)} ms CPU per saga{share}"
    )


def _signed(value: float, digits: int) -> str:
    return "-" if math.isnan(value) else f"{value:+.{digits}f}"


def write_csv(result: BenchResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as out:
        rows = csv.writer(out)
        rows.writerow(CSV_COLUMNS)
        for step in result.steps:
            rows.writerow(_csv_row(step))


def _csv_row(step: StepResult) -> list[str]:
    offered, lat = step.offered, step.latency
    cpu = [step.cpu_ms.get(name, math.nan) for name in COMPONENTS]
    values: list[object] = [
        step.plan.mode, step.plan.phase, step.plan.index, step.plan.attempt, step.plan.rate,
        step.plan.duration_s,
        offered.scheduled, offered.sent, offered.accepted, step.confirmed, step.on_time,
        step.completed_per_s, step.not_terminal_end, step.lag_end, int(step.drained),
        step.drain_s, int(step.verdict.sustained), step.verdict.reason, lat.p50, lat.p90,
        lat.p95, lat.p99, lat.max, *cpu, step.system_cpu_ms, step.cpu_ms.get(LOADGEN, math.nan),
        step.xacts, step.commits, step.statements, step.records, offered.late_p99_ms,
    ]  # fmt: skip
    return [f"{v:.3f}" if isinstance(v, float) else str(v) for v in values]
