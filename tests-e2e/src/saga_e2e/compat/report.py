"""What one compat run found, and the summary table of all three."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from packaging.version import Version

from saga_infra.services import SERVICES


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
