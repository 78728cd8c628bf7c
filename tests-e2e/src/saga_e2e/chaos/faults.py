"""Faults: crash one process of the stack by its PID, keep it down a moment, start it again.

With replicas (`SERVICE_REPLICAS`) a service fault kills one replica, each in turn; with a
Kafka cluster (`KAFKA_BROKERS`) a Kafka fault kills one broker, each in turn. What the saga did
while a component was down is measured per fault (an `Outage`): how many sagas completed, and,
for a replica kept down past the session timeout, whether its partitions moved to a survivor.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

from saga_infra import groups, kafka_server, postgres_server, services
from saga_infra.services import SERVICES, Service
from saga_infra.settings import Settings

Progress = Callable[[str], None]
KINDS = ("order", "payment", "inventory", "kafka", "postgres")
SERVICE_KINDS = ("order", "payment", "inventory")
READY_TIMEOUT_S = 120.0
SESSION_TIMEOUT_S = 10.0  # shared_events.kafka.consuming.group: session.timeout.ms
HANDOVER_S = SESSION_TIMEOUT_S + 3.0  # a dead member's partitions have moved by then


@dataclass(frozen=True)
class Target:
    """What one fault crashes: a kind, and which of its members (replica or broker node)."""

    kind: str
    member: int = 1
    members: int = 1

    @property
    def name(self) -> str:
        """`payment`, `payment-2`, `kafka node 3`: as the fault lines say."""
        if self.members == 1:
            return self.kind
        if self.kind == "kafka":
            return f"kafka node {self.member}"
        return self.kind if self.member == 1 else f"{self.kind}-{self.member}"

    @property
    def one_of_several(self) -> bool:
        """A replica or a broker with others beside it: the saga should go on without it."""
        return self.members > 1


def targets(kinds: Sequence[str], replicas: int = 1, brokers: int = 1) -> list[Target]:
    """Each scheduled kind with the member it takes down: replicas and nodes in turn."""
    seen: Counter[str] = Counter()
    out = []
    for kind in kinds:
        members = replicas if kind in SERVICE_KINDS else brokers if kind == "kafka" else 1
        out.append(Target(kind, seen[kind] % members + 1, members))
        seen[kind] += 1
    return out


@dataclass(frozen=True)
class Outage:
    """One fault as the saga lived it: how long, and what completed meanwhile."""

    target: Target
    outage_s: float  # from the crash until it answers again (its restart included)
    completed: int | None  # sagas that reached a terminal state while it was down (None: unread)
    handed_over: bool | None = None  # its partitions on the survivors (None: not checked)
    down_s: float = 0.0  # from the crash until its restart began: `completed` is of this time
    completed_until_back: int | None = None  # sagas terminal from the crash until it answered

    @property
    def rate(self) -> float | None:
        """Sagas/s completed while it was down (its restart not included)."""
        if self.completed is None or self.down_s <= 0:
            return None
        return self.completed / self.down_s


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
    outages: list[Outage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, line: str, outage: Outage | None = None) -> None:
        with self.lock:
            self.counts[kind] += 1
            self.lines.append(line)
            if outage is not None:
                self.outages.append(outage)

    @property
    def total(self) -> int:
        with self.lock:
            return sum(self.counts.values())


def inject(
    settings: Settings,
    target: Target | str,
    down_s: float,
    crashed: Callable[[], None],
    before_restart: Callable[[int], None] = lambda pid: None,
) -> float:
    """Crash `target`, call `crashed`, wait `down_s`, call `before_restart` (with the PID it
    killed), restart it until it answers; the outage."""
    target = Target(target) if isinstance(target, str) else target
    kind, member = target.kind, target.member
    began = time.monotonic()
    if kind == "kafka":
        pid = kafka_server.kill(settings, member)
        if pid is None:
            raise RuntimeError(f"{target.name} is not running: cannot inject a fault into it")
        crashed()
        time.sleep(down_s)
        before_restart(pid)
        started = kafka_server.start(settings, kafka_server.find_java(settings), member)
        kafka_server.wait_ready(settings, started, READY_TIMEOUT_S, member)
    elif kind == "postgres":
        # -m immediate: no checkpoint, clients cut off; the restart runs crash recovery.
        pid = postgres_server.stop(settings, mode="immediate")
        if pid is None:
            raise RuntimeError("postgres is not running: cannot inject a fault into it")
        crashed()
        time.sleep(down_s)
        before_restart(pid)
        postgres_server.start(settings, settings.start_timeout)
    else:
        service = replica_of(kind, member)
        pid = services.kill(settings, service)
        if pid is None:
            raise RuntimeError(f"{target.name} is not running: cannot inject a fault into it")
        crashed()
        time.sleep(down_s)
        before_restart(pid)
        services.start(settings, service)
        # Live, not ready: its consumer rejoining the group (up to the session timeout of the
        # killed member) overlaps the next faults; the run waits for readiness at the end.
        _wait_live(settings, service)
    return time.monotonic() - began


def replica_of(kind: str, member: int) -> Service:
    """Replica `member` (1-based) of the service named `kind`."""
    service = next(s for s in SERVICES if s.name == kind)
    return service.replicas(member)[member - 1]


def handed_over(bootstrap: str, group: str, dead_pid: int) -> bool:
    """Whether `group` is stable without the member of `dead_pid`, every partition held."""
    try:
        members = groups.describe(bootstrap, [group]).get(group, [])
    except Exception:  # the broker did not answer: no evidence either way, counted as not
        return False
    alive = [m for m in members if not m.client_id.endswith(f":{dead_pid}")]
    return bool(alive) and len(alive) == len(members) and all(m.partitions for m in alive)


def wait_all_ready(settings: Settings) -> None:
    """Every service replica ready (consumers in their groups) again."""
    for service in services.instances():
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
        kinds: list[str] | list[Target],
        orders: int,
        placing_begun: Callable[[], int],
        rng: random.Random,
        report: Progress,
    ) -> None:
        super().__init__(name="chaos-faults", daemon=True)
        self.settings, self.rng, self.report = settings, rng, report
        self.targets = [Target(k) if isinstance(k, str) else k for k in kinds]
        self.kinds = [target.kind for target in self.targets]
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
        # Every fault keeps its component down this long (0: a drawn 0.5-3 s) ...
        self.outage_s = 0.0
        # ... and a replica or broker among others this long (0: like any fault): a replica past
        # the session timeout, so the group must move its partitions to the survivors.
        self.member_outage_s = 0.0
        # Sagas of the run in a terminal state now (None: unreadable, e.g. Postgres is down).
        self.terminal_count: Callable[[], int | None] = lambda: None

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

    def down_for(self, target: Target, drawn_s: float) -> tuple[float, str]:
        """How long `target` stays down, and what the fault line adds about it."""
        long_s = self.take_long_outage(target.kind)
        if long_s:
            return long_s, " (the long outage)"
        if self.outage_s:
            return self.outage_s, ""
        if self.member_outage_s and target.one_of_several:
            return self.member_outage_s, ""
        return drawn_s, ""

    def run(self) -> None:
        try:
            for index, target in enumerate(self.targets):
                while self.placing_begun() < self.due[index]:
                    if self.stopping.wait(0.05):
                        return
                drawn_s = self.rng.uniform(0.5, 3.0)  # drawn anyway: the seed fixes the rest
                down_s, note = self.down_for(target, drawn_s)
                outage = self._inject(target, down_s, self._crashed[index].set)
                line = (
                    f"fault {index + 1}/{len(self.targets)}: {target.name} crashed, "
                    f"back in {outage.outage_s:.1f}s{note}"
                )
                if outage.completed is not None:
                    line += f", {outage.completed} sagas completed meanwhile"
                if outage.handed_over is not None:
                    line += ", partitions moved" if outage.handed_over else ", partitions STUCK"
                self.log.record(target.kind, line, outage)
                self.on_fault(target.kind, outage.outage_s)
                self.report(line)
            wait_all_ready(self.settings)
        except BaseException as exc:  # reported by the run; the load must not hang on it
            self.error = exc
        finally:
            for crashed in self._crashed:
                crashed.set()

    def _inject(self, target: Target, down_s: float, crashed: Callable[[], None]) -> Outage:
        counts: dict[str, int | None] = {}
        moved: list[bool] = []
        began = time.monotonic()
        restarting = began

        def down() -> None:
            crashed()
            counts["crash"] = self.terminal_count()

        def restart(dead_pid: int) -> None:
            nonlocal restarting
            restarting = time.monotonic()
            counts["restart"] = self.terminal_count()
            if target.one_of_several and target.kind in SERVICE_KINDS and down_s >= HANDOVER_S:
                group = f"{target.kind}-service"
                moved.append(handed_over(self.settings.kafka_bootstrap, group, dead_pid))

        outage_s = inject(self.settings, target, down_s, down, restart)
        counts["back"] = self.terminal_count()

        def since_crash(at: str) -> int | None:
            first, last = counts.get("crash"), counts.get(at)
            return last - first if first is not None and last is not None else None

        return Outage(
            target,
            outage_s,
            since_crash("restart"),
            moved[0] if moved else None,
            down_s=restarting - began,
            completed_until_back=since_crash("back"),
        )
