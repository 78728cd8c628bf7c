"""CPU seconds of each component from /proc/<pid>/stat: utime + stime (+ reaped children).

- a service or the broker: its own utime + stime (all its threads) + cutime + cstime;
- Postgres: the postmaster's own and reaped children's times (its backends, autovacuum and
  the like exit into its cutime/cstime) plus every live child's own and reaped times;
- the load generator (this process): utime + stime only; its reaped children are the services
  it once started, which are counted as themselves.

Each process is sampled under its instance name (`order`, `order-2`, `kafka`, `kafka-3`, ...)
and its delta counted for its component (`order`, `kafka`): replicas and broker nodes add up.
A process whose PID changed between two samples (a restart), or that is in only one of them,
leaves its component without a delta (NaN).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
POSTGRES = "postgres"
LOADGEN = "loadgen"
NAN = float("nan")


@dataclass(frozen=True)
class ProcStat:
    """The fields of /proc/<pid>/stat the accounting needs (times in clock ticks)."""

    pid: int
    ppid: int
    utime: int
    stime: int
    cutime: int
    cstime: int

    @property
    def own(self) -> int:
        return self.utime + self.stime

    @property
    def with_children(self) -> int:
        return self.own + self.cutime + self.cstime


def parse_stat(text: str) -> ProcStat:
    """Parse one /proc/<pid>/stat line; the command name may hold spaces and parentheses."""
    head, _, rest = text.rpartition(")")
    pid = int(head.split("(", 1)[0])
    fields = rest.split()  # fields[0] is the state (field 3 of proc(5))
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])  # fields 14-17 of proc(5)
    return ProcStat(pid, ppid, utime, stime, cutime, cstime)


def postgres_ticks(postmaster: ProcStat, processes: Iterable[ProcStat]) -> int:
    """The postmaster's and its children's ticks: reaped ones via cutime/cstime, live ones own."""
    children = (p for p in processes if p.ppid == postmaster.pid)
    return postmaster.with_children + sum(child.with_children for child in children)


def read_stat(pid: int) -> ProcStat | None:
    try:
        return parse_stat(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, ValueError, IndexError):
        return None


def all_stats() -> list[ProcStat]:
    stats = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := read_stat(int(entry.name))) is not None:
            stats.append(stat)
    return stats


@dataclass(frozen=True)
class CpuSample:
    """Seconds of CPU per component so far, and the PID each was read from."""

    seconds: Mapping[str, float]
    pids: Mapping[str, int]


class CpuProbe:
    """Samples the components named by `pids()` (e.g. order, kafka, postgres) and this process."""

    def __init__(self, pids: Callable[[], Mapping[str, int | None]]) -> None:
        self.pids = pids

    def sample(self) -> CpuSample:
        seconds: dict[str, float] = {}
        found: dict[str, int] = {}
        processes: list[ProcStat] | None = None
        for name, pid in self.pids().items():
            stat = read_stat(pid) if pid is not None else None
            if stat is None:
                continue
            if name == POSTGRES:
                processes = all_stats() if processes is None else processes
                ticks = postgres_ticks(stat, processes)
            else:
                ticks = stat.with_children
            seconds[name], found[name] = ticks / CLOCK_TICKS, stat.pid
        me = read_stat(os.getpid())
        if me is not None:
            seconds[LOADGEN], found[LOADGEN] = me.own / CLOCK_TICKS, me.pid
        return CpuSample(seconds, found)


def component_of(instance: str) -> str:
    """`order-2` -> `order`, `kafka-3` -> `kafka`; a name without a number stays as it is."""
    head, _, number = instance.rpartition("-")
    return head if head and number.isdigit() else instance


def deltas(before: CpuSample, after: CpuSample) -> dict[str, float]:
    """CPU seconds each component used between two samples, its instances summed (NaN where
    one of them restarted, appeared or went away)."""
    out: dict[str, float] = {}
    for name in {*before.seconds, *after.seconds}:
        same = name in before.pids and before.pids.get(name) == after.pids.get(name)
        used = after.seconds[name] - before.seconds[name] if same else NAN
        component = component_of(name)
        out[component] = out.get(component, 0.0) + used
    return out
