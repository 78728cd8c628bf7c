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

from saga_e2e.compat.cli import declared_ranges, main, parse, resolve_plan
from saga_e2e.compat.harness import Harness, Plan, compat_spec, find_uv, installed_contracts
from saga_e2e.compat.report import RunResult, table
from saga_e2e.compat.rules import (
    check_in_range,
    check_installed,
    contracts_dependency,
    junit_counts,
    swap_contracts,
    wheel_requirement,
)
from saga_infra.contracts import Refused, StepFailed, previous_release

__all__ = [
    "Harness",
    "Plan",
    "Refused",
    "RunResult",
    "StepFailed",
    "check_in_range",
    "check_installed",
    "compat_spec",
    "contracts_dependency",
    "declared_ranges",
    "find_uv",
    "installed_contracts",
    "junit_counts",
    "main",
    "parse",
    "previous_release",
    "resolve_plan",
    "swap_contracts",
    "table",
    "wheel_requirement",
]
