"""What the consumer and the relay report as they work, for metrics to count.

Every call comes after the fact it reports is durable: events applied after their
transaction committed, records dead-lettered after the broker acknowledged them, rows
published after the outbox marked them sent.
"""

from collections.abc import Mapping, Sequence
from typing import Literal, Protocol

Outcome = Literal["applied", "duplicate", "skipped", "dead_lettered", "failed"]
"""What became of one consumed event: applied (its transaction committed), duplicate (the
inbox had it already), skipped (no handler here), dead_lettered, or failed (one attempt
failed; it is retried or, at the last attempt, dead-lettered)."""

UNKNOWN_TYPE = "unknown"
"""The event type of a record whose type header is missing or unreadable."""


class Observer(Protocol):
    """Receives the consumer's and the relay's reports."""

    def handled(self, group: str, event_type: str, outcome: Outcome, count: int = 1) -> None:
        """`count` events of `event_type` consumed by `group` ended with `outcome`."""

    def handler_seconds(self, group: str, seconds_by_type: Mapping[str, float]) -> None:
        """Time the handlers of a committed batch spent, per event type."""

    def batch(self, group: str, events: int, seconds: float) -> None:
        """One fetched batch of `events` records was settled in `seconds`."""

    def published(self, latencies_s: Sequence[float]) -> None:
        """Outbox rows marked sent, each with its time from staged to acknowledged."""


class NoObserver:
    """Reports go nowhere (tests, tools)."""

    def handled(self, group: str, event_type: str, outcome: Outcome, count: int = 1) -> None:
        pass

    def handler_seconds(self, group: str, seconds_by_type: Mapping[str, float]) -> None:
        pass

    def batch(self, group: str, events: int, seconds: float) -> None:
        pass

    def published(self, latencies_s: Sequence[float]) -> None:
        pass
