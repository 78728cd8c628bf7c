"""The chaos run's scale-out variants without a stack: which replica or broker each fault
takes down, how long, what counts as the saga stopping, the side-by-side report, and the
load's failover between order replicas (against real local HTTP servers)."""

from __future__ import annotations

import random
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from saga_e2e.chaos.__main__ import parse
from saga_e2e.chaos.drain import Backlog
from saga_e2e.chaos.faults import FaultInjector, FaultLog, Outage, Target, targets
from saga_e2e.chaos.load import Balanced, LoadRecord
from saga_e2e.chaos.plan import make_plan
from saga_e2e.chaos.report import side_by_side, steady_rate, summary
from saga_e2e.chaos.run import RunConfig, RunResult, outage_violations
from saga_infra.settings import Settings

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def system_is_up() -> None:
    """Overrides the e2e check of the main system: nothing here needs a stack."""


def test_service_faults_take_the_replicas_in_turn_and_kafka_faults_the_nodes() -> None:
    kinds = ["order", "kafka", "order", "kafka", "postgres", "kafka", "kafka", "order"]

    chosen = targets(kinds, replicas=2, brokers=3)

    assert [(t.kind, t.member) for t in chosen] == [
        ("order", 1),
        ("kafka", 1),
        ("order", 2),
        ("kafka", 2),
        ("postgres", 1),
        ("kafka", 3),
        ("kafka", 1),
        ("order", 1),
    ]
    assert [t.name for t in chosen[:4]] == ["order", "kafka node 1", "order-2", "kafka node 2"]
    assert [t.one_of_several for t in chosen[3:5]] == [True, False]
    single = targets(kinds, replicas=1, brokers=1)
    assert {t.member for t in single} == {1}
    assert not any(t.one_of_several for t in single)


def _injector(kinds: list[Target]) -> FaultInjector:
    return FaultInjector(
        Settings.from_env(), kinds, 100, lambda: 0, random.Random(1), lambda line: None
    )


def test_a_member_among_others_stays_down_past_the_session_timeout() -> None:
    replica, lone = Target("payment", 2, 2), Target("payment")
    injector = _injector([replica, lone])
    injector.member_outage_s = 15.0

    assert injector.down_for(replica, 1.2) == (15.0, "")
    assert injector.down_for(lone, 1.2) == (1.2, "")
    injector.outage_s = 4.0  # a fixed outage, for runs compared side by side
    assert injector.down_for(replica, 1.2) == (4.0, "")
    assert injector.down_for(Target("kafka"), 1.2) == (4.0, "")


def _result(
    config: RunConfig,
    outages: list[Outage],
    *,
    load_s: float = 100.0,
    terminal: int = 1000,
    rejected: int = 0,
) -> RunResult:
    plan = make_plan(10, random.Random(3))
    record = LoadRecord(rejected=[f"order {i}: no answer" for i in range(rejected)])
    log = FaultLog(outages=outages)
    for outage in outages:
        log.counts[outage.target.kind] += 1
    result = RunResult(config, plan, record, log, Backlog(0, 0, 0), load_s=load_s)
    result.terminal_after_load = terminal
    return result


def test_an_outage_of_one_replica_or_broker_that_completes_nothing_is_a_violation() -> None:
    config = RunConfig(replicas=2, brokers=3)
    outages = [
        Outage(Target("payment", 2, 2), 15.0, 0, handed_over=True),
        Outage(Target("inventory", 1, 2), 15.0, 40, handed_over=False),
        Outage(Target("kafka", 3, 3), 15.0, 0),
        Outage(Target("postgres"), 2.0, None),  # the only Postgres: the saga waits for it
        Outage(Target("order", 1, 2), 15.0, 35, handed_over=True),
    ]

    found = outage_violations(_result(config, outages))

    assert found == [
        "saga stopped: no saga completed while payment-2 was down 15.0 s",
        "no handover: inventory's partitions not moved after 15 s",
        "saga stopped: no saga completed while kafka node 3 was down 15.0 s",
    ]


def test_a_lone_broker_may_stop_the_saga_but_no_order_may_be_refused() -> None:
    config = RunConfig(fault_kinds=("kafka",), brokers=1)
    stopped = [Outage(Target("kafka"), 15.0, 0)]

    assert outage_violations(_result(config, stopped)) == []
    assert outage_violations(_result(config, stopped, rejected=2)) == [
        "refused: 2 orders not accepted"
    ]


def test_side_by_side_shows_the_dip_of_each_broker_count() -> None:
    kinds = ("kafka",)
    # Down 15 s each (then 5 s to restart): what completed while down, and until back.
    one = _result(
        RunConfig(fault_kinds=kinds, brokers=1),
        [
            Outage(Target("kafka"), 20.0, 0, down_s=15.0, completed_until_back=10),
            Outage(Target("kafka"), 20.0, 15, down_s=15.0, completed_until_back=30),
        ],
        load_s=100.0,
        terminal=1240,  # 1200 in the 60 s outside the outages: 20/s
    )
    three = _result(
        RunConfig(fault_kinds=kinds, brokers=3),
        [
            Outage(Target("kafka", 1, 3), 20.0, 270, down_s=15.0, completed_until_back=360),
            Outage(Target("kafka", 2, 3), 20.0, 270, down_s=15.0, completed_until_back=360),
        ],
        load_s=100.0,
        terminal=1920,  # 1200 outside: 20/s; 540 in the 30 s down: 18/s
    )

    assert steady_rate(one) == pytest.approx(20.0)
    table = side_by_side([one, three])

    lines = {re.split(r"\s{2,}", line.strip())[0]: line.split() for line in table.splitlines()}
    assert lines["side by side"][-4:] == ["1", "broker", "3", "brokers"]
    assert lines["sagas/s, nothing down"][-2:] == ["20.0", "20.0"]
    assert lines["sagas/s, kafka down"][-2:] == ["0.5", "18.0"]
    assert lines["dip while kafka down"][-2:] == ["-98%", "-10%"]
    assert lines["POST /orders refused"][-2:] == ["0", "0"]
    assert "kafka 18.0/s (2 outages, 30 s), otherwise 20.0/s" in summary(three)
    assert "1 replica per service, 3 Kafka brokers" in summary(three)


def test_the_cli_runs_one_config_per_broker_count_with_one_seed() -> None:
    configs = parse(["--brokers", "1,3", "--fault-kinds", "kafka", "--seed", "5", "--outage", "9"])

    assert [(c.brokers, c.seed, c.outage_s) for c in configs] == [(1, 5, 9.0), (3, 5, 9.0)]
    assert configs[1].stack_environ("/tmp/chaosstack") == {
        "SERVICE_REPLICAS": "1",
        "KAFKA_BROKERS": "3",
        "STACK_DIR": "/tmp/chaosstack-3brokers",
    }
    assert parse(["--replicas", "2"])[0].stack_environ("/s")["SERVICE_REPLICAS"] == "2"
    for bad in (["--brokers", "2"], ["--replicas", "0"]):
        with pytest.raises(SystemExit) as exited:
            parse(bad)
        assert exited.value.code == 2


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        body = f"{self.server.server_address[1]}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def live_and_dead() -> Iterator[tuple[str, str]]:
    """A replica that answers, and the address of one that is down (nothing listens)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", f"http://127.0.0.1:{dead_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_the_load_goes_to_the_next_order_replica_when_its_own_is_down(
    live_and_dead: tuple[str, str],
) -> None:
    live, dead = live_and_dead
    live_port = live.rsplit(":", 1)[1]

    with Balanced([live, dead], first=1) as order:
        assert order.get("/health/live").text == live_port
    with Balanced([dead], first=0) as order, pytest.raises(Exception, match="onnect"):
        order.get("/health/live")
