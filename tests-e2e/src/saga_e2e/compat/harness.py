"""The compat runs themselves: the N-1 virtualenvs, the services rolled onto them, the tests,
the invariants.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from packaging.requirements import Requirement
from packaging.version import Version

from saga_e2e import own_stack
from saga_e2e.chaos.db_checks import check_effects
from saga_e2e.chaos.drain import dead_letters
from saga_e2e.client import LEDGER_FILE_VARIABLE, Ledger, SagaClient, ServiceUrls
from saga_e2e.compat.report import RunResult
from saga_e2e.compat.rules import check_installed, junit_counts, swap_contracts, wheel_requirement
from saga_e2e.invariants import check_all
from saga_e2e.own_stack import StackSpec, System
from saga_infra import services
from saga_infra.contracts import PACKAGE, Refused, Repository, StepFailed
from saga_infra.services import SERVICES, Service

Progress = Callable[[str], None]

READY_TIMEOUT_S = 90.0
TEST_TIMEOUT_S = 120  # per test: a hung one must not eat CI's budget
PYTEST_SELECTION = ("-m", "compat")


def compat_spec(root: Path) -> StackSpec:
    """The compat stack: never the defaults nor another harness's ports (COMPAT_<VAR>)."""
    defaults = {
        "STACK_DIR": str(root / ".local" / "compat" / "stack"),
        "KAFKA_PORT": "33092",
        "KAFKA_CONTROLLER_PORT": "33093",
        "PG_PORT": "33432",
        "ORDER_HTTP_PORT": "33001",
        "PAYMENT_HTTP_PORT": "33002",
        "INVENTORY_HTTP_PORT": "33003",
        "JAEGER": "0",
        "PROMETHEUS": "0",
    }
    # One instance of each, each on the interpreter this harness chooses.
    own = ["SERVICE_REPLICAS"]
    for service in SERVICES:
        own += [
            f"{service.prefix}_REPLICAS",
            service.python_variable,
            f"{service.prefix}_RELAY_DUPLICATE_EVERY_EVENT",
        ]
    return StackSpec("compat", "COMPAT", defaults, (*own_stack.FOREIGN, *own))


PROBE = """
import importlib.metadata as m, json, sys
try:
    version = m.version(sys.argv[1])
except m.PackageNotFoundError:
    version = None
print(json.dumps({"version": version}))
"""


def installed_contracts(python: str) -> str | None:
    """The shared-events version `python` would import (importlib.metadata)."""
    done = subprocess.run(
        [python, "-c", PROBE, PACKAGE], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise StepFailed(f"{python}: could not read its {PACKAGE} version: {last[0]}")
    found: str | None = json.loads(done.stdout)["version"]
    return found


def find_uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv") or str(Path.home() / ".local/bin/uv")
    if not Path(found).is_file():
        raise StepFailed("uv not found (set UV, or `make install` puts it in ~/.local/bin)")
    return found


@dataclass(frozen=True)
class Plan:
    """What the runs compare: N and N-1, and where the harness keeps its files."""

    root: Path
    current: Version
    previous: Version
    work_dir: Path
    services: tuple[Service, ...]
    release_before: Version | None = None  # the release before N, when N-1 was given instead

    def venv(self, service: Service) -> Path:
        return self.work_dir / f"venv-{service.name}"

    def python(self, service: Service) -> str:
        return str(self.venv(service) / "bin" / "python")


class Harness:
    def __init__(self, plan: Plan, progress: Progress) -> None:
        self.plan = plan
        self.say = progress
        self.uv = find_uv()

    def _uv(self, *args: str, what: str) -> str:
        done = subprocess.run(
            [self.uv, *args], capture_output=True, text=True, cwd=self.plan.root, check=False
        )
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            detail = " | ".join(lines[-3:]) or "no output"
            raise StepFailed(f"{what}: uv {args[0]} failed: {detail}")
        return done.stdout

    def build_venv(self, service: Service, declared: Requirement) -> None:
        """`service` on N-1: its own lock, shared-events swapped, itself non-editable."""
        plan, project = self.plan, self.plan.root / "services" / service.name
        wheel = Repository(plan.root).wheel_path(plan.previous)
        exported = self._uv(
            "export",
            "--frozen",
            "--project",
            str(project),
            "--format",
            "requirements.txt",
            "--no-dev",
            "--no-emit-project",
            "--no-hashes",
            "--no-annotate",
            "--no-header",
            what=f"{service.name}: exporting its lock",
        )
        requirements = plan.work_dir / f"requirements-{service.name}.txt"
        requirements.write_text(swap_contracts(exported, wheel_requirement(declared, wheel)))
        venv, python = plan.venv(service), plan.python(service)
        what = f"{service.name}: building {venv}"
        self._uv("venv", "--quiet", "--clear", "--python", sys.executable, str(venv), what=what)
        self._uv(
            "pip", "install", "--quiet", "--python", python, "-r", str(requirements), what=what
        )
        self._uv(
            "pip", "install", "--quiet", "--python", python, "--no-deps", str(project), what=what
        )
        found = installed_contracts(python)
        check_installed(f"{service.name}'s virtualenv {venv}", found, plan.previous)
        self.say(f"{service.name}: virtualenv {venv} has {PACKAGE} {found} (N-1)")

    def point_services(self, target: Service) -> None:
        """`target` on its N-1 virtualenv, the others on this interpreter (os.environ)."""
        for service in SERVICES:
            os.environ.pop(service.python_variable, None)
        os.environ[target.python_variable] = self.plan.python(target)

    def roll(self, system: System, target: Service) -> None:
        """Restart each service whose interpreter changes, `target` migrated on N-1 first."""
        settings, restarted = system.settings, []
        for service in SERVICES:
            wanted, running = service.python(), services.running_python(settings, service)
            if running == wanted and services.is_ready(service):
                continue
            side = "N-1" if service == target else "N"
            if running is not None:
                self.say(f"{service.name}: stopping (was on {running})")
                services.stop(settings, service)
            if service == target:
                services.migrate(settings, service)
            pid = services.start(settings, service)
            if service.instance not in system.started:
                system.started.append(service.instance)
            self.say(f"{service.name}: started pid {pid} on {side}, {wanted}")
            restarted.append(service)
        for service in restarted:
            services.wait_ready(settings, service, READY_TIMEOUT_S)
            self.say(f"{service.name}: ready at {service.url}")

    def observe(self, system: System, target: Service, result: RunResult) -> None:
        """Each process's interpreter and shared-events, checked against its side."""
        for service in SERVICES:
            python = services.running_python(system.settings, service)
            if python is None:
                raise StepFailed(f"{service.name} is not running")
            found = installed_contracts(python)
            result.running[service.name] = str(found)
            wanted = self.plan.previous if service == target else self.plan.current
            pid = services.running_pid(system.settings, service)
            self.say(f"{service.name}: pid {pid} runs {PACKAGE} {found} ({python})")
            check_installed(f"{service.name} (pid {pid}, {python})", found, wanted)

    def run_tests(self, system: System, result: RunResult) -> None:
        name = result.service
        ledger_file = self.plan.work_dir / f"ledger-{name}.jsonl"
        junit = self.plan.work_dir / f"junit-{name}.xml"
        for path in (ledger_file, junit):
            path.unlink(missing_ok=True)
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": system.settings.kafka_bootstrap,
            LEDGER_FILE_VARIABLE: str(ledger_file),
        }
        command = [
            sys.executable,
            "-m",
            "pytest",
            str(self.plan.root / "tests-e2e"),
            *PYTEST_SELECTION,
            "-q",
            f"--timeout={TEST_TIMEOUT_S}",
            f"--junitxml={junit}",
        ]
        dead_before = dead_letters(system.settings.kafka_bootstrap)
        self.say(f"run {result.number}: pytest tests-e2e {' '.join(PYTEST_SELECTION)}")
        result.exit_code = subprocess.run(
            command, env=env, cwd=self.plan.root, check=False
        ).returncode
        if junit.is_file():
            result.passed, result.failed = junit_counts(junit.read_text())
        self.say(
            f"run {result.number}: pytest exit {result.exit_code}, "
            f"{result.passed} passed, {result.failed} failed"
        )
        lines = ledger_file.read_text().splitlines() if ledger_file.is_file() else []
        result.problems = self.check_invariants(system, Ledger.merged(lines), dead_before)

    def check_invariants(self, system: System, ledger: Ledger, dead_before: int) -> list[str]:
        """DESIGN.md §6 over every order of the run: over HTTP (terminal, money, stock, per
        customer and sku) and in the outboxes (each effect at most once per order); and no
        event dead-lettered meanwhile (what a consumer on N-1 does with a version it cannot
        read: `unsupported_event_version`)."""
        if not ledger.orders:
            return ["no order was recorded: the tests created none, or their ledger was lost"]
        client = SagaClient(ServiceUrls(*system.urls))
        client.ledger = ledger
        try:
            problems = check_all(client)
        finally:
            client.close()
        with psycopg.connect(system.settings.dsn()) as conn:
            problems += check_effects(conn, ledger.orders)
        dead = dead_letters(system.settings.kafka_bootstrap) - dead_before
        if dead:
            problems.append(
                f"{dead} records dead-lettered during the run: a service could not read what "
                "another wrote (the <group>.dlq topics, the order service's /ui/dead-letters)"
            )
        self.say(
            f"invariants over {len(ledger.orders)} orders, {len(ledger.funded)} accounts, "
            f"{len(ledger.stock)} skus: {'ok' if not problems else f'{len(problems)} violated'}"
        )
        return problems

    def show_log(self, system: System, service: Service, lines: int = 12) -> None:
        """The end of the service's log: why it did not come up on its side."""
        log = service.log_file(system.settings)
        try:
            tail = log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return
        self.say(f"{service.name}: last lines of {log}:")
        for line in tail:
            print(f"    {line}", flush=True)

    def run(self, system: System, number: int, target: Service) -> RunResult:
        plan, began = self.plan, time.monotonic()
        result = RunResult(number, target.name, plan.previous, plan.current)
        others = ", ".join(s.name for s in SERVICES if s != target)
        self.say(
            f"run {number}/{len(plan.services)}: {target.name} on N-1 ({plan.previous}), "
            f"{others} on N ({plan.current})"
        )
        try:
            self.point_services(target)
            self.roll(system, target)
            self.observe(system, target, result)
        except (Refused, StepFailed, services.ServiceError) as exc:
            result.error = str(exc)
            self.say(f"run {number}: {exc}")
            for service in SERVICES:
                if str(service.log_file(system.settings)) in result.error:
                    self.show_log(system, service)
        else:
            try:
                self.run_tests(system, result)
            except Exception as exc:  # an HTTP or database error of the checks: this run fails
                result.error = f"{type(exc).__name__}: {exc}"
                self.say(f"run {number}: {result.error}")
        result.seconds = time.monotonic() - began
        self.say(f"run {number}: {'ok' if result.ok else 'FAILED'} in {result.seconds:.1f} s")
        return result
