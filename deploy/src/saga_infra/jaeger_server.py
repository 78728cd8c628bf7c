"""The local Jaeger: built once from its Go module, run with in-memory storage on 127.0.0.1.

`deploy/local/jaeger/go.mod` pins the version (a `tool` line and its go.sum). The first start
runs `go build` into the cache (`JAEGER_BIN`, shared by every stack of the checkout); later
starts reuse the binary. Jaeger's own all-in-one listens on every interface, so it runs with a
config of ours: OTLP in (gRPC and HTTP), the query API and UI, a health check, all on
`JAEGER_HOST` and the `JAEGER_*_PORT`s, and no other listener.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from saga_infra import processes
from saga_infra.errors import MissingToolError, StackError
from saga_infra.golang import find_go
from saga_infra.settings import JAEGER_VERSION, Settings

PACKAGE = "github.com/jaegertracing/jaeger/cmd/jaeger"
BUILD_TIMEOUT_S = 1200

_CONFIG = """\
service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    resource:
      service.name: jaeger
    metrics:
      level: none
    traces:
      level: none  # no traces of its own (they would go to an OTLP endpoint on 4317)
    logs:
      level: warn

extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: "{host}:{ui_port}"
    grpc:
      endpoint: "{host}:{query_grpc_port}"
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
  healthcheckv2:
    use_v2: true
    http:
      endpoint: "{host}:{health_port}"

receivers:
  otlp:
    protocols:
      grpc:
        endpoint: "{host}:{otlp_grpc_port}"
      http:
        endpoint: "{host}:{otlp_http_port}"

processors:
  batch:

exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"""


def pid_file(settings: Settings) -> Path:
    return settings.run_dir / "jaeger.pid"


def log_file(settings: Settings) -> Path:
    return settings.log_dir / "jaeger.log"


def config_file(settings: Settings) -> Path:
    return settings.jaeger_dir / "jaeger.yaml"


def running_pid(settings: Settings) -> int | None:
    """PID of this stack's Jaeger, if it runs (its command line names our config file)."""
    return processes.owned_pid(pid_file(settings), str(config_file(settings)))


def ports(settings: Settings) -> list[tuple[str, int]]:
    """Every port it listens on, by the variable that sets it."""
    return [
        ("JAEGER_UI_PORT", settings.jaeger_ui_port),
        ("JAEGER_UI_PORT + 1 (query gRPC)", settings.jaeger_ui_port + 1),
        ("JAEGER_OTLP_GRPC_PORT", settings.jaeger_otlp_grpc_port),
        ("JAEGER_OTLP_HTTP_PORT", settings.jaeger_otlp_http_port),
        ("JAEGER_HEALTH_PORT", settings.jaeger_health_port),
    ]


def ensure_binary(settings: Settings, progress: Callable[[str], None]) -> None:
    """Build Jaeger from its Go module into the cache on first use (about 3-5 minutes)."""
    binary = settings.jaeger_bin
    if binary.is_file():
        return
    go = find_go()
    if go is None:
        raise MissingToolError(
            "go not found; install Go 1.24+ (needed once to build Jaeger), "
            "set JAEGER_BIN to a built jaeger binary, or run with JAEGER=0"
        )
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_name(f"{binary.name}.partial")
    log = settings.log_dir / "jaeger-build.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    progress(f"jaeger: building {PACKAGE}@{JAEGER_VERSION} with go into {binary} (first run)")
    began = time.monotonic()
    argv = [go, "build", "-trimpath", "-o", str(partial), PACKAGE]
    with log.open("w") as out:
        build = subprocess.Popen(argv, cwd=settings.jaeger_module, stdout=out, stderr=out)
        next_note = began + 30
        while build.poll() is None:
            if time.monotonic() - began > BUILD_TIMEOUT_S:
                build.kill()
                build.wait()
                partial.unlink(missing_ok=True)
                raise StackError(f"go build of Jaeger exceeded {BUILD_TIMEOUT_S} s; see {log}")
            time.sleep(0.5)
            if time.monotonic() >= next_note:
                progress(f"jaeger: still building ({time.monotonic() - began:.0f} s)")
                next_note += 30
    if build.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        raise StackError(f"go build of Jaeger failed; see {log}")
    partial.rename(binary)
    progress(f"jaeger: built in {time.monotonic() - began:.0f} s")


def write_config(settings: Settings) -> Path:
    path = config_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        _CONFIG.format(
            host=settings.jaeger_host,
            ui_port=settings.jaeger_ui_port,
            query_grpc_port=settings.jaeger_ui_port + 1,
            health_port=settings.jaeger_health_port,
            otlp_grpc_port=settings.jaeger_otlp_grpc_port,
            otlp_http_port=settings.jaeger_otlp_http_port,
        )
    )
    return path


def start(settings: Settings) -> int:
    """Spawn Jaeger detached and record its PID; readiness is `wait_ready`'s job."""
    config = write_config(settings)
    argv = [str(settings.jaeger_bin), "--config", str(config)]
    pid = processes.spawn_detached(argv, log_file(settings), cwd=settings.jaeger_dir)
    processes.write_pid(pid_file(settings), pid)
    return pid


def answers(settings: Settings) -> bool:
    """True once the query API answers (it serves the UI and `/api/services`)."""
    try:
        return httpx.get(f"{settings.jaeger_url}/api/services", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def wait_ready(settings: Settings, pid: int, timeout: float) -> None:
    def ready() -> bool:
        if not processes.is_alive(pid):
            raise StackError(f"Jaeger exited during startup; see {log_file(settings)}")
        return answers(settings) and processes.port_open(
            settings.jaeger_host, settings.jaeger_otlp_http_port
        )

    if not processes.wait_until(ready, timeout, interval=0.3):
        raise StackError(f"Jaeger not ready within {timeout:.0f} s; see {log_file(settings)}")


def stop(settings: Settings) -> int | None:
    """Stop this stack's Jaeger by its recorded PID; the PID it stopped, if any."""
    pid = running_pid(settings)
    if pid is not None:
        processes.terminate(pid, str(config_file(settings)), timeout=15.0)
    pid_file(settings).unlink(missing_ok=True)
    return pid
