"""Run deploy/sql/init.sh, the one DB init path shared with docker-compose, via bash + psql."""

from __future__ import annotations

import os
import shutil
import subprocess

from saga_infra.errors import MissingToolError, StackError
from saga_infra.settings import Settings


def init_environment(settings: Settings) -> dict[str, str]:
    """libpq and init.sh variables for the configured server and superuser."""
    env = {
        **os.environ,
        "PGHOST": settings.pg_host,
        "PGPORT": str(settings.pg_port),
        "PGUSER": settings.pg_superuser,
        "PGPASSWORD": settings.pg_superuser_password,
        "PG_DATABASE": settings.pg_database,
        "ORDER_DB_PASSWORD": settings.role_password("order_service"),
        "PAYMENT_DB_PASSWORD": settings.role_password("payment_service"),
        "INVENTORY_DB_PASSWORD": settings.role_password("inventory_service"),
        "PG_WAIT_SECONDS": "10",
        # Prefer the server's own psql; the client on PATH works as well.
        "PATH": os.pathsep.join([settings.pg_bin_dir, os.environ.get("PATH", "")]),
    }
    for var in ("PGDATABASE", "PGSERVICE", "PGSSLMODE", "PGOPTIONS"):
        env.pop(var, None)
    return env


def run(settings: Settings) -> str:
    """Create the database, schemas and service roles (idempotent); init.sh's last line."""
    bash = shutil.which("bash")
    if bash is None:
        raise MissingToolError("bash not found; it runs deploy/sql/init.sh")
    env = init_environment(settings)
    if shutil.which("psql", path=env["PATH"]) is None:
        raise MissingToolError("psql not found; install postgresql-client or set PG_BIN_DIR")
    try:
        done = subprocess.run(
            [bash, str(settings.init_script)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"{settings.init_script} did not finish within 120 s") from exc
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        raise StackError(f"db init failed: {lines[-1]}")
    return (done.stdout.strip().splitlines() or ["db-init: done"])[-1]
