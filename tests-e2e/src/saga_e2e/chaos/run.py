"""One chaos run end to end: stack, set-up, load under faults, drain, invariant checks."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from saga_e2e.chaos import api_checks, db_checks, drain, faults, system
from saga_e2e.chaos.faults import KINDS
from saga_e2e.chaos.load import Load, LoadRecord, set_up
from saga_e2e.chaos.plan import Plan, expected_outcomes, make_plan
from saga_e2e.chaos.timeline import Sampler, Timeline
from saga_e2e.client import TERMINAL, SagaClient, ServiceUrls
from saga_infra import services
from saga_infra.settings import Settings

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RunConfig:
    """The knobs of one run (the CLI's options)."""

    orders: int = 10_000
    faults: int = 30
    concurrency: int = 8
    drain_deadline_s: float = 60.0
    seed: int = 1
    api_sample: int = 2_000
    rate: float = 0.0  # orders started per second at most; 0 = as fast as the threads go
    settle_cap_s: float = 300.0  # then: how long refunds, releases and lag may take
    report_dir: Path = Path(".local/chaos")  # the run's timeline as CSV and PNG
    fault_kinds: tuple[str, ...] = KINDS  # what crashes, each once per round
    # The saga deadline the services run with (ORDER_SAGA_DEADLINE_S); None: theirs (300 s).
    saga_deadline_s: float | None = None
    # Keep the first crash of `long_outage_kind` down this long (0: none), e.g. past the
    # deadline: the orders in flight then are cancelled as timed_out, and compensated.
    long_outage_s: float = 0.0
    long_outage_kind: str = "inventory"
    # Scale-out: replicas of every service (each joins its group; a service fault kills one
    # replica, each in turn) and Kafka brokers (a Kafka fault kills one node, each in turn).
    replicas: int = 1
    brokers: int = 1
    # A killed replica or broker among others stays down this long: a replica past the 10 s
    # session timeout, so its partitions must move to the survivor while it is gone.
    member_outage_s: float = 15.0
    # Every fault down this long (None: a drawn 0.5-3 s, or member_outage_s): the same outages
    # for runs to be compared side by side (one broker against three).
    outage_s: float | None = None

    def stack_environ(self, stack_dir: str) -> dict[str, str]:
        """The variables of the stack this run starts: replicas, brokers, deadline.

        A cluster gets a stack directory of its own: a single broker's data is no node of it.
        """
        env = {"SERVICE_REPLICAS": str(self.replicas), "KAFKA_BROKERS": str(self.brokers)}
        if self.brokers > 1:
            env["STACK_DIR"] = f"{stack_dir}-{self.brokers}brokers"
        if self.saga_deadline_s:
            env |= system.deadline_environ(self.saga_deadline_s)
        return env

    @property
    def may_time_out(self) -> bool:
        """Whether orders may end CANCELLED(timed_out): only with a deadline the run chose.

        With the services' own 300 s no outage of a run comes near it, so a timed-out
        order there is a violation (an unexpected outcome).
        """
        return self.saga_deadline_s is not None


@dataclass
class RunResult:
    """What the summary reports; `ok` is what the exit code says."""

    config: RunConfig
    plan: Plan
    record: LoadRecord
    faults: faults.FaultLog
    backlog: drain.Backlog
    outcomes: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    load_s: float = 0.0
    drain_s: float = 0.0  # after the last fault and order: until every order was terminal
    settle_s: float = 0.0  # then: until outboxes were sent and every group caught up
    check_s: float = 0.0
    total_s: float = 0.0  # the whole run: stack up, set-up, load, drain, checks, stack down
    report_files: list[Path] = field(default_factory=list)
    dead_letters: int = 0
    api_checked: int = 0
    terminal_after_load: int | None = None  # sagas terminal when the load ended

    @property
    def ok(self) -> bool:
        return not self.violations and self.backlog.settled


def run(config: RunConfig, report: Progress) -> RunResult:
    """Bring the chaos stack up if needed, run, check, and stop what this run started."""
    began = time.monotonic()
    # In os.environ for the whole run: the services inherit it at every (re)start.
    environ = config.stack_environ(os.environ.get("STACK_DIR", "/tmp/chaosstack"))
    saved = {var: os.environ.get(var) for var in environ}
    os.environ.update(environ)
    try:
        chaos = system.bring_up(report)
        try:
            result = _run(chaos, config, report)
        finally:
            system.shut_down(chaos, report)
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
    result.total_s = time.monotonic() - began
    return result


def _run(chaos: system.System, config: RunConfig, report: Progress) -> RunResult:
    rng = random.Random(config.seed)
    plan = make_plan(config.orders, rng)
    urls = ServiceUrls(*chaos.urls)
    settings = chaos.settings
    report(
        f"chaos: run {plan.run_id}: setting up {len(plan.products)} skus, "
        f"{len(plan.opening)} accounts"
    )
    client = SagaClient(urls)
    try:
        set_up(plan, client)
    finally:
        client.close()
    dlq_before = drain.dead_letters(settings.kafka_bootstrap)
    load = Load(plan, urls, config.concurrency, config.seed)
    load.order_urls = [s.url for s in services.instances() if s.name == "order"]
    load.rate = config.rate
    kinds = faults.schedule(config.faults, rng, config.fault_kinds)
    targets = faults.targets(kinds, config.replicas, settings.kafka_brokers)
    injector = faults.FaultInjector(
        settings, targets, len(plan.orders), load.placing_begun, rng, report
    )
    load.gate = injector.gate
    if config.long_outage_s > 0:
        injector.long_outage = (config.long_outage_kind, config.long_outage_s)
    injector.member_outage_s = config.member_outage_s
    injector.outage_s = config.outage_s or 0.0
    dsn = settings.dsn()
    injector.terminal_count = lambda: drain.terminal_orders(dsn, plan.run_id)
    timeline = Timeline()
    injector.on_fault = timeline.add_fault

    sampled_lag = drain.LagProbe(settings.kafka_bootstrap)  # the sampler thread's own

    def read_backlog() -> tuple[int, drain.Backlog]:
        with load.record.lock:
            placed_ids = list(load.record.placed)
        return len(placed_ids), drain.backlog(dsn, sampled_lag, placed_ids)

    sampler = Sampler(timeline, read_backlog)
    try:
        result = _load_and_drain(config, report, plan, load, injector, sampler, dsn, settings)
    finally:
        sampler.stop()
        sampled_lag.close()
    result.report_files = _write_timeline(timeline, config, plan.run_id)
    began = time.monotonic()
    _check(result, dsn, urls, config, rng)
    result.dead_letters = drain.dead_letters(settings.kafka_bootstrap) - dlq_before
    if result.dead_letters:
        result.violations.append(f"dead letters: {result.dead_letters} written during the run")
    result.check_s = time.monotonic() - began
    return result


def _load_and_drain(
    config: RunConfig,
    report: Progress,
    plan: Plan,
    load: Load,
    injector: faults.FaultInjector,
    sampler: Sampler,
    dsn: str,
    settings: Settings,
) -> RunResult:
    """Place the orders under faults, then wait for the saga to settle (sampled throughout)."""
    began = time.monotonic()
    ticker = _Ticker(load, injector, report)
    injector.start()
    ticker.start()
    sampler.start()
    try:
        load.run()
        while injector.is_alive() and injector.error is None:
            injector.join(0.5)
    finally:
        load.stop.set()
        injector.stopping.set()
        ticker.stopping.set()
    if injector.error is not None:
        raise RuntimeError(f"fault injection failed: {injector.error}") from injector.error
    load_s = time.monotonic() - began
    terminal_after_load = drain.terminal_orders(dsn, plan.run_id)
    placed = load.record.placed
    report(f"chaos: load done in {load_s:.1f} s; draining {len(placed)} accepted orders")
    lag = drain.LagProbe(settings.kafka_bootstrap)
    try:
        # DESIGN.md section 6: every order terminal within the deadline once all is up ...
        backlog, drain_s = drain.wait_until(
            drain.all_terminal, dsn, lag, list(placed), config.drain_deadline_s, report
        )
        result = RunResult(
            config, plan, load.record, injector.log, backlog, load_s=load_s, drain_s=drain_s
        )
        result.terminal_after_load = terminal_after_load
        if not drain.all_terminal(backlog):
            late = f"{backlog.not_terminal} orders not terminal after {drain_s:.0f} s"
            result.violations.append(f"drain deadline: {late}")
            report(f"chaos: DEADLINE MISSED ({late}); waiting up to {config.settle_cap_s:.0f} s")
        # ... and nothing left in flight (refunds, releases) before money and stock are checked.
        result.backlog, result.settle_s = drain.wait_until(
            drain.settled, dsn, lag, list(placed), config.settle_cap_s, report
        )
        if not result.backlog.settled:
            cap = f"{config.settle_cap_s:.0f} s"
            result.violations.append(f"not settled: {result.backlog} after another {cap}")
            result.violations += [f"lagging: {line}" for line in _lagging(lag)]
    finally:
        lag.close()
    return result


def _lagging(lag: drain.LagProbe) -> list[str]:
    """Where the lag is, for the report of a run that did not settle."""
    try:
        return lag.lagging()
    except Exception as error:  # a diagnosis must not hide the violation it explains
        return [f"unknown ({type(error).__name__}: {error})"]


def _write_timeline(timeline: Timeline, config: RunConfig, run_id: str) -> list[Path]:
    csv_file, png_file = (config.report_dir / f"{run_id}.{ext}" for ext in ("csv", "png"))
    timeline.write_csv(csv_file)
    pace = f"{config.rate:g} orders/s" if config.rate else "unpaced"
    title = f"{run_id}: {config.orders} orders ({pace})"
    timeline.plot(png_file, f"{title}, {len(timeline.faults)} faults")
    return [csv_file, png_file]


def _check(
    result: RunResult, dsn: str, urls: ServiceUrls, config: RunConfig, rng: random.Random
) -> None:
    placed, plan, record = result.record.placed, result.plan, result.record
    with psycopg.connect(dsn) as conn:
        facts = db_checks.read_facts(conn, plan.run_id)
        found = db_checks.check_orders(facts, placed)
        found += db_checks.check_money(conn, plan, record.deposits, record.deposits_ambiguous)
        found += db_checks.check_stock(conn, plan)
        found += db_checks.check_effects(conn, list(placed))
        rows = conn.execute(
            "SELECT customer_id, balance_cents FROM payments.accounts WHERE customer_id LIKE %s",
            (f"{plan.run_id}-%",),
        ).fetchall()
    for oid, item in placed.items():
        if oid not in facts.orders:
            continue
        _, status, reason, _ = facts.orders[oid]
        key = f"{status} {reason}" if reason else status
        result.outcomes[key] = result.outcomes.get(key, 0) + 1
        expected = expected_outcomes(
            item.spec.scenario, item.cancel, may_time_out=config.may_time_out
        )
        if status in TERMINAL and (status, reason) not in expected:
            found.append(
                f"unexpected outcome: {item.spec.scenario} order {oid} ended {key}"
                f" (cancel {item.cancel})"
            )
    sample = min(config.api_sample, len(placed))
    found += api_checks.check_orders(urls, list(placed.values()), sample, rng, config.concurrency)
    if result.backlog.settled:  # balances still move while compensation is in flight
        found += api_checks.check_accounts_and_stock(urls, plan, api_checks.balances(rows))
    result.api_checked = sample
    result.violations += found + outage_violations(result)


def outage_violations(result: RunResult) -> list[str]:
    """A replica or broker down with others beside it must not stop the saga.

    Each such outage completes sagas while it lasts, and a replica kept down past the session
    timeout has its partitions on the survivors by the end of it. With only Kafka crashing (the
    order service always up), no POST /orders may be refused.
    """
    found = []
    for outage in result.faults.outages:
        name = outage.target.name
        if not outage.target.one_of_several:
            continue
        if outage.completed == 0:
            found.append(
                f"saga stopped: no saga completed while {name} was down {outage.outage_s:.1f} s"
            )
        if outage.handed_over is False:
            after = f"{outage.outage_s:.0f} s"
            found.append(f"no handover: {name}'s partitions not moved after {after}")
    if set(result.config.fault_kinds) == {"kafka"} and result.record.rejected:
        found.append(f"refused: {len(result.record.rejected)} orders not accepted")
    return found


class _Ticker:
    """Progress lines while the load runs: orders placed, rate, retries, faults so far."""

    def __init__(self, load: Load, injector: faults.FaultInjector, report: Progress) -> None:
        self.load, self.injector, self.report = load, injector, report
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="chaos-ticker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _tick(self) -> None:
        began = last = time.monotonic()
        while not self.stopping.wait(5.0):
            last = time.monotonic()
            record, total = self.load.record, len(self.load.plan.orders)
            with record.lock:
                attempted, accepted, retries = record.attempted, len(record.placed), record.retries
            self.report(
                f"load: {attempted}/{total} placed, {accepted} accepted "
                f"({accepted / (last - began):.1f}/s), {retries} retries, "
                f"faults {self.injector.log.total}/{len(self.injector.kinds)}"
            )
