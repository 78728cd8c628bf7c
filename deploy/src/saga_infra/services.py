"""The three services as local background processes: migrate, start, wait ready, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from saga_infra import processes
from saga_infra.settings import Settings


class ServiceError(RuntimeError):
    """A service could not be migrated, started or stopped; the message says why."""


REPLICA_PORT_STEP = 10
"""Replica n of a service listens on its port + 10 * (n - 1): order 8001, 8011, 8021, ..."""

MAX_REPLICAS = 6
"""The saga's topics have 6 partitions by default: more members of a group would idle."""


@dataclass(frozen=True)
class Service:
    """One service of the saga as `make dev` runs it: replica 1 of it, or another replica."""

    name: str
    default_port: int
    replica: int = 1

    @property
    def module(self) -> str:
        return f"{self.name}_service"

    @property
    def prefix(self) -> str:
        return self.name.upper()

    @property
    def instance(self) -> str:
        """`order` for replica 1, `order-2` for the second, ...: names its PID and log files."""
        return self.name if self.replica == 1 else f"{self.name}-{self.replica}"

    @property
    def port(self) -> int:
        base = int(os.environ.get(f"{self.prefix}_HTTP_PORT", self.default_port))
        return base + REPLICA_PORT_STEP * (self.replica - 1)

    @property
    def url(self) -> str:
        own = f"http://127.0.0.1:{self.port}"
        return os.environ.get(f"{self.prefix}_URL", own) if self.replica == 1 else own

    @property
    def python_variable(self) -> str:
        return f"{self.prefix}_PYTHON"

    def python(self, environ: Mapping[str, str] | None = None) -> str:
        """The interpreter that runs this service: `<SERVICE>_PYTHON` when set (e.g. a
        virtualenv of the service on other contracts, as `make compat` builds), else this
        process's own. ServiceError when the variable names no executable file."""
        env = os.environ if environ is None else environ
        chosen = env.get(self.python_variable, "").strip()
        if not chosen:
            return sys.executable
        if not (os.path.isfile(chosen) and os.access(chosen, os.X_OK)):
            raise ServiceError(
                f"{self.python_variable}={chosen!r} is not an executable Python interpreter"
            )
        return chosen

    def replicas(self, count: int) -> list[Service]:
        """Replicas 1..count of this service."""
        return [Service(self.name, self.default_port, n) for n in range(1, count + 1)]

    def env(self, settings: Settings) -> dict[str, str]:
        """Process environment pointing the service at this stack's Kafka and Postgres."""
        role = f"{self.name}_service"
        # Traces go to this stack's Jaeger unless the environment names a collector itself.
        tracing = (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": settings.otlp_endpoint}
            if settings.jaeger and "OTEL_EXPORTER_OTLP_ENDPOINT" not in os.environ
            else {}
        )
        return {
            **os.environ,
            **tracing,
            f"{self.prefix}_DB_HOST": settings.pg_host,
            f"{self.prefix}_DB_PORT": str(settings.pg_port),
            f"{self.prefix}_DB_NAME": settings.pg_database,
            f"{self.prefix}_DB_PASSWORD": settings.role_password(role),
            f"{self.prefix}_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap,
            f"{self.prefix}_HTTP_PORT": str(self.port),
            # Where its peers answer (the order service's operator pages read them) and
            # where this stack's Jaeger UI is (they link to it).
            **{
                f"{self.prefix}_{peer.prefix}_URL": peer.url
                for peer in SERVICES
                if peer.name != self.name
            },
            f"{self.prefix}_JAEGER_UI_URL": settings.jaeger_url,
        }

    def pid_file(self, settings: Settings) -> Path:
        return settings.run_dir / f"{self.instance}-service.pid"

    def log_file(self, settings: Settings) -> Path:
        return settings.log_dir / f"{self.instance}-service.log"


# The service processes this process started, so the exit status of one that died is known.
_started: dict[int, subprocess.Popen[bytes]] = {}

SERVICES = (Service("order", 8001), Service("payment", 8002), Service("inventory", 8003))


def replica_count(service: Service, environ: Mapping[str, str] | None = None) -> int:
    """`<SERVICE>_REPLICAS`, else `SERVICE_REPLICAS`, else 1 (ServiceError when not 1..6)."""
    env = os.environ if environ is None else environ
    variable = f"{service.prefix}_REPLICAS"
    if not env.get(variable, "").strip():
        variable = "SERVICE_REPLICAS"
    raw = env.get(variable, "").strip() or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_REPLICAS:
        raise ServiceError(f"{variable}={raw!r}: give a whole number from 1 to {MAX_REPLICAS}")
    return int(raw)


def instances(environ: Mapping[str, str] | None = None) -> list[Service]:
    """Every replica of every service the environment asks for, replica 1 of each first."""
    counts = {service.name: replica_count(service, environ) for service in SERVICES}
    return sorted(
        (replica for service in SERVICES for replica in service.replicas(counts[service.name])),
        key=lambda s: (s.replica, SERVICES.index(Service(s.name, s.default_port))),
    )


def started_instances(settings: Settings, service: Service) -> list[Service]:
    """The replicas of `service` that have a PID file in this stack (alive or not)."""
    found = []
    for pid_file in settings.run_dir.glob(f"{service.name}*-service.pid"):
        stem = pid_file.name.removesuffix("-service.pid")
        number = stem.removeprefix(service.name).removeprefix("-") or "1"
        if number.isdigit():
            found.append(Service(service.name, service.default_port, int(number)))
    return sorted(found, key=lambda s: s.replica)


def migrate(settings: Settings, service: Service) -> None:
    """Apply the service's Alembic migrations to its own schema (with `Service.python()`)."""
    done = subprocess.run(
        [service.python(), "-m", service.module, "migrate"],
        env=service.env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ServiceError(f"{service.name}: migrate failed: {last[0]}")


def running_pid(settings: Settings, service: Service) -> int | None:
    """PID of the service process this stack started, if it is still alive."""
    try:
        pid = int(service.pid_file(settings).read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError):
        return None
    return pid if f"{service.module} serve" in cmdline else None


def running_python(settings: Settings, service: Service) -> str | None:
    """The interpreter the running service process was started with (its argv[0]), if any."""
    pid = running_pid(settings, service)
    if pid is None:
        return None
    argv = processes.cmdline_argv(pid)
    return argv[0] if argv else None


def start(settings: Settings, service: Service, options: Sequence[str] = ()) -> int:
    """Start `python -m <service> serve [options]` in the background; returns its PID.

    `options` are `serve`'s own, e.g. `--no-consumer` (a test stopping one consumer). The
    interpreter is `Service.python()`: `<SERVICE>_PYTHON`, else this process's.
    """
    pid = running_pid(settings, service)
    if pid is not None:
        return pid
    python = service.python()
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", service.port)) == 0:
            raise ServiceError(
                f"port {service.port} is already in use ({service.prefix}_HTTP_PORT); "
                "stop the other process or choose another port"
            )
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    with service.log_file(settings).open("ab") as log:
        process = subprocess.Popen(
            [python, "-m", service.module, "serve", *options],
            env=service.env(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    service.pid_file(settings).write_text(f"{process.pid}\n")
    _started[process.pid] = process
    return process.pid


def is_ready(service: Service) -> bool:
    """True when the service answers 200 on /health/ready."""
    try:
        with urllib.request.urlopen(f"{service.url}/health/ready", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_ready(settings: Settings, service: Service, timeout_s: float) -> None:
    """Wait for readiness; fail with the log path if the process dies or the deadline passes."""
    until = time.monotonic() + timeout_s
    while time.monotonic() < until:
        if is_ready(service):
            return
        if has_exited(settings, service):
            raise ServiceError(
                f"{service.name} exited{_exit_status(settings, service)}; "
                f"see {service.log_file(settings)}"
            )
        time.sleep(0.3)
    raise ServiceError(
        f"{service.name} not ready within {timeout_s:.0f}s; see {service.log_file(settings)}"
    )


def has_exited(settings: Settings, service: Service) -> bool:
    """Whether the service's process is gone: for one this process started, its own exit
    status says so (a process still importing is alive, whatever /proc shows of it)."""
    try:
        process = _started.get(int(service.pid_file(settings).read_text().strip()))
    except (OSError, ValueError):
        process = None
    if process is not None:
        return process.poll() is not None
    return running_pid(settings, service) is None


def _exit_status(settings: Settings, service: Service) -> str:
    """` (exit code N)` or ` (killed by signal N)` when this process started it and it ended."""
    try:
        process = _started.get(int(service.pid_file(settings).read_text().strip()))
    except (OSError, ValueError):
        return ""
    code = process.poll() if process is not None else None
    if code is None:
        return ""
    return f" (killed by signal {-code})" if code < 0 else f" (exit code {code})"


def stop(settings: Settings, service: Service, grace_s: float = 20.0) -> bool:
    """SIGTERM the service we started (SIGKILL after the grace period); False if none ran."""
    pid = running_pid(settings, service)
    service.pid_file(settings).unlink(missing_ok=True)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    until = time.monotonic() + grace_s
    while time.monotonic() < until:
        if not Path(f"/proc/{pid}").exists() or _is_zombie(pid):
            return True
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return True


def kill(settings: Settings, service: Service) -> int | None:
    """SIGKILL the service we started (a crash, no graceful drain); the PID it killed, if any."""
    pid = running_pid(settings, service)
    if pid is not None:
        processes.kill(pid, f"{service.module} serve")
    return pid


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True
