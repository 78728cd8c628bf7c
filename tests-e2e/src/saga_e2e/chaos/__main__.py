"""`python -m saga_e2e.chaos`: a chaos run on its own local stack; exit 1 on any violation."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import FrameType

from saga_e2e.chaos.faults import KINDS
from saga_e2e.chaos.report import side_by_side, summary
from saga_e2e.chaos.run import RunConfig, run
from saga_e2e.chaos.system import point_at_chaos_stack


def parse(argv: list[str]) -> list[RunConfig]:
    parser = argparse.ArgumentParser(prog="python -m saga_e2e.chaos", description=__doc__)
    parser.add_argument("--orders", type=int, default=10_000, help="orders to place")
    parser.add_argument("--faults", type=int, default=30, help="crashes to inject")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads")
    parser.add_argument(
        "--drain-deadline", type=float, default=60.0, help="seconds for every order to be terminal"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed (default: time-based)")
    parser.add_argument("--api-sample", type=int, default=2_000, help="orders checked over HTTP")
    # Half the sustained maximum `make bench` measured on a 2-core machine (71/s), rounded up:
    # the saga needs headroom to catch up after each crash.
    parser.add_argument(
        "--rate",
        type=float,
        default=36.0,
        help="orders/s at most (0: unpaced)",
    )
    parser.add_argument(
        "--settle-cap",
        type=float,
        default=300.0,
        help="then seconds for refunds, releases and lag to finish",
    )
    parser.add_argument(
        "--report-dir", type=Path, default=Path(".local/chaos"), help="timeline CSV and PNG"
    )
    parser.add_argument(
        "--fault-kinds",
        type=_kinds,
        default=KINDS,
        metavar="K,K",
        help=f"what crashes, each once per round (default: {','.join(KINDS)})",
    )
    parser.add_argument(
        "--saga-deadline",
        type=float,
        default=None,
        metavar="S",
        help="ORDER_SAGA_DEADLINE_S of the services this run starts (default: theirs, 300 s);"
        " orders may then end CANCELLED(timed_out)",
    )
    parser.add_argument(
        "--long-outage",
        type=float,
        default=0.0,
        metavar="S",
        help="keep the first crash of --long-outage-of down S seconds (e.g. past the deadline)",
    )
    parser.add_argument(
        "--long-outage-of",
        choices=KINDS,
        default="inventory",
        help="what the long outage takes down (default: %(default)s)",
    )
    parser.add_argument(
        "--replicas",
        type=_positive,
        default=1,
        metavar="N",
        help="instances of every service (SERVICE_REPLICAS); a service fault kills one, in turn",
    )
    parser.add_argument(
        "--brokers",
        type=_counts,
        default=(1,),
        metavar="N[,M]",
        help="Kafka brokers (KAFKA_BROKERS); a Kafka fault kills one node, in turn. Several"
        " counts (1,3): one run each, the same seed, then their throughput side by side",
    )
    parser.add_argument(
        "--outage",
        type=float,
        default=None,
        metavar="S",
        help="keep every crashed component down S seconds (default: a drawn 0.5-3 s)",
    )
    parser.add_argument(
        "--member-outage",
        type=float,
        default=15.0,
        metavar="S",
        help="keep a replica or broker among others down S seconds (default: %(default)s, past"
        " the 10 s session timeout: its partitions must move to the survivor)",
    )
    args = parser.parse_args(argv)
    if args.long_outage and args.long_outage_of not in args.fault_kinds:
        parser.error(f"--long-outage needs {args.long_outage_of} in --fault-kinds")
    if args.long_outage and args.faults < len(args.fault_kinds):
        # A round of faults holds every kind once: then the long outage surely comes.
        parser.error(f"--long-outage needs --faults {len(args.fault_kinds)} at least")
    seed = args.seed if args.seed is not None else int(time.time())
    base = RunConfig(
        orders=args.orders,
        faults=args.faults,
        concurrency=args.concurrency,
        drain_deadline_s=args.drain_deadline,
        seed=seed,
        api_sample=args.api_sample,
        rate=args.rate,
        settle_cap_s=args.settle_cap,
        report_dir=args.report_dir,
        fault_kinds=args.fault_kinds,
        saga_deadline_s=args.saga_deadline,
        long_outage_s=args.long_outage,
        long_outage_kind=args.long_outage_of,
        replicas=args.replicas,
        member_outage_s=args.member_outage,
        outage_s=args.outage,
    )
    return [replace(base, brokers=count) for count in args.brokers]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"a count of 1 or more; got {text!r}")
    return value


def _counts(text: str) -> tuple[int, ...]:
    counts = tuple(dict.fromkeys(_positive(part.strip()) for part in text.split(",")))
    if any(count not in (1, 3) for count in counts):
        raise argparse.ArgumentTypeError(f"broker counts are 1 or 3; got {text!r}")
    return counts


def _kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(dict.fromkeys(kind.strip() for kind in text.split(",") if kind.strip()))
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"fault kinds are {', '.join(KINDS)}; got {text!r}")
    return kinds


def _terminate(signum: int, _frame: FrameType | None) -> None:
    # SIGTERM unwinds like Ctrl-C, so the stack this run started is stopped.
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str]) -> int:
    configs = parse(argv)
    point_at_chaos_stack(os.environ)
    signal.signal(signal.SIGTERM, _terminate)
    began = time.monotonic()
    results = []
    for config in configs:
        result = run(
            config, lambda line: print(f"[{time.monotonic() - began:7.1f}s] {line}", flush=True)
        )
        print(summary(result), flush=True)
        results.append(result)
    if len(results) > 1:
        print(side_by_side(results), flush=True)
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
