"""The summary table printed at the end of a chaos run."""

from __future__ import annotations

from collections import Counter

from saga_e2e.chaos.run import RunConfig, RunResult

SHOWN_VIOLATIONS = 10


def summary(result: RunResult) -> str:
    """A fixed-width table: orders, outcomes, faults, timing, violations."""
    record, plan, config = result.record, result.plan, result.config
    accepted = len(record.placed)
    scenarios = Counter(p.spec.scenario for p in record.placed.values())
    rows = [
        (
            "run",
            f"{plan.run_id} (seed {config.seed}, concurrency {config.concurrency}, "
            f"rate {config.rate or 'unpaced'})",
        ),
        ("orders attempted", str(record.attempted)),
        ("orders accepted", f"{accepted} (not accepted: {len(record.rejected)})"),
        ("  by scenario", _join(scenarios)),
        ("  by outcome", _join(Counter(result.outcomes))),
        ("  not terminal", str(result.backlog.not_terminal)),
        (
            "faults",
            f"{sum(result.faults.counts.values())}: "
            + ", ".join(f"{kind} {result.faults.counts[kind]}" for kind in config.fault_kinds),
        ),
        ("scale", _scale(config)),
        ("while down", _while_down(result)),
        ("saga deadline", _deadline(config)),
        ("http retries", str(record.retries)),
        (
            "deposits",
            f"{sum(record.deposits.values())} acknowledged, "
            f"{sum(record.deposits_ambiguous.values())} unanswered",
        ),
        ("dead letters", str(result.dead_letters)),
        ("load time", f"{result.load_s:.1f} s"),
        ("throughput", f"{accepted / result.load_s if result.load_s else 0:.1f} accepted orders/s"),
        (
            "time to drain",
            _drain(result),
        ),
        ("checks", f"{result.check_s:.1f} s (db: all orders; api: {result.api_checked} orders)"),
        ("total time", f"{result.total_s / 60:.1f} min"),
        ("timeline", ", ".join(str(path) for path in result.report_files) or "-"),
        ("violations", str(len(result.violations))),
    ]
    kinds = Counter(v.split(":", 1)[0] for v in result.violations)
    if kinds:
        rows.append(("  by kind", _join(kinds)))
    width = max(len(name) for name, _ in rows)
    lines = ["=" * 72, *(f"{name:<{width}}  {value}" for name, value in rows)]
    lines += [f"  - {v}" for v in result.violations[:SHOWN_VIOLATIONS]]
    lines += [f"  - {r}" for r in record.rejected[:3]]
    lines.append("RESULT: " + ("PASS" if result.ok else "FAIL"))
    lines.append("=" * 72)
    return "\n".join(lines)


def _drain(result: RunResult) -> str:
    deadline = result.config.drain_deadline_s
    missed = any(v.startswith("drain deadline") for v in result.violations)
    waited = f"{result.drain_s:.1f} s"
    if missed:
        line = f"orders not all terminal after {waited} (deadline {deadline:.0f} s MISSED)"
    else:
        line = f"all orders terminal in {waited} (deadline {deadline:.0f} s met)"
    if not result.backlog.settled:
        return f"{line}; NOT settled ({result.backlog})"
    return f"{line}; settled {result.settle_s:.1f} s later"


def _scale(config: RunConfig) -> str:
    replicas = f"{config.replicas} replica{'s' if config.replicas != 1 else ''} per service"
    return f"{replicas}, {config.brokers} Kafka broker{'s' if config.brokers != 1 else ''}"


def steady_rate(result: RunResult) -> float | None:
    """Sagas/s completed during the load outside the outages, restarts included (None: unknown)."""
    outages = result.faults.outages
    if result.terminal_after_load is None or any(o.completed_until_back is None for o in outages):
        return None
    seconds = result.load_s - sum(o.outage_s for o in outages)
    if seconds <= 0:
        return None
    completed = result.terminal_after_load - sum(o.completed_until_back or 0 for o in outages)
    return max(0, completed) / seconds


def outage_rate(result: RunResult, kind: str) -> tuple[int, float, float | None]:
    """Outages of `kind` measured: how many, seconds down (restarts not included), and the
    sagas/s completed while down."""
    measured = [o for o in result.faults.outages if o.target.kind == kind and o.rate is not None]
    seconds = sum(o.down_s for o in measured)
    completed = sum(o.completed or 0 for o in measured)
    return len(measured), seconds, completed / seconds if seconds > 0 else None


def _while_down(result: RunResult) -> str:
    """Sagas/s completed while each kind was down, against the rest of the load."""
    parts = []
    for kind in result.config.fault_kinds:
        count, seconds, rate = outage_rate(result, kind)
        if rate is not None:
            parts.append(f"{kind} {rate:.1f}/s ({count} outages, {seconds:.0f} s)")
    steady = steady_rate(result)
    if steady is not None:
        parts.append(f"otherwise {steady:.1f}/s")
    return ", ".join(parts) or "-"


def side_by_side(results: list[RunResult]) -> str:
    """Runs of one seed with different scale, in columns: throughput, its dip, refusals."""
    heads = [f"{r.config.brokers} broker{'s' if r.config.brokers != 1 else ''}" for r in results]
    rows: list[tuple[str, list[str]]] = [
        ("replicas per service", [str(r.config.replicas) for r in results]),
        ("orders accepted", [str(len(r.record.placed)) for r in results]),
        ("POST /orders refused", [str(len(r.record.rejected)) for r in results]),
        ("http retries", [str(r.record.retries) for r in results]),
        ("sagas/s, nothing down", [_rate(steady_rate(r)) for r in results]),
    ]
    for kind in results[0].config.fault_kinds:
        rates = [outage_rate(r, kind)[2] for r in results]
        rows.append((f"sagas/s, {kind} down", [_rate(rate) for rate in rates]))
        dips = []
        for result, rate in zip(results, rates, strict=True):
            steady = steady_rate(result)
            dips.append(
                f"{(rate / steady - 1) * 100:+.0f}%" if rate is not None and steady else "-"
            )
        rows.append((f"  dip while {kind} down", dips))
    rows += [
        ("violations", [str(len(r.violations)) for r in results]),
        ("result", ["PASS" if r.ok else "FAIL" for r in results]),
    ]
    width = max(len(name) for name, _ in rows)
    column = max(12, *(len(head) for head in heads))
    lines = ["=" * 72, f"{'side by side':<{width}}  " + "  ".join(f"{h:>{column}}" for h in heads)]
    lines += [
        f"{name:<{width}}  " + "  ".join(f"{v:>{column}}" for v in values) for name, values in rows
    ]
    lines.append("=" * 72)
    return "\n".join(lines)


def _rate(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1f}"


def _deadline(config: RunConfig) -> str:
    deadline = f"{config.saga_deadline_s:g} s" if config.saga_deadline_s else "the services' own"
    if not config.long_outage_s:
        return deadline
    return f"{deadline}; long outage: {config.long_outage_kind} down {config.long_outage_s:g} s"


def _join(counts: Counter[str]) -> str:
    return ", ".join(f"{key} {n}" for key, n in sorted(counts.items())) or "-"
