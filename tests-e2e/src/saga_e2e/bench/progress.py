"""The progress bar (stderr, one tick per step) and timestamped log lines that keep it intact."""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

from saga_e2e.bench.loadgen import Offered
from saga_e2e.bench.step import StepPlan


class Progress:
    """A tqdm bar over the planned steps; `log` prints above it, `skip` drops unrun steps.

    The bar shows when stderr is a terminal; into a pipe or a CI log only the lines go.
    """

    def __init__(self, total: int) -> None:
        self.began = time.monotonic()
        self.bar = tqdm(
            total=total,
            unit="step",
            file=sys.stderr,
            mininterval=0.5,
            dynamic_ncols=True,
            disable=None,  # None: only on a terminal
        )

    def log(self, line: str) -> None:
        self.bar.write(f"[{time.monotonic() - self.began:6.1f}s] {line}", file=sys.stderr)

    def phase(self, name: str) -> None:
        self.bar.set_description_str(name)

    def step(self, plan: StepPlan) -> None:
        self.bar.set_description_str(f"{plan.mode} {plan.phase} {plan.rate:g}/s")

    def load(self, offered: Offered) -> None:
        self.bar.set_postfix_str(
            f"sent {offered.sent}/{offered.scheduled}, 201 {offered.accepted}", refresh=False
        )

    def done(self, count: int = 1) -> None:
        self.bar.update(count)

    def skip(self, count: int) -> None:
        """Steps that will not run (a ramp stopped): the bar's total shrinks."""
        if self.bar.total is not None:
            self.bar.total = max(self.bar.n, self.bar.total - count)
            self.bar.refresh()

    def grow(self, count: int) -> None:
        """Steps added (a retry)."""
        if self.bar.total is not None:
            self.bar.total += count
            self.bar.refresh()

    def close(self) -> None:
        self.bar.close()
