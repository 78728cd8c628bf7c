"""`make up` and `make compose-e2e`: docker-compose.yml on a real engine, with the images found.

`prepare` finds or starts the engine and the compose CLI, resolves every image (official or
stand-in, printed), and stages the images' build contexts (`stage`: each service's contracts
wheels and uv's cache from its own lock, for offline image builds). `e2e` then runs
`docker compose up --build --wait` under a project name and host ports of its own (23xxx, so it
never meets `make dev`'s 8001-8003/9092/5432 or other stacks), the e2e suite of `make e2e`
against the published ports on 127.0.0.1, a container crash (`test_compose_restart.py`), and
`docker compose down -v`, whatever happened; it stops the engine only if it started it.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from saga_infra.compose import engine as engines
from saga_infra.compose import images, stage
from saga_infra.compose.engine import Engine
from saga_infra.settings import Settings

Progress = Callable[[str], None]

COMPOSE_FILE = "docker-compose.yml"
WAIT_TIMEOUT_S = 420
# The e2e stack's host ports (COMPOSE_E2E_<VARIABLE> overrides each): a range of its own.
E2E_PORTS = {
    "KAFKA_PORT": 23092,
    "PG_PORT": 23432,
    "ORDER_HTTP_PORT": 23001,
    "PAYMENT_HTTP_PORT": 23002,
    "INVENTORY_HTTP_PORT": 23003,
    "JAEGER_OTLP_GRPC_PORT": 23317,
    "JAEGER_OTLP_HTTP_PORT": 23318,
    "JAEGER_UI_PORT": 23686,
    "PROMETHEUS_PORT": 23090,
    "GRAFANA_PORT": 23300,
}
E2E_PROJECT = "saga-e2e"
# `make e2e`'s suite, without what runs on a local stack of its own (chaos smoke, the
# observability stack, the deadline stack, replicas, bench, storm) or needs compose's
# container control (`compose`, run after the suite).
E2E_MARKERS = (
    "not storm and not bench and not chaos and not observability and not deadline "
    "and not replicas and not compose"
)


@dataclass
class Stack:
    """One compose project on one engine, with the images it runs."""

    repo_root: Path
    engine: Engine
    project: str
    resolved: list[images.Resolved]
    ports: dict[str, int] = field(default_factory=dict)
    _classic_builder: bool | None = None

    def environment(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        env = self.engine.env(base)
        env.update(images.compose_environment(self.resolved))
        env.update({name: str(port) for name, port in self.ports.items()})
        env["COMPOSE_PROJECT_NAME"] = self.project
        if self._classic_builder is None:
            self._classic_builder = not engines.buildx_available(env)
        if self._classic_builder:
            # No buildx plugin: compose's classic builder, chosen here instead of warned about
            # on every build. The Dockerfiles need nothing BuildKit-only.
            env["DOCKER_BUILDKIT"] = "0"
        return env

    @property
    def services(self) -> list[str]:
        """Every compose service but those whose image is unavailable (Grafana, here)."""
        skipped = set(images.unavailable_services(self.resolved))
        return [name for name in self.compose_services() if name not in skipped]

    @property
    def skipped(self) -> list[str]:
        return images.unavailable_services(self.resolved)

    def compose(self, *args: str, check: bool = True, timeout: float = 1800) -> int:
        argv = [engines.docker_cli(), "compose", "-f", COMPOSE_FILE, "-p", self.project, *args]
        done = subprocess.run(argv, cwd=self.repo_root, env=self.environment(), timeout=timeout)
        if check and done.returncode != 0:
            raise ComposeError(f"docker compose {' '.join(args)} exited {done.returncode}")
        return done.returncode

    def compose_services(self) -> list[str]:
        """The services of docker-compose.yml, as the compose CLI reads them."""
        argv = [engines.docker_cli(), "compose", "-f", COMPOSE_FILE, "-p", self.project]
        done = subprocess.run(
            [*argv, "config", "--services"],
            cwd=self.repo_root,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise ComposeError(f"docker compose config --services: {done.stderr.strip()}")
        return done.stdout.split()

    def url(self, variable: str) -> str:
        return f"http://127.0.0.1:{self.ports[variable]}"


class ComposeError(RuntimeError):
    """A docker compose command failed."""


def prepare(
    settings: Settings,
    progress: Progress,
    *,
    project: str,
    ports: Mapping[str, int] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Stack:
    """Engine, compose CLI, images and the staged build contexts: all `docker compose up` needs.

    One at a time per checkout: a second caller (`make compose-e2e` while `.ci/run`'s
    background `prepare` still builds) waits for the first, then finds it all in place.
    """
    env = os.environ if environ is None else environ
    lock_path = settings.repo_root / ".local" / "compose-prepare.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress("images: another prepare of this checkout is running; waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        return _prepare(settings, progress, project=project, ports=ports, env=env)


def _prepare(
    settings: Settings,
    progress: Progress,
    *,
    project: str,
    ports: Mapping[str, int] | None,
    env: Mapping[str, str],
) -> Stack:
    where = engines.paths(settings.repo_root, env)
    engine = engines.find_or_start(where, progress, env)
    try:
        context = images.Context(settings.repo_root, settings, progress)
        begun = time.monotonic()
        # The compose CLI's Go build and the build contexts (uv's caches: network) beside the
        # images (mmdebstrap).
        with ThreadPoolExecutor(max_workers=2) as pool:
            compose_cli = pool.submit(engines.ensure_compose, where, engine, progress)
            staging = pool.submit(stage.stage, context, progress)
            resolved = images.resolve(engine, context, env)
            for item in resolved:
                progress(item.line())
            staging.result()
            compose_cli.result()
        progress(f"images: ready in {time.monotonic() - begun:.0f} s")
    except BaseException:
        if engine.started:
            engines.stop(where, progress, engine=engine)
        raise
    return Stack(settings.repo_root, engine, project, resolved, dict(ports or {}))


def e2e_ports(environ: Mapping[str, str]) -> dict[str, int]:
    return {name: int(environ.get(f"COMPOSE_E2E_{name}", port)) for name, port in E2E_PORTS.items()}


def pytest_environment(stack: Stack) -> dict[str, str]:
    """What the e2e suite needs to find the compose stack (published ports, 127.0.0.1 only)."""
    env = stack.engine.env()
    env.update(
        {
            "ORDER_URL": stack.url("ORDER_HTTP_PORT"),
            "PAYMENT_URL": stack.url("PAYMENT_HTTP_PORT"),
            "INVENTORY_URL": stack.url("INVENTORY_HTTP_PORT"),
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{stack.ports['KAFKA_PORT']}",
            "JAEGER_HOST": "127.0.0.1",
            "JAEGER_UI_PORT": str(stack.ports["JAEGER_UI_PORT"]),
            "JAEGER_URL": stack.url("JAEGER_UI_PORT"),
            "PROMETHEUS_URL": stack.url("PROMETHEUS_PORT"),
            "SAGA_COMPOSE_PROJECT": stack.project,
            "SAGA_COMPOSE_FILE": str(stack.repo_root / COMPOSE_FILE),
        }
    )
    return env


def run_pytest(stack: Stack, args: Sequence[str]) -> int:
    command = [sys.executable, "-m", "pytest", *args]
    return subprocess.call(command, cwd=stack.repo_root, env=pytest_environment(stack))


def save_logs(stack: Stack, progress: Progress) -> None:
    target = stack.repo_root / ".local/compose-e2e"
    target.mkdir(parents=True, exist_ok=True)
    log = target / f"{stack.project}.log"
    with log.open("w") as out:
        subprocess.run(
            [
                engines.docker_cli(),
                "compose",
                "-f",
                COMPOSE_FILE,
                "-p",
                stack.project,
                "logs",
                "--no-color",
                "--timestamps",
            ],
            cwd=stack.repo_root,
            env=stack.environment(),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=300,
        )
    progress(f"compose-e2e: container logs in {log}")


def e2e(settings: Settings, progress: Progress, pytest_args: Sequence[str] = ()) -> int:
    """`make compose-e2e`: up --build --wait, the e2e suite, a container crash, down -v."""
    begun = time.monotonic()
    timings: list[tuple[str, float]] = []
    project = os.environ.get("COMPOSE_E2E_PROJECT", E2E_PROJECT)
    # One run per project name on this machine (another checkout's run would share the engine
    # and the ports): the second waits for the first.
    with open(f"/tmp/saga-compose-e2e-{project}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(f"compose-e2e: another run of project {project} is under way; waiting")
            fcntl.flock(lock, fcntl.LOCK_EX)
        return _e2e(settings, progress, project, pytest_args, begun, timings)


def _e2e(
    settings: Settings,
    progress: Progress,
    project: str,
    pytest_args: Sequence[str],
    begun: float,
    timings: list[tuple[str, float]],
) -> int:
    stack = prepare(settings, progress, project=project, ports=e2e_ports(os.environ))
    timings.append(("engine, compose CLI and images", time.monotonic() - begun))
    where = engines.paths(settings.repo_root)
    status = 1
    try:
        if stack.skipped:
            progress(f"compose-e2e: without {', '.join(stack.skipped)} (no image)")
        # A stack left by an interrupted run would hold the ports and volumes.
        stack.compose("down", "--volumes", "--remove-orphans", check=False, timeout=300)
        step = time.monotonic()
        services = stack.services
        progress(f"compose-e2e: docker compose -p {project} up --build --wait ({len(services)})")
        stack.compose("up", "--build", "--wait", "--wait-timeout", str(WAIT_TIMEOUT_S), *services)
        timings.append(("docker compose up --build --wait", time.monotonic() - step))
        markers = E2E_MARKERS if "jaeger" in services else f"{E2E_MARKERS} and not tracing"
        step = time.monotonic()
        progress(
            f"compose-e2e: the e2e suite against {stack.url('ORDER_HTTP_PORT')} and the others"
        )
        status = run_pytest(stack, ["tests-e2e", "-m", markers, *pytest_args])
        timings.append(("e2e suite", time.monotonic() - step))
        if status == 0:
            step = time.monotonic()
            progress("compose-e2e: a service container crashes; its restart policy brings it back")
            status = run_pytest(stack, ["tests-e2e/tests/test_compose_restart.py", "-m", "compose"])
            timings.append(("container crash and restart", time.monotonic() - step))
    finally:
        try:
            save_logs(stack, progress)
        except (OSError, subprocess.SubprocessError) as exc:
            progress(f"compose-e2e: could not save the logs: {exc}")
        step = time.monotonic()
        stack.compose("down", "--volumes", "--remove-orphans", check=False, timeout=600)
        timings.append(("docker compose down -v", time.monotonic() - step))
        if stack.engine.started:
            engines.stop(where, progress, engine=stack.engine)
        timings.append(("total", time.monotonic() - begun))
        for item in stack.resolved:
            progress(item.line())
        for name, seconds in timings:
            progress(f"compose-e2e: {name:<34} {seconds:7.1f} s")
        progress(f"compose-e2e: {'passed' if status == 0 else f'FAILED ({status})'}")
    return status


def up(settings: Settings, progress: Progress) -> int:
    """`make up`: the compose stack under its own name and the default ports; returns."""
    stack = prepare(settings, progress, project=os.environ.get("COMPOSE_PROJECT_NAME", "saga"))
    if stack.skipped:
        progress(f"up: without {', '.join(stack.skipped)} (no image)")
    stack.compose(
        "up",
        "--build",
        "--detach",
        "--wait",
        "--wait-timeout",
        str(WAIT_TIMEOUT_S),
        *stack.services,
    )
    for line in stack.engine.export_lines():
        progress(f"up: {line}")
    return 0


def down(settings: Settings, progress: Progress, *, volumes: bool = False) -> int:
    """`make down`: the stack `make up` started (its engine keeps running: `engine down`)."""
    env = os.environ
    where = engines.paths(settings.repo_root, env)
    engine = engines.find(where, env)
    if engine is None:
        progress("down: no Docker engine answers; nothing to stop")
        return 0
    if (
        engines.compose_version(engine.env()) is None
        and (where.config_dir / "cli-plugins").is_dir()
    ):
        engine.config_dir = where.config_dir
    stack = Stack(settings.repo_root, engine, env.get("COMPOSE_PROJECT_NAME", "saga"), [])
    return stack.compose("down", *(["--volumes"] if volumes else []), check=False)
