"""`python -m saga_e2e.bench`: throughput, latency and CPU per saga on the bench's own stack.

Prints a table (stdout), writes <out>/<run>.csv and .png, shows a progress bar (stderr) and
ends with one line `RESULT max_sagas_per_s=... batch1_sagas_per_s=... pg_tps=...
cpu_ms_per_saga=... p50_ms=... p99_ms=... replicas_sagas_per_s=... brokers_sagas_per_s=...`.
The stack is BENCH_<VAR> or the bench defaults (/tmp/benchstack, Kafka 30092, Postgres 30532,
services 30001-30003), never `make dev`'s; the brokers mode runs afterwards on a second stack,
BENCH_3B_<VAR> or /tmp/benchstack-3b (Kafka 32092-32097, Postgres 32532, services 32001-32003).

Scale-out takes `make dev`'s switches from the environment: SERVICE_REPLICAS (and
ORDER_REPLICAS, PAYMENT_REPLICAS, INVENTORY_REPLICAS over it) for the replicas mode, default 2,
and KAFKA_BROKERS for the brokers mode, default 3; 1 skips the mode. --replicas and --brokers
override them.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from saga_e2e.bench import config as presets
from saga_e2e.bench.plot import plot
from saga_e2e.bench.progress import Progress
from saga_e2e.bench.report import result_line, table, write_csv
from saga_e2e.bench.result import headline
from saga_e2e.bench.run import planned_steps, run
from saga_e2e.bench.system import point_at_bench_stack
from saga_infra import services
from saga_infra.services import MAX_REPLICAS, SERVICES

Parse = Callable[[str], Any]
Default = Callable[[presets.BenchConfig], object]


def _positive(kind: type[float] | type[int]) -> Parse:
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
        return value

    return parse


NUM, WHOLE = _positive(float), _positive(int)
# flag, type, help, the preset value it overrides (shown in --help for both presets)
OPTIONS: tuple[tuple[str, Parse, str, Default], ...] = (
    ("--batched-start", NUM, "first rate of the batched ramp, orders/s", lambda c: c.batched.start),
    ("--batched-top", NUM, "highest rate the batched ramp may reach", lambda c: c.batched.top),
    ("--batch1-start", NUM, "first rate of the batch-1 ramp, orders/s", lambda c: c.batch1.start),
    ("--batch1-top", NUM, "highest rate the batch-1 ramp may reach", lambda c: c.batch1.top),
    ("--traced-start", NUM, "first rate of the tracing-on ramp", lambda c: c.traced.start),
    ("--traced-top", NUM, "highest rate the tracing-on ramp may reach", lambda c: c.traced.top),
    ("--replicas-start", NUM, "first rate of the replicas ramp", lambda c: c.replicas.start),
    ("--replicas-top", NUM, "highest rate the replicas ramp may reach", lambda c: c.replicas.top),
    ("--brokers-start", NUM, "first rate of the 3-broker ramp", lambda c: c.brokers.start),
    ("--brokers-top", NUM, "highest rate the 3-broker ramp may reach", lambda c: c.brokers.top),
    ("--factor", NUM, "ratio between ramp steps (> 1)", lambda c: c.batched.factor),
    ("--step-s", NUM, "seconds of load per ramp step", lambda c: c.step_s),
    ("--latency-s", NUM, "seconds of each latency point (50%%, 80%%)", lambda c: c.latency_s),
    ("--warmup-s", NUM, "s of unmeasured load after each (re)start", lambda c: c.warmup_s),
    ("--grace-s", NUM, "s after a step by which its orders must be CONFIRMED", lambda c: c.grace_s),
    ("--backlog-s", NUM, "backlog bound at a step's end, s of rate", lambda c: c.rule.backlog_s),
    ("--drain-cap-s", NUM, "longest wait for a step's orders to drain, s", lambda c: c.drain_cap_s),
    ("--pgbench-s", WHOLE, "seconds of pgbench (8 clients, -j 2)", lambda c: c.pgbench.duration_s),
    ("--pgbench-scale", WHOLE, "pgbench scale factor (-i -s)", lambda c: c.pgbench.scale),
)  # fmt: skip


def parser() -> argparse.ArgumentParser:
    full, quick = presets.BenchConfig(), presets.QUICK
    p = argparse.ArgumentParser(
        prog="python -m saga_e2e.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="the ~1 min variant `make test` runs")
    p.add_argument(
        "--out", type=Path, default=full.out_dir, help="directory of the CSV and PNG (%(default)s)"
    )
    for flag, kind, what, preset in OPTIONS:
        shown = f"default {preset(full):g}; --quick {preset(quick):g}"
        metavar = "S" if flag.endswith("-s") else "N" if kind is WHOLE else "X"
        p.add_argument(flag, type=kind, default=None, metavar=metavar, help=f"{what} ({shown})")
    p.add_argument(
        "--retries",
        type=int,
        choices=range(4),
        default=None,
        metavar="N",
        help=f"reruns (0-3) of a rate that was not sustained before its ramp stops "
        f"(default {full.retries}; --quick {quick.retries})",
    )
    p.add_argument(
        "--replicas",
        type=int,
        choices=range(1, MAX_REPLICAS + 1),
        default=None,
        metavar="N",
        help="replicas of every service in the replicas mode, 1 to skip it (default "
        "SERVICE_REPLICAS, else 2; ORDER_REPLICAS, PAYMENT_REPLICAS, INVENTORY_REPLICAS "
        "override it per service)",
    )
    p.add_argument(
        "--brokers",
        type=int,
        choices=presets.BROKER_COUNTS,
        default=None,
        metavar="N",
        help="Kafka nodes of the brokers mode's stack: 3, or 1 to skip it "
        "(default KAFKA_BROKERS, else 3)",
    )
    p.add_argument(
        "--keep-going",
        action="store_true",
        default=None,
        help="run every ramp step even after one was not sustained (--quick does)",
    )
    return p


def scale_out(
    replicas: int | None, brokers: int | None, environ: Mapping[str, str]
) -> tuple[dict[str, int], int]:
    """Replicas of each service and Kafka nodes for the scale-out modes: the options, else
    `make dev`'s variables, else 2 and 3 (ValueError naming a bad variable)."""
    env = {**environ}
    if replicas is not None:
        env["SERVICE_REPLICAS"] = str(replicas)
    elif not env.get("SERVICE_REPLICAS", "").strip():
        env["SERVICE_REPLICAS"] = "2"
    try:
        counts = {s.name: services.replica_count(s, env) for s in SERVICES}
    except services.ServiceError as error:
        raise ValueError(str(error)) from None
    if brokers is None:
        raw = environ.get("KAFKA_BROKERS", "").strip() or "3"
        if raw not in {str(n) for n in presets.BROKER_COUNTS}:
            raise ValueError(f"KAFKA_BROKERS={raw!r}: give 1 (no brokers mode) or 3")
        brokers = int(raw)
    return counts, brokers


def parse(argv: list[str], environ: Mapping[str, str] | None = None) -> presets.BenchConfig:
    """The run's config from the arguments and, for scale-out, `environ` (os.environ)."""
    p = parser()
    args = vars(p.parse_args(argv))
    quick = args.pop("quick")
    try:
        counts, brokers = scale_out(
            args.pop("replicas"), args.pop("brokers"), os.environ if environ is None else environ
        )
        overrides = {
            "out_dir": args.pop("out"),
            "pgbench_duration_s": args.pop("pgbench_s"),
            "replica_counts": counts,
            "broker_count": brokers,
            **args,
        }
        return presets.build(quick, **overrides).checked()
    except ValueError as error:
        p.error(str(error))  # exits 2 with the reason


def _terminate(signum: int, _frame: FrameType | None) -> None:
    # SIGTERM unwinds like Ctrl-C, so the stack this run started is stopped.
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str]) -> int:
    config = parse(argv)
    point_at_bench_stack(os.environ)
    signal.signal(signal.SIGTERM, _terminate)
    likely, worst = config.estimate_s()
    progress = Progress(planned_steps(config))
    progress.log(
        f"bench{' --quick' if config.quick else ''}: about {likely / 60:.1f} min "
        f"(at most {worst / 60:.1f} min if every ramp step runs) on the stack in "
        f"{os.environ['STACK_DIR']}; modes {', '.join(config.modes)}"
    )
    try:
        result = run(config, progress)
    except KeyboardInterrupt as stop:  # the stack it started is already stopped
        progress.log(f"bench: interrupted ({stop or 'Ctrl-C'}); no report")
        return 130
    finally:
        progress.close()
    csv_file, png_file = (config.out_dir / f"{result.run_id}.{ext}" for ext in ("csv", "png"))
    write_csv(result, csv_file)
    plot(result, png_file)
    print(table(result))
    print(f"files: {csv_file} {png_file} ({result.total_s / 60:.1f} min)")
    print(result_line(headline(result)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
