"""One bench run: stack, data, pgbench, the ramps of every mode, latency points; then the
brokers mode on a second stack.

The batched ramp comes first (the services' own defaults), then the latency points at 50% and
80% of its maximum in the same mode; then the replicas ramp (the same services plus their
extra replicas, nothing restarted); then the services restart with CONSUMER_BATCH_MAX=1 for
the batch-1 ramp (the extra replicas stopped), and last with tracing on (every span exported
to the stack's Jaeger) for the traced ramp: the cost of tracing is the batched figures against
the traced ones. Once that stack is stopped, a second one with a 3-node Kafka (replication 3,
min.insync.replicas 2) runs the batched ramp again: the brokers mode. Whatever the run started
is stopped on the way out, failure or Ctrl-C.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime

from saga_e2e.bench import dataset, pgbench, system
from saga_e2e.bench.config import LATENCY_POINTS, BenchConfig
from saga_e2e.bench.cpu import CpuProbe
from saga_e2e.bench.kafka_probe import KafkaProbe
from saga_e2e.bench.pg_probe import PgProbe
from saga_e2e.bench.progress import Progress
from saga_e2e.bench.result import RAMP, BenchResult
from saga_e2e.bench.step import Probes, StepPlan, StepResult, measure, warm_up
from saga_e2e.bench.system import BATCH1, BATCHED, BROKERS, TRACED, Bench, Mode


def planned_steps(config: BenchConfig) -> int:
    """Steps of a run whose ramps go all the way (the bar's total), plus pgbench."""
    ramps = sum(len(config.ramp(mode).rates) for mode in config.modes)
    return ramps + len(LATENCY_POINTS) + 1


def run(config: BenchConfig, progress: Progress) -> BenchResult:
    """Bring the bench stack up if needed, measure, and stop what this run started; then the
    same for the brokers mode's stack."""
    began = time.monotonic()
    result = BenchResult(config, datetime.now(UTC).strftime("bench-%Y%m%d-%H%M%S"))
    bench = system.bring_up(progress.log)
    try:
        _run(bench, config, progress, result)
    finally:
        system.shut_down(bench, progress.log)
    if config.with_brokers:
        _brokers(config, progress, result)
    result.total_s = time.monotonic() - began
    return result


@contextmanager
def _probes(bench: Bench, run_id: str, progress: Progress) -> Iterator[Probes]:
    """The run's products on this stack, and the probes of its database and broker."""
    settings = bench.system.settings
    order, payment, inventory = bench.system.urls
    progress.log(f"bench: run {run_id}: {dataset.SKUS} skus; waiting for the order catalog")
    skus = dataset.set_up_products(inventory, order, run_id)
    pg, kafka = PgProbe(settings), KafkaProbe(settings.kafka_bootstrap)
    try:
        cpu = CpuProbe(lambda: system.component_pids(bench))
        yield Probes(lambda: system.order_urls(bench), payment, skus, run_id, pg, kafka, cpu)
    finally:
        pg.close()
        kafka.close()


def _run(bench: Bench, config: BenchConfig, progress: Progress, result: BenchResult) -> None:
    settings = bench.system.settings
    system.use_mode(bench, BATCHED, progress.log)
    with _probes(bench, result.run_id, progress) as probes:
        if not probes.pg.statements:
            result.notes.append(
                "pg_stat_statements is not loaded (a stack started without "
                "PG_SHARED_PRELOAD_LIBRARIES): no statements; transactions from pg_stat_database"
            )
        progress.phase("pgbench")
        result.pg_tps = pgbench.run(settings, config.pgbench, progress.log)
        progress.log(f"pgbench: {result.pg_tps:.0f} tps")
        progress.done()
        _ramp(probes, config, BATCHED, result, progress)
        base = result.max_rate(BATCHED.name)
        if base <= 0:
            base = config.batched.start
            result.notes.append(
                f"no batched step was sustained: latency points are at shares of {base:g}/s"
            )
        for share in LATENCY_POINTS:
            plan = StepPlan(
                BATCHED.name, f"at{share * 100:.0f}", 0, round(base * share, 1), config.latency_s
            )
            result.steps.append(_step(probes, plan, config, progress))
        if config.with_replicas:
            replicas = system.replicas_mode(config.replica_counts)
            system.use_mode(bench, replicas, progress.log)
            _ramp(probes, config, replicas, result, progress)
        system.use_mode(bench, BATCH1, progress.log)
        _ramp(probes, config, BATCH1, result, progress)
        system.use_mode(bench, TRACED, progress.log)
        _ramp(probes, config, TRACED, result, progress)
        result.traced_services = system.traced_services(bench)


def _brokers(config: BenchConfig, progress: Progress, result: BenchResult) -> None:
    """The batched ramp on the second stack's Kafka cluster. A failure there is a note: the
    report of the first stack stands (Ctrl-C still ends the run)."""
    progress.phase("brokers stack")
    try:
        with system.brokers_stack(config.broker_count, progress.log) as bench:
            system.use_mode(bench, BROKERS, progress.log)
            with _probes(bench, result.run_id, progress) as probes:
                _ramp(probes, config, BROKERS, result, progress)
    except Exception as error:
        progress.log(f"bench: brokers mode failed: {error}")
        result.notes.append(f"brokers mode failed: {type(error).__name__}: {error}")


def _ramp(
    probes: Probes, config: BenchConfig, mode: Mode, result: BenchResult, progress: Progress
) -> None:
    """Warm up, then each rate of the ramp in turn until one is not sustained (after retries)."""
    ramp = config.ramp(mode.name)
    progress.phase(f"{mode.name} warm-up")
    took = warm_up(probes, mode.name, ramp.start, config.warmup_s, config.drain_cap_s)
    progress.log(f"{mode.name}: warmed up at {ramp.start:g}/s in {took:.1f} s")
    rates = ramp.rates
    for index, rate in enumerate(rates):
        plan = StepPlan(mode.name, RAMP, index, rate, config.step_s)
        step = _step(probes, plan, config, progress)
        result.steps.append(step)
        for attempt in range(1, config.retries + 1):  # every run is reported; the last counts
            if step.verdict.sustained:
                break
            progress.log(f"{plan.label}: {rate:g}/s not sustained; running it once more")
            progress.grow(1)
            step = _step(probes, replace(plan, attempt=attempt), config, progress)
            result.steps.append(step)
        if not step.verdict.sustained and not config.keep_going:
            progress.skip(len(rates) - index - 1)
            progress.log(f"{mode.name}: ramp stops at {rate:g}/s")
            return


def _step(probes: Probes, plan: StepPlan, config: BenchConfig, progress: Progress) -> StepResult:
    progress.step(plan)
    step = measure(probes, plan, config.rule, config.grace_s, config.drain_cap_s, progress.load)
    progress.done()
    offered = step.offered
    failed = ", ".join(f"{k} {n}" for k, n in offered.failed.most_common(3))
    progress.log(
        f"{plan.label} at {plan.rate:g}/s: {offered.accepted}/{offered.scheduled} accepted"
        f"{f' ({failed})' if failed else ''}, {step.on_time} in time, backlog "
        f"{step.not_terminal_end}, lag {step.lag_end}, p50 {step.latency.p50:.0f} ms, "
        f"drained {step.drain_s:.1f} s: {step.verdict}"
    )
    return step
