"""`python -m saga_e2e.compat` (`make compat`): a rolling upgrade of the contracts, tested.

While a new contracts release (N) rolls out, every service runs for a while beside peers on the
release before it (N-1). Three runs, one per service: that service on N-1 (its own virtualenv:
its `uv.lock` with shared-events swapped for the N-1 wheel of `contracts-index/`, the service
itself installed non-editable), the other two on N (the root environment, the tree's contracts).
Each run restarts what changes, checks and prints the shared-events version every service
process runs, then the e2e tests marked `compat` (together they carry every event each service
consumes and produces), DESIGN.md §6 over every order the run created, and no record
dead-lettered meanwhile (a consumer's answer to an event version it cannot read).

N is the tree's shared-events version (the newest release, on main); N-1 is the release before
it (`python -m saga_infra.contracts previous`), or `--previous VERSION` / `COMPAT_PREVIOUS` (a
simulation before the next release is out: `--previous 3.0.0` with the tree on 3.0.0). No
earlier release: nothing to test, exit 0. The safe order of deployment from N-1 to N
(`python -m saga_infra.rollout`) is printed first.

It runs on its own stack (`COMPAT_<VAR>` overrides each default of `COMPAT`), started once and
stopped at the end as far as this run started it, on failure too. Exit codes: 0 every run passed
(or no earlier release), 1 a run failed (a test, an invariant, a service process not on the
version of its side) or a build step did, 2 refused before anything started (N-1 outside a
service's declared range, no wheel of it, a virtualenv not on N-1, the root environment not on
the tree's version).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import FrameType

import psycopg
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from saga_e2e import own_stack
from saga_e2e.chaos.db_checks import check_effects
from saga_e2e.chaos.drain import dead_letters
from saga_e2e.client import LEDGER_FILE_VARIABLE, Ledger, SagaClient, ServiceUrls
from saga_e2e.invariants import check_all
from saga_e2e.own_stack import StackSpec, System
from saga_infra import rollout, services
from saga_infra.contracts import PACKAGE, Repository
from saga_infra.services import SERVICES, Service
from saga_infra.settings import find_repo_root

Progress = Callable[[str], None]

CONTRACTS = canonicalize_name(PACKAGE)
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


class Refused(Exception):
    """What the rules do not allow (exit 2); the message is one line saying why."""


class StepFailed(Exception):
    """A uv step or a service start failed (exit 1); the message says which and why."""


# -- pure parts -----------------------------------------------------------------------------


def previous_release(released: Iterable[Version], tree: Version) -> Version | None:
    """N-1: the newest release older than the tree's version.

    With the tree on the newest release (main) this is `saga_infra.contracts previous`; a
    tree bumped ahead of its release has the newest release as its N-1.
    """
    older = [version for version in released if version < tree]
    return max(older, default=None)


def contracts_dependency(service: str, pyproject: str) -> Requirement:
    """The service's declared shared-events dependency (its extras and version range)."""
    try:
        declared = tomllib.loads(pyproject)["project"]["dependencies"]
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise Refused(f"{service}: no [project] dependencies in its pyproject.toml") from exc
    for text in declared:
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            raise Refused(f"{service}: bad dependency {text!r} in its pyproject.toml") from exc
        if canonicalize_name(requirement.name) == CONTRACTS:
            return requirement
    raise Refused(f"{service}: its pyproject.toml declares no {PACKAGE} dependency")


def check_in_range(service: str, declared: Requirement, version: Version) -> None:
    """Refused unless `version` satisfies the service's declared range."""
    if not declared.specifier.contains(version, prereleases=True):
        raise Refused(
            f"{service} declares {declared.name}{declared.specifier}, so it cannot run on "
            f"N-1 = {version} (--previous VERSION takes another release as N-1)"
        )


def wheel_requirement(declared: Requirement, wheel: Path) -> str:
    """The requirement line of exactly that wheel, with the service's declared extras.

    A direct reference, not `==version` with --find-links: the resolver then never asks
    another index for a package of the same name.
    """
    extras = f"[{','.join(sorted(declared.extras))}]" if declared.extras else ""
    return f"{PACKAGE}{extras} @ {wheel.resolve().as_uri()}"


def swap_contracts(requirements: str, replacement: str) -> str:
    """`uv export`'s requirements with the one shared-events line replaced (its marker kept)."""
    lines, swapped = [], 0
    for line in requirements.splitlines():
        text = line.split(" #", 1)[0].strip()
        if not text or text.startswith(("#", "-")):
            lines.append(line)
            continue
        if text.endswith("\\"):
            raise Refused(f"continued requirement lines are not expected (use --no-hashes): {line}")
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            raise Refused(f"unexpected line in the exported requirements: {line!r}") from exc
        if canonicalize_name(requirement.name) != CONTRACTS:
            lines.append(line)
            continue
        swapped += 1
        marker = f" ; {requirement.marker}" if requirement.marker else ""
        lines.append(f"{replacement}{marker}")
    if swapped != 1:
        raise Refused(f"the exported requirements hold {swapped} {PACKAGE} lines, not one")
    return "\n".join(lines) + "\n"


def check_installed(where: str, found: str | None, wanted: Version) -> None:
    """Refused unless `where` (a virtualenv, a process) has shared-events `wanted`."""
    if found is None:
        raise Refused(f"{where}: {PACKAGE} is not installed; it should be {wanted}")
    try:
        version = Version(found)
    except InvalidVersion as exc:
        raise Refused(f"{where}: {PACKAGE} {found!r} is no version; it should be {wanted}") from exc
    if version != wanted:
        raise Refused(f"{where} runs {PACKAGE} {version}, not {wanted}")


def junit_counts(xml_text: str) -> tuple[int, int]:
    """(passed, failed) of a pytest junit XML report; errors count as failed, skips as neither."""
    root = ElementTree.fromstring(xml_text)
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = failed = skipped = 0
    for suite in suites:
        total += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    return total - failed - skipped, failed


@dataclass
class RunResult:
    """One run: `service` on N-1, the others on N."""

    number: int
    service: str
    previous: Version
    current: Version
    running: dict[str, str] = field(default_factory=dict)  # service -> shared-events it runs
    passed: int = 0
    failed: int = 0
    exit_code: int | None = None  # pytest's
    problems: list[str] | None = None  # §6 over the run's orders; None: not checked
    error: str | None = None  # the run could not get to its tests
    seconds: float = 0.0

    @property
    def invariants_ok(self) -> bool:
        return self.problems == []

    @property
    def ok(self) -> bool:
        return (
            self.error is None
            and self.exit_code == 0
            and self.passed > 0
            and self.failed == 0
            and self.invariants_ok
        )

    def versions(self) -> tuple[str, str]:
        """(`order 3.0.0`, `payment, inventory 3.0.0`): what each side ran, as observed."""
        own = f"{self.service} {self.running.get(self.service, f'{self.previous}?')}"
        others = [name for name in (s.name for s in SERVICES) if name != self.service]
        seen = {self.running.get(name, f"{self.current}?") for name in others}
        return own, f"{', '.join(others)} {'/'.join(sorted(seen))}"


def table(results: Sequence[RunResult]) -> str:
    """The summary: one row per run."""
    header = ("run", "on N-1", "others on N", "passed", "failed", "invariants", "seconds", "")
    rows = [header]
    for result in results:
        own, others = result.versions()
        if result.problems is None:
            invariants = "not checked"
        else:
            invariants = f"{len(result.problems)} violated" if result.problems else "ok"
        rows.append(
            (
                str(result.number),
                own,
                others,
                str(result.passed),
                str(result.failed),
                invariants,
                f"{result.seconds:.1f}",
                "ok" if result.ok else "FAILED",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    numeric = {0, 3, 4, 6}
    return "\n".join(
        "  ".join(
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    )


# -- the harness ----------------------------------------------------------------------------

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


def resolve_plan(
    root: Path, wanted: str | None, names: Sequence[str], installed: str | None
) -> Plan | None:
    """N, N-1 and the services to run; None when there is no earlier release (Refused on any
    version the rules do not allow)."""
    repo = Repository(root)
    current = repo.tree_version()
    if installed is None or Version(installed) != current:
        raise Refused(
            f"the root environment has {PACKAGE} {installed}, the tree {current}: "
            "run `uv sync --frozen` (make install) first"
        )
    released = [release.version for release in repo.releases() if release.wheel is not None]
    before = previous_release(released, current)
    if wanted:
        try:
            previous = Version(wanted)
        except InvalidVersion as exc:
            raise Refused(f"--previous {wanted!r} is not a version (e.g. 3.0.0)") from exc
        if previous not in released:
            listed = ", ".join(map(str, released)) or "none"
            raise Refused(f"{PACKAGE} {previous} has no wheel in contracts-index (has: {listed})")
        if previous > current:
            raise Refused(f"--previous {previous} is newer than the tree's {current}")
    elif before is None:
        return None
    else:
        previous = before
    by_name = {service.name: service for service in SERVICES}
    unknown = [name for name in names if name not in by_name]
    if unknown or not names:
        raise Refused(f"--services: give some of {', '.join(by_name)}; got {','.join(names)}")
    return Plan(
        root,
        current,
        previous,
        root / ".local" / "compat",
        tuple(by_name[name] for name in dict.fromkeys(names)),
        before if previous != before else None,
    )


def declared_ranges(plan: Plan) -> dict[str, Requirement]:
    """Each service's declared shared-events dependency, N-1 checked against it."""
    declared = {}
    for service in plan.services:
        pyproject = plan.root / "services" / service.name / "pyproject.toml"
        requirement = contracts_dependency(service.name, pyproject.read_text())
        check_in_range(service.name, requirement, plan.previous)
        declared[service.name] = requirement
    return declared


def show_rollout(plan: Plan, uv: str, say: Progress) -> None:
    """The safe order of deployment from N-1 to N (`python -m saga_infra.rollout`), first:
    a run with a consumer on N-1 of a version only N writes fails, and this says why."""
    # rollout runs each release's registry with the `uv` on PATH: the one found here.
    os.environ["PATH"] = os.pathsep.join([str(Path(uv).parent), os.environ.get("PATH", "")])
    say(f"compat: python -m saga_infra.rollout {plan.previous} {plan.current}")
    if rollout.main([str(plan.previous), str(plan.current)]) != 0:
        say("compat: the rollout order is unknown (above: why); the runs go on")
    sys.stdout.flush()


def _terminate(signum: int, _frame: FrameType | None) -> None:
    # SIGTERM unwinds like Ctrl-C, so what this run started is stopped.
    raise KeyboardInterrupt(f"signal {signum}")


def parse(argv: Sequence[str], environ: Mapping[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m saga_e2e.compat",
        description="Each service in turn on the previous contracts release (N-1), the others "
        "on the tree's (N): the e2e tests marked compat and DESIGN.md §6 in each run.",
    )
    parser.add_argument(
        "--previous",
        default=environ.get("COMPAT_PREVIOUS", "").strip() or None,
        metavar="VERSION",
        help="run this released version as N-1 instead of `saga_infra.contracts previous` "
        "(env COMPAT_PREVIOUS); e.g. the tree's own version, to try the harness",
    )
    parser.add_argument(
        "--services",
        default=environ.get("COMPAT_SERVICES", "").strip() or ",".join(s.name for s in SERVICES),
        metavar="A,B",
        help="which services take their turn on N-1, in order (default: all three)",
    )
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt as exc:
        print(f"compat: interrupted ({exc or 'Ctrl-C'}); stopped what it had started", flush=True)
        return 130


def _main(argv: Sequence[str] | None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv, os.environ)
    began = time.monotonic()

    def say(line: str) -> None:
        print(f"[{time.monotonic() - began:6.1f}s] {line}", flush=True)

    root = find_repo_root()
    try:
        installed = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        installed = None
    names = [name.strip() for name in args.services.split(",") if name.strip()]
    try:
        plan = resolve_plan(root, args.previous, names, installed)
        if plan is None:
            print(f"compat: no earlier release of {PACKAGE} than {installed}: nothing to test")
            return 0
        declared = declared_ranges(plan)
        if plan.previous != plan.current and plan.release_before is None:
            note = ""
        else:
            before = plan.release_before or "none"
            note = f" (given: a simulation; the release before N is {before})"
        say(f"compat: N = {plan.current} (the tree), N-1 = {plan.previous}{note}")
        plan.work_dir.mkdir(parents=True, exist_ok=True)
        harness = Harness(plan, say)
        show_rollout(plan, harness.uv, say)
        for service in plan.services:
            harness.build_venv(service, declared[service.name])
    except Refused as exc:
        print(f"compat: refused: {exc}", file=sys.stderr)
        return 2
    except StepFailed as exc:
        print(f"compat: failed: {exc}", file=sys.stderr)
        return 1

    signal.signal(signal.SIGTERM, _terminate)
    spec = compat_spec(root)
    results: list[RunResult] = []
    with own_stack.pointed_at(spec):
        # Up on N, every service: a service that fails on N-1 then fails its run, not the stack.
        try:
            system = own_stack.bring_up(say, spec.name)
        except Exception as exc:
            print(f"compat: failed: the stack did not come up: {exc}", file=sys.stderr)
            return 1
        try:
            for number, service in enumerate(plan.services, start=1):
                results.append(harness.run(system, number, service))
        finally:
            own_stack.shut_down(system, say)
    print(f"\ncompat summary: N-1 = {plan.previous}, N = {plan.current}")
    print(table(results))
    for result in results:
        for problem in ([result.error] if result.error else []) + (result.problems or []):
            print(f"  run {result.number} ({result.service} on N-1): {problem}")
    ok = sum(result.ok for result in results)
    print(f"compat: {ok} of {len(results)} runs ok, {time.monotonic() - began:.0f} s in all")
    passed, failed = sum(r.passed for r in results), sum(r.failed for r in results)
    print(f"compat: {passed} passed, {failed} failed")
    return 0 if ok == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
