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


def _deadline(config: RunConfig) -> str:
    deadline = f"{config.saga_deadline_s:g} s" if config.saga_deadline_s else "the services' own"
    if not config.long_outage_s:
        return deadline
    return f"{deadline}; long outage: {config.long_outage_kind} down {config.long_outage_s:g} s"


def _join(counts: Counter[str]) -> str:
    return ", ".join(f"{key} {n}" for key, n in sorted(counts.items())) or "-"
