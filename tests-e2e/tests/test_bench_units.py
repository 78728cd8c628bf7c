"""The bench's pure pieces, without a stack: sustain rule, percentiles, CPU accounting, RESULT."""

import asyncio
import json
import math
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from saga_e2e.bench import config as presets
from saga_e2e.bench import system as bench_system
from saga_e2e.bench.__main__ import parse
from saga_e2e.bench.cpu import (
    CpuSample,
    ProcStat,
    component_of,
    deltas,
    parse_stat,
    postgres_ticks,
)
from saga_e2e.bench.loadgen import Offered, offer, order_body
from saga_e2e.bench.pgbench import parse_tps
from saga_e2e.bench.plot import plot
from saga_e2e.bench.report import CSV_COLUMNS, relative, result_line, table, write_csv
from saga_e2e.bench.result import BenchResult, Headline, scale_out
from saga_e2e.bench.run import planned_steps
from saga_e2e.bench.stats import Latency, per_saga, percentile
from saga_e2e.bench.step import StepPlan, StepResult
from saga_e2e.bench.sustain import Counts, Verdict, judge, max_sustained, ramp_rates
from saga_e2e.bench.system import (
    BATCH1,
    BATCHED,
    BENCH,
    BENCH_3B,
    BROKERS,
    TRACED,
    Bench,
    brokers_stack,
    component_pids,
    order_urls,
    point_at_bench_stack,
    replicas_mode,
    transition,
)
from saga_e2e.chaos.system import chaos_environ
from saga_e2e.own_stack import System
from saga_infra.services import MAX_REPLICAS, Service
from saga_infra.settings import Settings

RESULT = re.compile(
    r"^RESULT max_sagas_per_s=\d+\.\d+ batch1_sagas_per_s=\d+\.\d+ pg_tps=\d+\.\d+ "
    r"cpu_ms_per_saga=\d+\.\d+ p50_ms=\d+\.\d+ p99_ms=\d+\.\d+ "
    r"replicas_sagas_per_s=\d+\.\d+ brokers_sagas_per_s=\d+\.\d+$"
)


@pytest.fixture(scope="session")
def system_is_up() -> None:
    """Overrides the e2e check of the main system: nothing here needs a stack."""


# -- the sustain rule ------------------------------------------------------------------------


def counts(**changes: int) -> Counts:
    base = {"scheduled": 1000, "accepted": 1000, "on_time": 1000, "not_terminal_end": 50}
    base |= {"lag_end": 100} | changes
    return Counts(rate=100.0, **base)


def test_a_step_that_keeps_pace_is_sustained() -> None:
    verdict = judge(counts())
    assert verdict.sustained and verdict.reason == "ok"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"accepted": 940, "on_time": 940}, "offered 94% < 95%"),
        ({"on_time": 970}, "on time 97% < 98%"),
        ({"not_terminal_end": 201}, "backlog 201 > 200"),
        ({"lag_end": 1401}, "lag 1401 > 1400"),
    ],
)
def test_each_rule_alone_fails_a_step(changes: dict[str, int], reason: str) -> None:
    verdict = judge(counts(**changes))
    assert not verdict.sustained and verdict.reason == reason


def test_the_bounds_themselves_still_pass_and_every_failed_rule_is_named() -> None:
    assert judge(counts(accepted=950, on_time=931, not_terminal_end=200, lag_end=1400)).sustained
    verdict = judge(counts(accepted=0, on_time=0, not_terminal_end=999))
    assert verdict.reason.count(";") == 2, verdict.reason


def test_the_maximum_needs_every_lower_step_and_a_retry_counts_by_its_last_run() -> None:
    assert max_sustained([(10, True), (13, True), (17, False)]) == 13
    assert max_sustained([(10, True), (13, False), (17, True)]) == 10  # no lucky step above
    assert max_sustained([(10, True), (13, False), (13, True), (17, False)]) == 13
    assert max_sustained([(10, False)]) == 0.0
    assert max_sustained([]) == 0.0


def test_ramps_are_geometric_and_bad_ones_are_refused() -> None:
    assert ramp_rates(10, 2, 40) == [10, 20, 40]
    assert ramp_rates(25, 1.3, 600)[-1] <= 600 < ramp_rates(25, 1.3, 600)[-1] * 1.3
    for start, factor, top in ((0, 2, 10), (10, 1, 40), (10, 2, 5)):
        with pytest.raises(ValueError, match="bad ramp"):
            ramp_rates(start, factor, top)


# -- percentiles -----------------------------------------------------------------------------


def test_percentiles_interpolate_between_ranks_like_numpy() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 0) == 1 and percentile(values, 100) == 100
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0  # unsorted input
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_latency_summary_and_per_saga_figures_stay_defined_when_empty() -> None:
    summary = Latency.of([100.0, 200.0, 300.0])
    assert (summary.count, summary.p50, summary.max) == (3, 200.0, 300.0)
    empty = Latency.of([])
    assert empty.count == 0 and math.isnan(empty.p99)
    assert per_saga(10.0, 4) == 2.5 and math.isnan(per_saga(10.0, 0))


# -- CPU accounting --------------------------------------------------------------------------


def stat_line(pid: int, comm: str, ppid: int, times: tuple[int, int, int, int]) -> str:
    fields = ["S", str(ppid), *["0"] * 9, *(str(t) for t in times), *["0"] * 30]
    return f"{pid} ({comm}) " + " ".join(fields)


def test_proc_stat_is_parsed_even_when_the_command_holds_spaces_and_parentheses() -> None:
    stat = parse_stat(stat_line(42, "postgres: a (b) c", 7, (100, 20, 3, 4)))
    assert stat == ProcStat(pid=42, ppid=7, utime=100, stime=20, cutime=3, cstime=4)
    assert (stat.own, stat.with_children) == (120, 127)


def test_postgres_counts_the_postmaster_reaped_backends_and_live_children_only() -> None:
    postmaster = ProcStat(10, 1, utime=5, stime=5, cutime=100, cstime=50)  # 150 reaped
    processes = [
        postmaster,
        ProcStat(11, 10, utime=30, stime=10, cutime=0, cstime=0),  # a live backend
        ProcStat(12, 10, utime=1, stime=1, cutime=2, cstime=0),  # autovacuum launcher
        ProcStat(13, 99, utime=1000, stime=1000, cutime=0, cstime=0),  # somebody else's
    ]
    assert postgres_ticks(postmaster, processes) == 10 + 150 + 40 + 4


def test_cpu_deltas_skip_a_component_that_restarted() -> None:
    before = CpuSample({"order": 1.0, "kafka": 5.0}, {"order": 100, "kafka": 200})
    after = CpuSample({"order": 1.5, "kafka": 6.0}, {"order": 101, "kafka": 200})
    used = deltas(before, after)
    assert used["kafka"] == 1.0 and math.isnan(used["order"])


# -- RESULT line, pgbench, arguments, environment --------------------------------------------


def test_the_result_line_has_the_exact_form_with_plain_numbers() -> None:
    line = result_line(Headline(412.5, 60.0, 1234.567, 7.891, 45.0, float("nan")))
    assert RESULT.match(line), line
    assert " p50_ms=45.00 p99_ms=0.00 " in line
    assert line.endswith("replicas_sagas_per_s=0.00 brokers_sagas_per_s=0.00")  # no such modes
    assert "pg_tps=1234.57 " in line
    line = result_line(Headline(1, 2, 3, 4, 5, 6, replicas_sagas_per_s=80.5, brokers_sagas_per_s=9))
    assert line.endswith("replicas_sagas_per_s=80.50 brokers_sagas_per_s=9.00")


def test_pgbench_tps_comes_from_the_line_without_connection_time() -> None:
    output = "latency average = 9.1 ms\ntps = 876.543210 (without initial connection time)\n"
    assert parse_tps(output) == pytest.approx(876.54321)
    with pytest.raises(ValueError):
        parse_tps("connection refused")


def test_quick_and_overrides_and_bad_arguments_exit_2() -> None:
    quick = parse(["--quick", "--step-s", "4", "--batched-top", "80"], {})
    assert quick.quick and quick.step_s == 4 and quick.batched.rates == [20, 40, 80]
    assert quick.pgbench.duration_s == presets.QUICK.pgbench.duration_s
    full = parse(["--factor", "1.5", "--pgbench-s", "7"], {})
    assert full.batch1.factor == full.batched.factor == full.brokers.factor == 1.5
    assert full.pgbench.duration_s == 7
    assert full.estimate_s()[1] <= 22 * 60  # the replicas ramp from 10/s: more steps
    bad_ones = (
        ["--step-s", "-1"], ["--factor", "1"], ["--retries", "9"], ["--nope"],
        ["--replicas", "0"], ["--replicas", "7"], ["--brokers", "2"], ["--brokers-top", "1"],
    )  # fmt: skip
    for bad in bad_ones:
        with pytest.raises(SystemExit) as exit_:
            parse(bad, {})
        assert exit_.value.code == 2, bad


def test_the_bench_env_never_points_at_another_stack() -> None:
    environ = {
        "KAFKA_PORT": "9092",
        "PG_PORT": "5432",
        "ORDER_URL": "http://127.0.0.1:8001",
        "PG_DIR": "/elsewhere",
        "PAYMENT_CONSUMER_BATCH_MAX": "1",
        "BENCH_PG_PORT": "45432",
        "SERVICE_REPLICAS": "3",
        "ORDER_REPLICAS": "2",
        "KAFKA_BROKERS": "3",
    }
    point_at_bench_stack(environ)
    assert environ["KAFKA_PORT"] == "30092" and environ["PG_PORT"] == "45432"
    assert environ["STACK_DIR"] == "/tmp/benchstack"
    # The first stack runs one broker and one instance of each service; the modes add replicas.
    assert environ["KAFKA_BROKERS"] == "1"
    gone = {"ORDER_URL", "PG_DIR", "PAYMENT_CONSUMER_BATCH_MAX", "SERVICE_REPLICAS"}
    assert not (gone | {"ORDER_REPLICAS"}) & set(environ)
    assert Settings.from_env(environ).pg_shared_preload_libraries == "pg_stat_statements"
    assert Settings.from_env({}).pg_shared_preload_libraries == ""
    assert set(BATCH1.env.values()) == {"1"} and len(BATCH1.env) == 3
    assert chaos_environ({"CHAOS_PG_PORT": "1"})["PG_PORT"] == "1"  # chaos keeps its prefix


# -- scale-out: switches, modes and their transitions, the second stack -----------------------


def test_scale_out_takes_make_devs_switches_and_the_options_over_them() -> None:
    default = parse([], {})
    assert dict(default.replica_counts) == {"order": 2, "payment": 2, "inventory": 2}
    assert default.broker_count == 3
    assert default.modes == ("batched", "replicas", "batch1", "traced", "brokers")
    env = {"SERVICE_REPLICAS": "3", "ORDER_REPLICAS": "4", "KAFKA_BROKERS": "1"}
    config = parse([], env)
    assert dict(config.replica_counts) == {"order": 4, "payment": 3, "inventory": 3}
    assert config.modes == ("batched", "replicas", "batch1", "traced")
    assert parse(["--brokers", "3"], env).with_brokers
    # --replicas beats SERVICE_REPLICAS; <SVC>_REPLICAS still beats both, as in `make dev`.
    assert dict(parse(["--replicas", "1"], env).replica_counts)["payment"] == 1
    assert parse(["--replicas", "1"], env).with_replicas
    off = parse(["--replicas", "1", "--brokers", "1"], {})
    assert off.modes == ("batched", "batch1", "traced") and not off.with_replicas
    assert off.estimate_s()[1] < default.estimate_s()[1]
    for bad in ({"SERVICE_REPLICAS": "9"}, {"ORDER_REPLICAS": "x"}, {"KAFKA_BROKERS": "2"}):
        with pytest.raises(SystemExit) as exit_:
            parse([], bad)
        assert exit_.value.code == 2, bad


def test_the_quick_preset_runs_both_scale_out_modes_briefly() -> None:
    quick = parse(["--quick"], {})
    assert quick.with_replicas and quick.with_brokers
    assert quick.replicas.rates == quick.brokers.rates == [20.0]
    likely, worst = quick.estimate_s()
    assert likely == worst  # --quick runs every step
    assert planned_steps(quick) == sum(len(quick.ramp(m).rates) for m in quick.modes) + 3


def names(instances: tuple[Service, ...] | list[Service]) -> list[str]:
    return [s.instance for s in instances]


def test_modes_list_their_instances_replica_one_first() -> None:
    assert names(BATCHED.instances()) == ["order", "payment", "inventory"]
    mode = replicas_mode({"order": 3, "payment": 2, "inventory": 1})
    assert names(mode.instances()) == [
        "order", "payment", "inventory", "order-2", "payment-2", "order-3",
    ]  # fmt: skip
    assert mode.replicas == {"order": 3, "payment": 2} and mode.env == {}


def test_switching_modes_starts_stops_and_restarts_each_instance_at_most_once() -> None:
    two = replicas_mode(presets.replica_counts(2))
    extras = ["order-2", "payment-2", "inventory-2"]
    ones = ["order", "payment", "inventory"]

    up = transition(BATCHED, two)  # the same environment: only the extra replicas start
    assert (names(up.stop), names(up.restart), names(up.start)) == ([], [], extras)
    down = transition(two, BATCH1)  # the extras stop; replica 1 restarts once, for batch-1
    assert (names(down.stop), names(down.restart), names(down.start)) == (extras, ones, [])
    back = transition(two, BATCHED)
    assert (names(back.stop), names(back.restart), names(back.start)) == (extras, [], [])
    assert names(transition(BATCH1, TRACED).restart) == ones
    assert transition(BATCHED, BROKERS).idle  # the brokers mode is batched on another stack
    unknown = transition(None, two)  # services someone else started: restarted, extras added
    assert (names(unknown.restart), names(unknown.start)) == (ones, extras)
    for change in (up, down, back, unknown):
        touched = names(change.stop) + names(change.restart) + names(change.start)
        assert len(touched) == len(set(touched))


def test_a_run_of_modes_starts_each_replica_once_and_shut_down_stops_every_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, str]] = []
    running: set[str] = {"order", "payment", "inventory"}

    def stop(_settings: Settings, service: Service, *_: object) -> bool:
        calls.append(("stop", service.instance))
        was = service.instance in running
        running.discard(service.instance)
        return was

    def start(_settings: Settings, service: Service, *_: object) -> int:
        calls.append(("start", service.instance))
        running.add(service.instance)
        return 1

    def spread(_bootstrap: str, expected: dict[str, int], _timeout: float) -> dict[str, list[str]]:
        return {group: ["member"] * n for group, n in expected.items()}

    monkeypatch.setattr(bench_system.services, "stop", stop)
    monkeypatch.setattr(bench_system.services, "start", start)
    monkeypatch.setattr(bench_system.services, "wait_ready", lambda *_: None)
    monkeypatch.setattr(bench_system.groups, "wait_spread", spread)
    monkeypatch.setattr(bench_system.own_stack, "shut_down", lambda *_: None)
    monkeypatch.setattr(os, "environ", dict(os.environ))
    settings = Settings.from_env({})
    bench = Bench(System(settings, started=["order", "payment", "inventory"]), BATCHED)

    extras = ["inventory-2", "order-2", "payment-2"]
    bench_system.use_mode(bench, replicas_mode(presets.replica_counts(2)), print)
    assert sorted(calls) == [("start", name) for name in extras]  # nothing restarted
    assert sorted(names(list(bench.extras))) == extras
    calls.clear()
    bench_system.use_mode(bench, BATCH1, print)
    stops, starts = ([name for verb, name in calls if verb == v] for v in ("stop", "start"))
    assert sorted(stops) == sorted(["order", "payment", "inventory", *extras])  # each once
    assert sorted(starts) == ["inventory", "order", "payment"]  # replica 1, for batch-1
    assert not bench.extras and os.environ["ORDER_CONSUMER_BATCH_MAX"] == "1"

    bench_system.use_mode(bench, replicas_mode({"order": 3}), print)  # batch-1 env -> batched
    calls.clear()
    bench_system.shut_down(bench, print)
    assert sorted(calls) == [("stop", "order-2"), ("stop", "order-3")]
    assert running == {"order", "payment", "inventory"}  # own_stack stops those it started


def test_cpu_per_component_adds_up_its_replicas_and_broker_nodes() -> None:
    pids = {"order": 1, "order-2": 2, "kafka": 3, "kafka-2": 4, "kafka-3": 5, "postgres": 6}
    before = CpuSample(dict.fromkeys(pids, 1.0), pids)
    after = CpuSample({name: 1.0 + n for n, name in enumerate(pids, 1)}, pids)
    used = deltas(before, after)
    assert used == {"order": 1 + 2, "kafka": 3 + 4 + 5, "postgres": 6}
    assert (component_of("inventory-2"), component_of("loadgen")) == ("inventory", "loadgen")
    grown = CpuSample({**after.seconds, "order-3": 9.0}, {**pids, "order-3": 7})
    assert math.isnan(deltas(before, grown)["order"])  # a replica that joined mid-step


def test_component_pids_name_every_replica_and_kafka_node_of_the_stack(tmp_path: Path) -> None:
    settings = Settings.from_env({"STACK_DIR": str(tmp_path), "KAFKA_BROKERS": "3"})
    settings.run_dir.mkdir(parents=True)
    for name in ("order", "order-2", "payment", "payment-2", "inventory"):
        (settings.run_dir / f"{name}-service.pid").write_text("1\n")  # not a service: no PID
    pids = component_pids(Bench(System(settings)))
    assert set(pids) == {
        "order", "order-2", "payment", "payment-2", "inventory",
        "kafka", "kafka-2", "kafka-3", "postgres", "jaeger",
    }  # fmt: skip
    assert set(pids.values()) == {None}


def stack_ports(environ: dict[str, str], replicas: int = MAX_REPLICAS) -> set[int]:
    """Every port a stack of `environ` listens on: each Kafka node, each replica, Jaeger."""
    settings = Settings.from_env(environ)
    ports = {settings.pg_port}
    for node in range(1, settings.kafka_brokers + 1):
        ports |= {settings.kafka_port + 2 * (node - 1)}
        ports |= {settings.kafka_controller_port + 2 * (node - 1)}
    for var in ("ORDER_HTTP_PORT", "PAYMENT_HTTP_PORT", "INVENTORY_HTTP_PORT"):
        ports |= {int(environ[var]) + 10 * n for n in range(replicas)}
    if settings.jaeger:
        ports |= {port for var, port in environ.items() if var.startswith("JAEGER_")}
    return {int(p) for p in ports}


def test_the_two_bench_stacks_are_apart_and_below_the_ephemeral_range() -> None:
    first, second = BENCH.environ({}), BENCH_3B.environ({})
    assert second["KAFKA_BROKERS"] == "3" and first["KAFKA_BROKERS"] == "1"
    assert second["STACK_DIR"] != first["STACK_DIR"]
    assert Settings.from_env(second).kafka_replication == 3
    ports = stack_ports(first), stack_ports(second)
    assert not ports[0] & ports[1]
    assert max(ports[0] | ports[1]) < 32768
    assert BENCH_3B.environ({"BENCH_3B_PG_PORT": "1234"})["PG_PORT"] == "1234"


def test_the_brokers_stack_points_the_environment_there_and_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, str] = {}

    def fake_bring_up(progress: Callable[[str], None], spec: object) -> Bench:
        seen.update(os.environ)
        return Bench(System(Settings.from_env(os.environ)), BATCHED)

    stopped: list[Bench] = []
    monkeypatch.setattr(bench_system, "bring_up", fake_bring_up)
    monkeypatch.setattr(bench_system, "shut_down", lambda bench, _: stopped.append(bench))
    monkeypatch.setenv("STACK_DIR", "/tmp/benchstack")
    monkeypatch.delenv("KAFKA_LIBS_DIR", raising=False)
    with brokers_stack(3, print) as bench:
        assert bench.system.settings.kafka_brokers == 3
        assert order_urls(bench) == ["http://127.0.0.1:32001"]
    assert seen["STACK_DIR"] == "/tmp/benchstack-3b" and seen["KAFKA_PORT"] == "32092"
    assert seen["KAFKA_LIBS_DIR"] == "/tmp/benchstack/kafka/libs"  # the first stack's jars
    assert stopped and os.environ["STACK_DIR"] == "/tmp/benchstack"


def test_the_order_replicas_of_the_mode_get_the_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDER_HTTP_PORT", "30001")
    monkeypatch.delenv("ORDER_URL", raising=False)
    bench = Bench(System(Settings.from_env({})), replicas_mode({"order": 3}))
    assert order_urls(bench) == [f"http://127.0.0.1:{port}" for port in (30001, 30011, 30021)]
    bench.mode = BATCH1
    assert order_urls(bench) == ["http://127.0.0.1:30001"]


# -- the report's scale-out section, from made-up steps ---------------------------------------


def made_step(mode: str, rate: float, sustained: bool, p50: float, cpu: float) -> StepResult:
    offered = Offered(scheduled=100, window_s=10.0, sent=100, accepted=100)
    return StepResult(
        StepPlan(mode, "ramp", 0, rate, 10.0),
        offered,
        Verdict(sustained, "ok" if sustained else "backlog 1 > 0"),
        confirmed=100,
        on_time=100,
        latency=Latency.of([p50 * 0.5, p50, p50 * 1.5]),
        cpu_ms={"order": cpu, "payment": 1.0, "inventory": 1.0, "kafka": 1.0, "postgres": 1.0},
    )


def made_result(config: presets.BenchConfig) -> BenchResult:
    result = BenchResult(config, "bench-test")
    ramps = {
        "batched": [(25.0, True, 300, 20), (32.5, True, 400, 18), (42.2, False, 900, 17)],
        "replicas": [(25.0, True, 350, 24), (32.5, True, 450, 22), (42.2, True, 600, 21)],
        "batch1": [(10.0, True, 900, 60)],
        "traced": [(25.0, False, 2000, 30)],
        "brokers": [(25.0, True, 330, 21), (32.5, False, 800, 20)],
    }
    for mode in config.modes:
        result.steps += [made_step(mode, *figures) for figures in ramps[mode]]
    return result


def test_scale_out_compares_each_setup_at_its_max_and_at_the_common_rate() -> None:
    scale = scale_out(made_result(parse([], {})))
    assert scale.common_rate == 25.0  # brokers sustained 25/s only
    assert [(row.mode, row.replicas, row.brokers) for row in scale.rows] == [
        ("batched", "1", 1), ("replicas", "2", 1), ("brokers", "1", 3),
    ]  # fmt: skip
    assert [row.max_rate for row in scale.rows] == [32.5, 42.2, 25.0]
    assert all(row.at_common is not None and row.at_common.plan.rate == 25 for row in scale.rows)
    base, replicas, brokers = scale.rows
    assert relative(brokers, base, 25.0).startswith("-23% sagas/s; at 25/s: +30 ms p50, ")
    assert "+1.00 ms CPU per saga (+4%)" in relative(brokers, base, 25.0)
    assert relative(replicas, base, None).startswith("+30% sagas/s; at each max: +200 ms p50")
    alone = scale_out(made_result(parse(["--replicas", "1", "--brokers", "1"], {})))
    assert [row.mode for row in alone.rows] == ["batched"] and alone.common_rate == 32.5


def test_the_report_has_a_scale_out_section_and_the_plot_shows_it(tmp_path: Path) -> None:
    result = made_result(parse([], {"ORDER_REPLICAS": "3"}))
    text = table(result).splitlines()
    (title,) = [n for n, line in enumerate(text) if line.startswith("scale-out")]
    header, *rows = text[title + 1 : title + 5]
    assert header.split()[:4] == ["mode", "replicas", "brokers", "max/s"]
    assert [row.split()[:3] for row in rows] == [
        ["batched", "1", "1"], ["replicas", "3/2/2", "1"], ["brokers", "1", "3"],
    ]  # fmt: skip
    assert rows[0].endswith("| -") and "% sagas/s; at 25/s: " in rows[2]
    assert any(line.startswith("max sustained, replicas: 42.2 sagas/s") for line in text)
    assert any(line.startswith("max sustained, brokers:  25.0 sagas/s") for line in text)
    without = table(made_result(parse(["--replicas", "1", "--brokers", "1"], {})))
    assert "scale-out" not in without and "max sustained, brokers" not in without
    plot(result, tmp_path / "bench.png")
    plot(made_result(parse(["--replicas", "1", "--brokers", "1"], {})), tmp_path / "one.png")
    assert (tmp_path / "bench.png").read_bytes().startswith(b"\x89PNG")
    write_csv(result, tmp_path / "bench.csv")
    header_row = (tmp_path / "bench.csv").read_text().splitlines()[0].split(",")
    assert header_row == list(CSV_COLUMNS) and "p95_ms" in header_row


# -- the open-loop generator, against a tiny local server --------------------------------------

CREATED = b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}"
CHUNKED_422_CLOSE = (
    b"HTTP/1.1 422 Unprocessable\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    b'3\r\n{"a\r\n2\r\n"}\r\n0\r\n\r\n'
)
ANSWER = [CREATED]


@pytest.fixture
def order_server() -> Iterator[tuple[str, list[bytes]]]:
    """A keep-alive HTTP server on 127.0.0.1 answering `ANSWER[0]` (bodies recorded)."""
    ANSWER[0] = CREATED
    with serving() as server:
        yield server


@pytest.fixture
def order_replicas() -> Iterator[list[tuple[str, list[bytes]]]]:
    """Two such servers: the order service's replicas."""
    ANSWER[0] = CREATED
    with serving() as first, serving() as second:
        yield [first, second]


@contextmanager
def serving() -> Iterator[tuple[str, list[bytes]]]:
    bodies: list[bytes] = []
    ready, port = threading.Event(), [0]
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
                bodies.append(await reader.readexactly(int(length[1]) if length else 0))
                writer.write(ANSWER[0])
                await writer.drain()
                if b"close" in ANSWER[0]:
                    break
            writer.close()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port[0] = server.sockets[0].getsockname()[1]
        ready.set()
        async with server:
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(5)
    yield f"http://127.0.0.1:{port[0]}", bodies
    loop.call_soon_threadsafe(stop.set)
    thread.join(5)
    loop.close()


def test_the_generator_sends_every_body_on_schedule(order_server: tuple[str, list[bytes]]) -> None:
    url, received = order_server
    sent = [order_body(f"c{n}", "sku-1") for n in range(40)]

    offered = offer(url, sent, rate=200.0)

    assert (offered.scheduled, offered.sent, offered.accepted) == (40, 40, 40)
    assert not offered.failed and offered.window_s == pytest.approx(0.2)
    assert sorted(received) == sorted(sent)
    assert json.loads(sent[3]) == {"customer_id": "c3", "items": [{"sku": "sku-1", "quantity": 1}]}


def test_the_generator_spreads_the_orders_over_the_replicas(
    order_replicas: list[tuple[str, list[bytes]]],
) -> None:
    sent = [order_body(f"c{n}", "sku-1") for n in range(30)]

    offered = offer([url for url, _ in order_replicas], sent, rate=300.0)

    assert (offered.scheduled, offered.sent, offered.accepted) == (30, 30, 30)
    (_, first), (_, second) = order_replicas
    assert sorted(first) == sorted(sent[0::2]) and sorted(second) == sorted(sent[1::2])


def test_the_generator_reads_chunked_answers_and_counts_refusals(
    order_server: tuple[str, list[bytes]],
) -> None:
    url, received = order_server
    ANSWER[0] = CHUNKED_422_CLOSE  # and the server closes every connection after answering

    offered = offer(url, [order_body("c", "s")] * 10, rate=100.0)

    assert (offered.sent, offered.accepted, dict(offered.failed)) == (10, 0, {"422": 10})
    assert len(received) == 10
