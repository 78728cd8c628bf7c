"""`python -m saga_e2e.compat`: the plan (N, N-1, the services), then the three runs and the
summary.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from types import FrameType

from packaging.requirements import Requirement
from packaging.version import InvalidVersion, Version

from saga_e2e import own_stack
from saga_e2e.compat.harness import Harness, Plan, Progress, compat_spec
from saga_e2e.compat.report import RunResult, table
from saga_e2e.compat.rules import check_in_range, contracts_dependency
from saga_infra import rollout
from saga_infra.contracts import PACKAGE, Refused, Repository, StepFailed, previous_release
from saga_infra.services import SERVICES
from saga_infra.settings import find_repo_root


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
    # rollout runs each release's registry with `UV`: the one found here.
    os.environ["UV"] = uv
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
