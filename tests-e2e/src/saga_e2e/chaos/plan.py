"""What a chaos run does, decided up front from the seed: customers, products, the order mix."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field

SCENARIOS = {
    # scenario -> share of the orders
    "happy": 0.60,
    "insufficient_funds": 0.10,
    "out_of_stock": 0.10,
    "cancel_early": 0.10,
    "cancel_late": 0.10,
}
RICH_CENTS = 10_000_000_000  # never runs out: a happy order can only be confirmed
DEPOSIT_CENTS = 5_000
PLENTY = 10_000_000  # units of an abundant sku: never out of stock


@dataclass(frozen=True)
class OrderSpec:
    """One order to place: its scenario, who orders what, and its Idempotency-Key."""

    index: int
    scenario: str
    customer_id: str
    items: tuple[tuple[str, int], ...]
    key: str


@dataclass(frozen=True)
class Plan:
    """The accounts, products and orders of one run (names carry the run id)."""

    run_id: str
    rich: tuple[str, ...]
    poor: tuple[str, ...]
    products: dict[str, tuple[int, int]]  # sku -> (quantity, price_cents)
    scarce: tuple[str, ...]
    orders: tuple[OrderSpec, ...]
    deposit_every: int = 50  # one deposit per this many orders, to a rich customer
    opening: dict[str, int] = field(default_factory=dict)


def make_plan(orders: int, rng: random.Random) -> Plan:
    """A seeded plan of `orders` orders over a fresh set of customers and products."""
    # Fresh names every run (the seed fixes the mix, not the names): runs share a stack.
    run_id = f"chaos-{uuid.uuid4().hex[:8]}"
    rich = tuple(f"{run_id}-rich{i}" for i in range(max(5, min(100, orders // 100))))
    poor = tuple(f"{run_id}-poor{i}" for i in range(5))
    plenty = [f"{run_id}-sku{i}" for i in range(10)]
    scarce = tuple(f"{run_id}-scarce{i}" for i in range(3))
    # About half the out_of_stock orders find stock left: both outcomes are exercised.
    scarce_units = max(2, int(orders * SCENARIOS["out_of_stock"]) // (2 * len(scarce)))
    products = {sku: (PLENTY, rng.randint(100, 5_000)) for sku in plenty}
    products |= {sku: (scarce_units, rng.randint(100, 5_000)) for sku in scarce}
    opening = dict.fromkeys(rich, RICH_CENTS) | dict.fromkeys(poor, 0)
    names, weights = list(SCENARIOS), list(SCENARIOS.values())
    specs = []
    for index in range(orders):
        scenario = rng.choices(names, weights)[0]
        lines = {sku: rng.randint(1, 3) for sku in rng.sample(plenty, rng.randint(1, 3))}
        if scenario == "out_of_stock":
            # One scarce unit next to abundant lines: reservation is all or nothing.
            lines[rng.choice(scarce)] = 1
        pool = poor if scenario == "insufficient_funds" else rich
        specs.append(
            OrderSpec(
                index=index,
                scenario=scenario,
                customer_id=rng.choice(pool),
                items=tuple(lines.items()),
                key=f"{run_id}-order{index}",
            )
        )
    return Plan(run_id, rich, poor, products, scarce, tuple(specs), opening=opening)


def expected_outcomes(
    scenario: str, cancel: str | None, *, may_time_out: bool = False
) -> set[tuple[str, str | None]]:
    """The terminal (status, cancel_reason) pairs an order may end in.

    `cancel` is "accepted" (a 202 came back), "ambiguous" (sent, no answer) or None.
    `may_time_out`: the run keeps a service down past the saga deadline, so any order in
    flight then may end CANCELLED(timed_out) first (a later cancel of it changes nothing).
    """
    Outcome = tuple[str, str | None]
    timed_out: set[Outcome] = {("CANCELLED", "timed_out")} if may_time_out else set()
    by_customer: set[Outcome] = {("CANCELLED", "customer_cancelled")}
    if scenario == "insufficient_funds":
        return {("CANCELLED", "payment_failed")} | timed_out
    if cancel == "accepted":
        return by_customer | timed_out
    base: set[Outcome] = {("CONFIRMED", None)} | timed_out
    if scenario == "out_of_stock":
        base.add(("CANCELLED", "out_of_stock"))
    return base | by_customer if cancel == "ambiguous" else base
