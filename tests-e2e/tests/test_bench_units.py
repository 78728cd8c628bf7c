"""The bench's pure pieces, without a stack: sustain rule, percentiles, CPU accounting, RESULT."""

import asyncio
import json
import math
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from saga_e2e.bench import config as presets
from saga_e2e.bench.__main__ import parse
from saga_e2e.bench.cpu import (
    CpuSample,
    ProcStat,
    component_of,
    deltas,
    parse_stat,
    postgres_ticks,
)
from saga_e2e.bench.loadgen import offer, order_body
from saga_e2e.bench.pgbench import parse_tps
from saga_e2e.bench.report import result_line
from saga_e2e.bench.result import Headline
from saga_e2e.bench.stats import Latency, per_saga, percentile
from saga_e2e.bench.sustain import Counts, judge, max_sustained, ramp_rates
from saga_e2e.bench.system import BATCH1, point_at_bench_stack
from saga_e2e.chaos.system import chaos_environ
from saga_infra.settings import Settings

RESULT = re.compile(
    r"^RESULT max_sagas_per_s=\d+\.\d+ batch1_sagas_per_s=\d+\.\d+ pg_tps=\d+\.\d+ "
    r"cpu_ms_per_saga=\d+\.\d+ p50_ms=\d+\.\d+ p99_ms=\d+\.\d+$"
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


def test_cpu_per_component_adds_up_its_replicas_and_broker_nodes() -> None:
    pids = {"order": 1, "order-2": 2, "kafka": 3, "kafka-2": 4, "kafka-3": 5, "postgres": 6}
    before = CpuSample(dict.fromkeys(pids, 1.0), pids)
    after = CpuSample({name: 1.0 + n for n, name in enumerate(pids, 1)}, pids)
    used = deltas(before, after)
    assert used == {"order": 1 + 2, "kafka": 3 + 4 + 5, "postgres": 6}
    assert (component_of("inventory-2"), component_of("loadgen")) == ("inventory", "loadgen")
    grown = CpuSample({**after.seconds, "order-3": 9.0}, {**pids, "order-3": 7})
    assert math.isnan(deltas(before, grown)["order"])  # a replica that joined mid-step


# -- RESULT line, pgbench, arguments, environment --------------------------------------------


def test_the_result_line_has_the_exact_form_with_plain_numbers() -> None:
    line = result_line(Headline(412.5, 60.0, 1234.567, 7.891, 45.0, float("nan")))
    assert RESULT.match(line), line
    assert line.endswith("p50_ms=45.00 p99_ms=0.00")
    assert "pg_tps=1234.57 " in line


def test_pgbench_tps_comes_from_the_line_without_connection_time() -> None:
    output = "latency average = 9.1 ms\ntps = 876.543210 (without initial connection time)\n"
    assert parse_tps(output) == pytest.approx(876.54321)
    with pytest.raises(ValueError):
        parse_tps("connection refused")


def test_quick_and_overrides_and_bad_arguments_exit_2() -> None:
    quick = parse(["--quick", "--step-s", "4", "--batched-top", "80"])
    assert quick.quick and quick.step_s == 4 and quick.batched.rates == [20, 40, 80]
    assert quick.pgbench.duration_s == presets.QUICK.pgbench.duration_s
    full = parse(["--factor", "1.5", "--pgbench-s", "7"])
    assert full.batch1.factor == full.batched.factor == 1.5 and full.pgbench.duration_s == 7
    assert full.estimate_s()[1] <= 12 * 60
    for bad in (["--step-s", "-1"], ["--factor", "1"], ["--retries", "9"], ["--nope"]):
        with pytest.raises(SystemExit) as exit_:
            parse(bad)
        assert exit_.value.code == 2, bad


def test_the_bench_env_never_points_at_another_stack() -> None:
    environ = {
        "KAFKA_PORT": "9092",
        "PG_PORT": "5432",
        "ORDER_URL": "http://127.0.0.1:8001",
        "PG_DIR": "/elsewhere",
        "PAYMENT_CONSUMER_BATCH_MAX": "1",
        "BENCH_PG_PORT": "45432",
    }
    point_at_bench_stack(environ)
    assert environ["KAFKA_PORT"] == "30092" and environ["PG_PORT"] == "45432"
    assert environ["STACK_DIR"] == "/tmp/benchstack"
    assert not {"ORDER_URL", "PG_DIR", "PAYMENT_CONSUMER_BATCH_MAX"} & set(environ)
    assert Settings.from_env(environ).pg_shared_preload_libraries == "pg_stat_statements"
    assert Settings.from_env({}).pg_shared_preload_libraries == ""
    assert set(BATCH1.env.values()) == {"1"} and len(BATCH1.env) == 3
    assert chaos_environ({"CHAOS_PG_PORT": "1"})["PG_PORT"] == "1"  # chaos keeps its prefix


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
