"""What a chaos run looked like over time: samples of the backlog, the faults, a CSV and a plot."""

from __future__ import annotations

import csv
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from saga_e2e.chaos.drain import Backlog  # noqa: E402


@dataclass(frozen=True)
class Sample:
    at_s: float
    accepted: int
    not_terminal: int
    lag: int


@dataclass(frozen=True)
class FaultMark:
    at_s: float
    kind: str
    outage_s: float


@dataclass
class Timeline:
    """Samples and fault marks on one clock, from the start of the load."""

    began: float = field(default_factory=time.monotonic)
    samples: list[Sample] = field(default_factory=list)
    faults: list[FaultMark] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def now_s(self) -> float:
        return time.monotonic() - self.began

    def add_sample(self, accepted: int, backlog: Backlog) -> None:
        with self.lock:
            self.samples.append(Sample(self.now_s(), accepted, backlog.not_terminal, backlog.lag))

    def add_fault(self, kind: str, outage_s: float) -> None:
        """A fault that just ended (the component is back): marked where it began."""
        with self.lock:
            self.faults.append(FaultMark(self.now_s() - outage_s, kind, outage_s))

    def write_csv(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as out:
            rows = csv.writer(out)
            rows.writerow(["t_s", "accepted", "not_terminal", "consumer_lag", "fault", "outage_s"])
            for s in self.samples:
                rows.writerow([f"{s.at_s:.1f}", s.accepted, s.not_terminal, s.lag, "", ""])
            for f in self.faults:
                rows.writerow([f"{f.at_s:.1f}", "", "", "", f.kind, f"{f.outage_s:.1f}"])

    def plot(self, path: Path, title: str) -> None:
        """Orders accepted and in flight, consumer lag, and a band per fault."""
        path.parent.mkdir(parents=True, exist_ok=True)
        figure, (orders, lag) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True)
        t = [s.at_s for s in self.samples]
        orders.plot(t, [s.accepted for s in self.samples], ".-", label="orders accepted")
        in_flight = [s.not_terminal for s in self.samples]
        orders.plot(t, in_flight, ".-", label="orders not yet terminal")
        orders.set_ylabel("orders")
        orders.set_title(title)
        lag.plot(t, [s.lag for s in self.samples], ".-", color="tab:red", label="consumer lag")
        lag.set_ylabel("events behind")
        lag.set_xlabel("seconds since the load began")
        kinds = sorted({f.kind for f in self.faults})
        palette = ("tab:green", "tab:purple", "tab:olive", "tab:brown", "tab:cyan", "tab:pink")
        colors = {kind: palette[i % len(palette)] for i, kind in enumerate(kinds)}
        for axis in (orders, lag):
            for fault in self.faults:
                axis.axvspan(
                    fault.at_s,
                    fault.at_s + fault.outage_s,
                    color=colors.get(fault.kind, "tab:gray"),
                    alpha=0.2,
                    linewidth=0,
                )
            axis.grid(alpha=0.3)
            axis.legend(loc="upper left")
        bands = [Patch(color=colors[kind], alpha=0.2, label=f"{kind} down") for kind in kinds]
        if bands:
            figure.legend(handles=bands, loc="lower center", ncol=len(bands), frameon=False)
        figure.tight_layout(rect=(0, 0.05, 1, 1))
        figure.savefig(path, dpi=100)
        plt.close(figure)


class Sampler:
    """Samples the backlog every `interval_s` in a thread until stopped (errors: no sample)."""

    def __init__(
        self,
        timeline: Timeline,
        read: Callable[[], tuple[int, Backlog]],
        interval_s: float = 5.0,
    ) -> None:
        self.timeline, self.read, self.interval_s = timeline, read, interval_s
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self.stopping.wait(self.interval_s):
            try:
                accepted, backlog = self.read()
            except Exception:  # a component is down right now: that gap is the fault's band
                continue
            self.timeline.add_sample(accepted, backlog)
