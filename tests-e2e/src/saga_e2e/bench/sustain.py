"""When an offered rate counts as sustained, and which rate is the maximum.

A step offers `rate` orders/s open loop for `duration_s` seconds (requests start on a schedule
whatever the answers). It is **sustained** when all three hold:

1. offered: at least 95% of the scheduled requests were sent on schedule and answered 201
   (a generator that fell behind, or a service that refused, did not offer the rate);
2. kept pace: at least 98% of the accepted orders were `CONFIRMED` no later than `grace_s`
   after the step's last scheduled request (the CONFIRMED time is the order service's own
   DB timestamp, see `pg_probe`);
3. bounded backlog: when the schedule ends, the step's orders not yet terminal are at most
   `rate x backlog_s`, and the consumer lag of the three groups is at most
   `rate x backlog_s x 7` (a happy saga is 7 deliveries: OrderCreated to payment and
   inventory, PaymentProcessed to order and inventory, ItemsReserved to order, OrderConfirmed
   to payment and inventory).

With `backlog_s` = 2 s and 15 s steps, a rate more than ~15% above capacity fails rule 3,
which is finer than the ramp's steps (x1.3). The maximum is the highest rate of a ramp whose
every lower step was sustained too (a lucky step above a failed one does not count).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

DELIVERIES_PER_SAGA = 7


@dataclass(frozen=True)
class Rule:
    """The thresholds of the sustain rule (the CLI can change `backlog_s`)."""

    min_offered: float = 0.95
    min_on_time: float = 0.98
    backlog_s: float = 2.0


@dataclass(frozen=True)
class Counts:
    """What one step did, as the rule sees it."""

    rate: float
    scheduled: int
    accepted: int  # answered 201
    on_time: int  # CONFIRMED within the grace after the schedule's end
    not_terminal_end: int  # the step's orders not terminal when the schedule ended
    lag_end: int  # consumer lag of the three groups then


@dataclass(frozen=True)
class Verdict:
    sustained: bool
    reason: str  # "ok", or every rule that failed

    def __str__(self) -> str:
        return "sustained" if self.sustained else f"NOT sustained: {self.reason}"


def judge(counts: Counts, rule: Rule = Rule()) -> Verdict:
    """Apply the three rules of the module docstring to one step."""
    failed: list[str] = []
    offered = counts.accepted / counts.scheduled if counts.scheduled else 0.0
    if offered < rule.min_offered:
        failed.append(f"offered {offered:.0%} < {rule.min_offered:.0%}")
    on_time = counts.on_time / counts.accepted if counts.accepted else 0.0
    if on_time < rule.min_on_time:
        failed.append(f"on time {on_time:.0%} < {rule.min_on_time:.0%}")
    bound = counts.rate * rule.backlog_s
    if counts.not_terminal_end > bound:
        failed.append(f"backlog {counts.not_terminal_end} > {bound:.0f}")
    lag_bound = bound * DELIVERIES_PER_SAGA
    if counts.lag_end > lag_bound:
        failed.append(f"lag {counts.lag_end} > {lag_bound:.0f}")
    return Verdict(not failed, "; ".join(failed) or "ok")


def max_sustained(ramp: Sequence[tuple[float, bool]]) -> float:
    """The highest rate sustained with every lower rate sustained too; 0.0 if the first fails.

    `ramp` is (rate, sustained) per step in the order run; a rate run twice (a retry) counts
    as sustained if its last run was.
    """
    last: dict[float, bool] = {}
    for rate, sustained in ramp:
        last[rate] = sustained
    best = 0.0
    for rate in sorted(last):
        if not last[rate]:
            break
        best = rate
    return best


def ramp_rates(start: float, factor: float, top: float) -> list[float]:
    """Geometric steps start, start*factor, ... up to `top` (rounded to 0.1 orders/s)."""
    if start <= 0 or factor <= 1 or top < start:
        raise ValueError(
            f"bad ramp (start {start:g}, factor {factor:g}, top {top:g}): "
            "rates must be > 0, the factor > 1 and the top >= the start"
        )
    rates, rate = [], start
    while rate <= top * 1.0001:
        rates.append(round(rate, 1))
        rate *= factor
    return rates
