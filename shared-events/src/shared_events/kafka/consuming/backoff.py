"""Capped exponential backoff with full jitter between retries of a failing step."""

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    """Delays under a ceiling that doubles from `initial_s` up to `max_s`, until `reset()`.

    Full jitter: each delay is drawn uniformly from the top `jitter` share of its ceiling
    (`1.0`, the default: anywhere in (0, ceiling]), so the instances that failed together
    (every replica when the database restarts) do not all come back at the same instant.
    `jitter=0` waits the ceilings exactly. `rng` is injectable: `random.Random(seed)` in tests.
    """

    initial_s: float = 0.1
    max_s: float = 10.0
    factor: float = 2.0
    jitter: float = 1.0
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)
    _failures: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter must be between 0 and 1, not {self.jitter}")

    @property
    def failures(self) -> int:
        """Consecutive failures since the last reset."""
        return self._failures

    def next_delay(self) -> float:
        """Count one more failure and return how long to wait before trying again."""
        self._failures += 1
        return self.delay(self._failures)

    def delay(self, attempt: int) -> float:
        """A wait after the `attempt`-th consecutive failure: jittered, at most its ceiling."""
        ceiling = delay_for(attempt, self.initial_s, self.max_s, self.factor)
        # random() is in [0, 1): the delay is in (ceiling * (1 - jitter), ceiling].
        return ceiling * (1.0 - self.jitter * self.rng.random())

    def reset(self) -> None:
        """Forget past failures: the next delay starts from `initial_s` again."""
        self._failures = 0


def delay_for(attempt: int, initial_s: float, max_s: float, factor: float = 2.0) -> float:
    """The ceiling of the wait after the `attempt`-th consecutive failure (1-based): capped at
    `max_s`, and what `Backoff` waits without jitter."""
    if attempt <= 0:
        return 0.0
    # Cap the exponent too: factor ** 1000 would overflow a float.
    return float(min(max_s, initial_s * factor ** min(attempt - 1, 64)))
