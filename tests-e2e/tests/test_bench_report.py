"""The quick bench on its own stack: the shape of its report (never its figures)."""

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from saga_e2e.bench.config import LATENCY_POINTS, MODES, QUICK
from saga_e2e.bench.report import CSV_COLUMNS

pytestmark = pytest.mark.bench
Completed = subprocess.CompletedProcess[str]

# Its own ports and directory: neither `make dev`'s, chaos's, storm's nor `make bench`'s (so a
# bench may run meanwhile). BENCH_SMOKE_<VAR> overrides each. Replicas n > 1 of each service
# listen on its port + 10(n-1): 31111-31113 for the second.
SMOKE_STACK = {
    "STACK_DIR": "/tmp/benchstack-smoke",
    "KAFKA_PORT": "31092",
    "KAFKA_CONTROLLER_PORT": "31093",
    "PG_PORT": "31532",
    "ORDER_HTTP_PORT": "31101",
    "PAYMENT_HTTP_PORT": "31102",
    "INVENTORY_HTTP_PORT": "31103",
    "JAEGER_UI_PORT": "31686",
    "JAEGER_OTLP_GRPC_PORT": "31417",
    "JAEGER_OTLP_HTTP_PORT": "31418",
    "JAEGER_HEALTH_PORT": "31233",
    "PROMETHEUS": "0",  # a bench measures the saga; nothing scrapes it
}
# The brokers mode's second stack (3 Kafka nodes on 20092-20097), after the first: BENCH_3B_<VAR>
# of the bench, BENCH_SMOKE_3B_<VAR> here.
SMOKE_3B_STACK = {
    "STACK_DIR": "/tmp/benchstack-smoke-3b",
    "KAFKA_PORT": "20092",
    "KAFKA_CONTROLLER_PORT": "20093",
    "PG_PORT": "20532",
    "ORDER_HTTP_PORT": "20101",
    "PAYMENT_HTTP_PORT": "20102",
    "INVENTORY_HTTP_PORT": "20103",
    "JAEGER": "0",
    "PROMETHEUS": "0",
}
FLOAT = r"[0-9]+\.[0-9]+"
RESULT = re.compile(
    rf"^RESULT max_sagas_per_s={FLOAT} batch1_sagas_per_s={FLOAT} pg_tps={FLOAT} "
    rf"cpu_ms_per_saga={FLOAT} p50_ms={FLOAT} p99_ms={FLOAT} "
    rf"replicas_sagas_per_s={FLOAT} brokers_sagas_per_s={FLOAT}$"
)
SCALE_HEADER = re.compile(r"^\s*mode\s+replicas\s+brokers\s+max/s\s+p50ms\s+p95ms\s+=cpu\s+\|")
TABLE_HEADER = re.compile(r"^\s*mode\s+phase\s+rate/s\s+ok%\s+done/s\s+backlog\s+lag\s+p50ms")


@pytest.fixture(scope="session")
def system_is_up() -> None:
    """Overrides the e2e check of the main system: the bench brings up its own stack."""


@pytest.mark.timeout(900)
def test_quick_bench_prints_a_table_a_csv_a_png_and_the_result_line_last(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
    env |= {
        f"BENCH_{var}": os.environ.get(f"BENCH_SMOKE_{var}", v) for var, v in SMOKE_STACK.items()
    }
    env |= {
        f"BENCH_3B_{var}": os.environ.get(f"BENCH_SMOKE_3B_{var}", v)
        for var, v in SMOKE_3B_STACK.items()
    }
    # The replicas mode, whatever `make dev` switches the environment holds. Not the brokers
    # mode: its second stack (3 Kafka nodes, Postgres, migrations) adds 2-3 min to CI; its
    # orchestration is unit-tested, the cluster by deploy/tests/test_kafka_cluster.py, and
    # `make bench` runs it.
    command = [sys.executable, "-m", "saga_e2e.bench", "--quick", "--out", str(tmp_path)]
    command += ["--replicas", "2", "--brokers", "1"]

    done = run_bench(command, env, timeout_s=780)

    print(done.stdout)
    print(done.stderr[-4000:], file=sys.stderr)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.rstrip("\n").splitlines()
    assert RESULT.match(lines[-1]), lines[-1]
    assert sum(1 for line in lines if line.startswith("RESULT")) == 1
    header = next(n for n, line in enumerate(lines) if TABLE_HEADER.match(line))
    rows = [line.split() for line in lines[header + 1 :] if line.strip()]
    expected = _expected_steps()
    table_steps = [(row[0], row[1]) for row in rows[: len(expected)]]
    assert sorted(table_steps) == sorted((mode, phase) for mode, phase, _ in expected)

    csv_files, png_files = list(tmp_path.glob("*.csv")), list(tmp_path.glob("*.png"))
    assert len(csv_files) == len(png_files) == 1
    with csv_files[0].open(newline="") as out:
        reader = csv.DictReader(out)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        rows_by_step = list(reader)
    found = [(r["mode"], r["phase"], int(r["step"])) for r in rows_by_step]
    assert set(found) == set(expected) and len(found) >= len(expected)
    # The traced mode really exported: the bench's Jaeger holds traces of all three services.
    (tracing,) = [line for line in lines if line.startswith("tracing: CPU per saga")]
    for service in ("order-service", "payment-service", "inventory-service"):
        assert service in tracing, tracing
    # The scale-out section: batched and 2 replicas, the replicas against batched.
    (title,) = [n for n, line in enumerate(lines) if line.startswith("scale-out (")]
    assert SCALE_HEADER.match(lines[title + 1]), lines[title + 1]
    scale_rows = [line.split() for line in lines[title + 2 : title + 4]]
    assert [row[:3] for row in scale_rows] == [["batched", "1", "1"], ["replicas", "2", "1"]]
    assert scale_rows[0][-2:] == ["|", "-"]
    for row in scale_rows[1:]:
        assert re.search(r"\| [+-]\d+% sagas/s|\| sagas/s -", " ".join(row)), row
    assert not [line for line in lines if line.startswith("note: brokers mode failed")]
    assert png_files[0].read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def run_bench(command: list[str], env: dict[str, str], timeout_s: float) -> Completed:
    """The bench's run; past `timeout_s` it gets SIGTERM, on which it stops the stacks it
    started before it exits (a SIGKILL would leave them running)."""
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            stdout, stderr = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        print(stderr[-4000:], file=sys.stderr)
        pytest.fail(f"the quick bench took over {timeout_s:.0f} s; stopped it")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _expected_steps() -> list[tuple[str, str, int]]:
    """Every step --quick runs here: every ramp to the end (it keeps going) but the brokers
    mode's (not run, --brokers 1), both latency points."""
    steps = [("batched", f"at{share * 100:.0f}", 0) for share in LATENCY_POINTS]
    for mode in MODES:
        if mode != "brokers":
            steps += [(mode, "ramp", n) for n in range(len(QUICK.ramp(mode).rates))]
    return steps
