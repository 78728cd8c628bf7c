"""Runs a service's outbox relay, event consumer and other loops in background threads."""

import threading
import time
from collections.abc import Callable, Mapping

import structlog

from shared_events.kafka.consuming.consumer import EventConsumer
from shared_events.kafka.publishing.relay import OutboxRelay

log = structlog.get_logger(__name__)

Loop = Callable[[threading.Event], None]
"""A background loop of a service: runs until the event is set, then returns."""


class LoopThreads:
    """Starts the relay, the consumer and the service's own `loops` beside a web app.

    On stop each loop finishes what it is doing (the consumer its batch and offsets) and the
    threads are joined. `loops` (name -> loop) are the service's periodic jobs, such as the
    order service's saga deadline; they count for `alive`, not for readiness.
    """

    def __init__(
        self,
        relay: OutboxRelay | None,
        consumer: EventConsumer | None,
        loops: Mapping[str, Loop] | None = None,
    ) -> None:
        self.relay = relay
        self.consumer = consumer
        self.loops = dict(loops or {})
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def readiness(self) -> dict[str, bool]:
        """Each loop this worker runs -> whether it is running healthy (consumer also assigned)."""
        parts: dict[str, bool] = {}
        if self.consumer is not None:
            parts["consumer"] = self.alive and self.consumer.assigned and self.consumer.healthy
        if self.relay is not None:
            parts["relay"] = self.alive and self.relay.healthy
        return parts

    @property
    def alive(self) -> bool:
        """Whether every started thread is still running (a dead loop makes a live check fail)."""
        return bool(self._threads) and all(thread.is_alive() for thread in self._threads)

    def start(self) -> None:
        """Start the loops in daemon threads; call once."""
        if self._threads:
            raise RuntimeError("the delivery worker is already started")
        self._stop.clear()
        if self.relay is not None:
            self._spawn("outbox-relay", self.relay.run)
        if self.consumer is not None:
            self._spawn("event-consumer", self.consumer.run)
        for name, loop in self.loops.items():
            self._spawn(name, loop)

    def stop(self, timeout: float = 30.0) -> bool:
        """Ask the loops to finish their batch and commit, then wait; False if one hung."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        hung = [thread.name for thread in self._threads if thread.is_alive()]
        if hung:
            log.error("delivery threads did not stop in time", threads=hung, timeout_s=timeout)
        self._threads = []
        return not hung

    def _spawn(self, name: str, loop: Loop) -> None:
        def guarded() -> None:
            try:
                loop(self._stop)
            except Exception:
                # Surfaced through `alive`/`readiness`; the service's readiness probe fails.
                log.exception("delivery loop crashed", thread=name)

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)
