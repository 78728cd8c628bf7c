"""What the bench's Postgres can do by itself: pgbench TPC-B-like in a scratch database.

The pgbench of the stack's own PostgreSQL install (PG_BIN_DIR), against the bench's server,
in `bench_pgbench` (created, `pgbench -i`, dropped afterwards, also on failure).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

from saga_infra.settings import Settings

DATABASE = "bench_pgbench"
_TPS = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.MULTILINE)
Progress = Callable[[str], None]


@dataclass(frozen=True)
class PgbenchPlan:
    duration_s: int = 20
    clients: int = 8
    threads: int = 2
    scale: int = 8


def parse_tps(output: str) -> float:
    """The `tps = ... (without initial connection time)` figure of pgbench's report."""
    match = _TPS.search(output)
    if match is None:
        raise ValueError(f"no tps line in pgbench output: {output[-300:]!r}")
    return float(match.group(1))


def binary(settings: Settings) -> str:
    path = Path(settings.pg_bin_dir, "pgbench")
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(f"pgbench not found in {settings.pg_bin_dir} (PG_BIN_DIR)")
    return str(path)


def run(settings: Settings, plan: PgbenchPlan, progress: Progress) -> float:
    """Initialise the scratch database, run pgbench, drop it; transactions per second."""
    pgbench = binary(settings)
    env = {**os.environ, "PGPASSWORD": settings.pg_superuser_password}
    where = ["-h", settings.pg_host, "-p", str(settings.pg_port), "-U", settings.pg_superuser]
    _admin(settings, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    _admin(settings, f"CREATE DATABASE {DATABASE}")
    try:
        progress(f"pgbench: initialising {DATABASE} (scale {plan.scale})")
        _pgbench([pgbench, "-i", "-q", "-s", str(plan.scale), *where, DATABASE], env, 300)
        progress(
            f"pgbench: TPC-B-like, {plan.clients} clients, -j {plan.threads}, {plan.duration_s} s"
        )
        load = ["-c", str(plan.clients), "-j", str(plan.threads), "-T", str(plan.duration_s)]
        output = _pgbench([pgbench, *load, *where, DATABASE], env, plan.duration_s + 120)
        return parse_tps(output)
    finally:
        _admin(settings, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def _pgbench(argv: list[str], env: dict[str, str], timeout_s: float) -> str:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"pgbench failed ({done.returncode}): {last[0]}")
    return done.stdout


def _admin(settings: Settings, sql: str) -> None:
    with psycopg.connect(settings.dsn(database="postgres"), autocommit=True) as conn:
        conn.execute(sql.encode())  # built from constants only
