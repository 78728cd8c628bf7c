"""Faults: crash one process of the stack by its PID, keep it down a moment, start it again."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

from saga_infra import kafka_server, postgres_server, services
from saga_infra.services import SERVICES, Service
from saga_infra.settings import Settings

Progress = Callable[[str], None]
KINDS = ("order", "payment", "inventory", "kafka", "postgres")
READY_TIMEOUT_S = 120.0


def schedule(count: int, rng: random.Random, of: Sequence[str] = KINDS) -> list[str]:
    """`count` fault kinds: each kind of `of` once per round, in a seeded order per round."""
    kinds: list[str] = []
    while len(kinds) < count:
        round_ = list(of)
        rng.shuffle(round_)
        kinds += round_
    return kinds[:count]


@dataclass
class FaultLog:
    """What the injector did, for the summary: counts by kind, and each fault's timing."""

    counts: Counter[str] = field(default_factory=Counter)
    lines: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, line: str) -> None:
        with self.lock:
            self.counts[kind] += 1
            self.lines.append(line)

    @property
    def total(self) -> int:
        with self.lock:
            return sum(self.counts.values())


def inject(settings: Settings, kind: str, down_s: float, crashed: Callable[[], None]) -> float:
    """Crash `kind`, call `crashed`, wait `down_s`, restart it until it answers; the outage."""
    began = time.monotonic()
    if kind == "kafka":
        if kafka_server.kill(settings) is None:
            raise RuntimeError("kafka is not running: cannot inject a fault into it")
        crashed()
        time.sleep(down_s)
        pid = kafka_server.start(settings, kafka_server.find_java(settings))
        kafka_server.wait_ready(settings, pid, READY_TIMEOUT_S)
    elif kind == "postgres":
        # -m immediate: no checkpoint, clients cut off; the restart runs crash recovery.
        if postgres_server.stop(settings, mode="immediate") is None:
            raise RuntimeError("postgres is not running: cannot inject a fault into it")
        crashed()
        time.sleep(down_s)
        postgres_server.start(settings, settings.start_timeout)
    else:
        service = next(s for s in SERVICES if s.name == kind)
        if services.kill(settings, service) is None:
            raise RuntimeError(f"{kind} service is not running: cannot inject a fault into it")
        crashed()
        time.sleep(down_s)
        services.start(settings, service)
        # Live, not ready: its consumer rejoining the group (up to the session timeout of the
        # killed member) overlaps the next faults; the run waits for readiness at the end.
        _wait_live(settings, service)
    return time.monotonic() - began


def wait_all_ready(settings: Settings) -> None:
    """Every service ready (consumers in their groups) again."""
    for service in SERVICES:
        services.wait_ready(settings, service, READY_TIMEOUT_S)


def _wait_live(settings: Settings, service: Service) -> None:
    until = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < until:
        try:
            if httpx.get(f"{service.url}/health/live", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if services.running_pid(settings, service) is None:
            raise RuntimeError(f"{service.name} exited; see {service.log_file(settings)}")
        time.sleep(0.2)
    raise RuntimeError(f"{service.name} not live within {READY_TIMEOUT_S:.0f} s")


class FaultInjector(threading.Thread):
    """Injects the scheduled faults at even points of the load, which waits for each crash."""

    def __init__(
        self,
        settings: Settings,
        kinds: list[str],
        orders: int,
        placing_begun: Callable[[], int],
        rng: random.Random,
        report: Progress,
    ) -> None:
        super().__init__(name="chaos-faults", daemon=True)
        self.settings, self.kinds, self.rng, self.report = settings, kinds, rng, report
        self.placing_begun = placing_begun
        # Fault i comes when (i+1)/(n+1) of the orders have been started.
        self.due = [(i + 1) * orders // (len(kinds) + 1) for i in range(len(kinds))]
        self._crashed = [threading.Event() for _ in kinds]
        self.log = FaultLog()
        self.error: BaseException | None = None
        self.stopping = threading.Event()
        self.on_fault: Callable[[str, float], None] = lambda kind, outage_s: None
        # The long outage: the first fault of this kind keeps its component down this long.
        self.long_outage: tuple[str, float] | None = None

    def gate(self, index: int) -> None:
        """Hold order `index` until every fault due before it has crashed its component."""
        for due, crashed in zip(self.due, self._crashed, strict=True):
            if index >= due:
                crashed.wait()

    def take_long_outage(self, kind: str) -> float | None:
        """How long to keep `kind` down if this is the long outage (it comes once)."""
        if self.long_outage is None or self.long_outage[0] != kind:
            return None
        down_s, self.long_outage = self.long_outage[1], None
        return down_s

    def run(self) -> None:
        try:
            for index, kind in enumerate(self.kinds):
                while self.placing_begun() < self.due[index]:
                    if self.stopping.wait(0.05):
                        return
                down_s = self.rng.uniform(0.5, 3.0)  # drawn anyway: the seed fixes the rest
                long_s = self.take_long_outage(kind)
                outage = inject(self.settings, kind, long_s or down_s, self._crashed[index].set)
                line = f"fault {index + 1}/{len(self.kinds)}: {kind} crashed, back in {outage:.1f}s"
                if long_s:
                    line += " (the long outage)"
                self.log.record(kind, line)
                self.on_fault(kind, outage)
                self.report(line)
            wait_all_ready(self.settings)
        except BaseException as exc:  # reported by the run; the load must not hang on it
            self.error = exc
        finally:
            for crashed in self._crashed:
                crashed.set()
