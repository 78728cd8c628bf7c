"""The saga deadline: a loop that cancels, as timed_out, every order open for too long.

Every instance runs one. Each pass claims overdue orders in batches (`SELECT ... FOR UPDATE
SKIP LOCKED`), lets the domain time them out and commits the cancellations with their
`OrderCancelled` in the outbox, so instances share the work, cancel an order once, and never
cancel one confirmed meanwhile. Payment and inventory compensate on the `OrderCancelled`.
"""

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from order_service.handlers import TimeOutOrders, UnitOfWork, time_out_orders

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


class SagaDeadline:
    """Cancels every order still open `deadline_s` after it was placed, every `every_s`."""

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        *,
        deadline_s: float,
        every_s: float,
        batch_max: int = 100,
        clock: Clock = _now,
    ) -> None:
        self._uow = uow
        self.deadline = timedelta(seconds=deadline_s)
        self.every_s = every_s
        self.batch_max = batch_max
        self._clock = clock
        self._failing = False

    def sweep(self, stop: threading.Event | None = None) -> int:
        """Time out the overdue orders, a batch per transaction, until none is left; how many."""
        total = 0
        while stop is None or not stop.is_set():
            command = TimeOutOrders(self._clock() - self.deadline, self.batch_max)
            done = len(time_out_orders(command, self._uow()))
            total += done
            if done < self.batch_max:
                break
        return total

    def run(self, stop: threading.Event) -> None:
        """Sweep every `every_s` until `stop` is set (a `LoopThreads` loop)."""
        while not stop.wait(self.every_s):
            try:
                self.sweep(stop)
            except Exception as error:  # the database away: the next tick tries again
                if not self._failing:
                    log.warning("saga deadline check failed", error=_first_line(error))
                self._failing = True
            else:
                if self._failing:
                    log.info("saga deadline check works again")
                self._failing = False


def _first_line(error: Exception) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__
