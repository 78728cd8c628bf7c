"""Capped exponential backoff between retries of a failing step."""

from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    """Delays that double from `initial_s` up to `max_s`, until `reset()` after a success."""

    initial_s: float = 0.1
    max_s: float = 10.0
    factor: float = 2.0
    _failures: int = field(default=0, init=False)

    @property
    def failures(self) -> int:
        """Consecutive failures since the last reset."""
        return self._failures

    def next_delay(self) -> float:
        """Count one more failure and return how long to wait before trying again."""
        delay = delay_for(self._failures + 1, self.initial_s, self.max_s, self.factor)
        self._failures += 1
        return delay

    def reset(self) -> None:
        """Forget past failures: the next delay starts from `initial_s` again."""
        self._failures = 0


def delay_for(attempt: int, initial_s: float, max_s: float, factor: float = 2.0) -> float:
    """The wait after the `attempt`-th consecutive failure (1-based), capped at `max_s`."""
    if attempt <= 0:
        return 0.0
    # Cap the exponent too: factor ** 1000 would overflow a float.
    return float(min(max_s, initial_s * factor ** min(attempt - 1, 64)))
