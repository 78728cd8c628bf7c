"""DESIGN.md §6 checked directly in the three schemas, as the superuser, after the run settled."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

import psycopg

from saga_e2e.chaos.plan import DEPOSIT_CENTS, Plan
from saga_e2e.invariants import CANCEL_REASONS

# The event type of an outbox row lives in its headers: [[name, value], ...].
_EVENT_TYPE = (
    "(SELECT h->>1 FROM jsonb_array_elements(headers) h WHERE h->>0 = 'event_type' LIMIT 1)"
)
# Effects that may happen at most once per order, per producing schema.
ONCE_PER_ORDER = {
    "orders": ("OrderCreated", "OrderConfirmed", "OrderCancelled"),
    "payments": ("PaymentProcessed", "PaymentFailed", "PaymentRefunded"),
    "inventory": ("ItemsReserved", "InventoryFailed", "ItemsReleased"),
}
EXCLUSIVE = (("PaymentProcessed", "PaymentFailed"), ("ItemsReserved", "InventoryFailed"))


@dataclass
class DbFacts:
    """What the databases say about the run's orders (filled by `read_facts`)."""

    orders: dict[str, tuple[str, str, str | None, int]] = field(default_factory=dict)
    items: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    money: dict[str, dict[str, tuple[int, int]]] = field(default_factory=lambda: defaultdict(dict))
    held: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))


def read_facts(conn: psycopg.Connection[tuple[object, ...]], run_id: str) -> DbFacts:
    """Orders, items, charges/refunds and reservations of every order of the run's customers."""
    facts, like = DbFacts(), f"{run_id}-%"
    for oid, customer, status, reason, total in conn.execute(
        "SELECT order_id::text, customer_id, status, cancel_reason, total_cents"
        " FROM orders.orders WHERE customer_id LIKE %s",
        (like,),
    ):
        facts.orders[str(oid)] = (str(customer), str(status), _opt(reason), int(str(total)))
    for oid, sku, qty in conn.execute(
        "SELECT i.order_id::text, i.sku, sum(i.quantity) FROM orders.order_items i"
        " JOIN orders.orders o USING (order_id) WHERE o.customer_id LIKE %s GROUP BY 1, 2",
        (like,),
    ):
        facts.items[str(oid)][str(sku)] += int(str(qty))
    for oid, kind, count, cents in conn.execute(
        "SELECT order_id::text, kind, count(*), sum(amount_cents) FROM payments.ledger_entries"
        " WHERE customer_id LIKE %s AND order_id IS NOT NULL GROUP BY 1, 2",
        (like,),
    ):
        facts.money[str(oid)][str(kind)] = (int(str(count)), int(str(cents)))
    for oid, sku, qty in conn.execute(
        "SELECT order_id::text, sku, quantity FROM inventory.reservations"
        " WHERE status = 'RESERVED' AND order_id = ANY(%s::uuid[])",
        (list(facts.orders),),
    ):
        facts.held[str(oid)][str(sku)] += int(str(qty))
    return facts


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


def check_orders(facts: DbFacts, accepted: Mapping[str, object]) -> list[str]:
    """No accepted order lost or stuck; money and stock of each order match its status."""
    problems = [
        f"lost: accepted order {oid} is not in orders.orders"
        for oid in accepted
        if oid not in facts.orders
    ]
    for oid, (_, status, reason, total) in facts.orders.items():
        money = facts.money.get(oid, {})
        (charges, charged), (refunds, refunded) = (
            money.get("charge", (0, 0)),
            money.get("refund", (0, 0)),
        )
        held, items = facts.held.get(oid, Counter()), facts.items.get(oid, Counter())
        if charges > 1:
            problems.append(f"double charge: order {oid} has {charges} charges")
        if refunds > charges:
            problems.append(f"refund without charge: order {oid} ({refunds} refunds)")
        if status == "CONFIRMED":
            if (charges, charged, refunds) != (1, total, 0):
                problems.append(
                    f"confirmed money: order {oid} charged {charges}x {charged} of {total}, "
                    f"refunded {refunds}x"
                )
            if held != items:
                problems.append(f"confirmed stock: order {oid} holds {dict(held)} of {dict(items)}")
        elif status == "CANCELLED":
            # Whatever the reason (timed_out too): refunded if charged, holding no stock.
            if reason not in CANCEL_REASONS:
                problems.append(f"cancel reason: order {oid} cancelled as {reason!r}")
            if charged != refunded:
                problems.append(f"cancelled money: order {oid} nets {charged - refunded} cents")
            if held:
                problems.append(f"cancelled stock: order {oid} still holds {dict(held)}")
        else:
            problems.append(f"not terminal: order {oid} is {status}")
    return problems


def check_money(
    conn: psycopg.Connection[tuple[object, ...]],
    plan: Plan,
    deposits: Mapping[str, int],
    ambiguous: Mapping[str, int],
) -> list[str]:
    """Per customer and globally: balance + charges - refunds = opening + deposits."""
    problems = []
    rows = conn.execute(
        "SELECT a.customer_id, a.balance_cents,"
        " coalesce(sum(e.amount_cents) FILTER (WHERE e.kind = 'charge'), 0),"
        " coalesce(sum(e.amount_cents) FILTER (WHERE e.kind = 'refund'), 0),"
        " coalesce(sum(e.amount_cents) FILTER (WHERE e.kind IN ('opening', 'deposit')), 0)"
        " FROM payments.accounts a LEFT JOIN payments.ledger_entries e USING (customer_id)"
        " GROUP BY 1, 2"
    ).fetchall()
    totals = [0, 0]
    for customer, *cents in rows:
        balance, charges, refunds, funded = (int(str(c)) for c in cents)
        totals[0] += balance + charges - refunds
        totals[1] += funded
        if balance < 0 or balance + charges - refunds != funded:
            problems.append(
                f"money: {customer} balance {balance} + charges {charges} - refunds {refunds}"
                f" != opening + deposits {funded}"
            )
        if str(customer) in plan.opening:
            ours = plan.opening[str(customer)] + deposits.get(str(customer), 0) * DEPOSIT_CENTS
            extra = funded - ours
            if (
                extra < 0
                or extra % DEPOSIT_CENTS
                or extra // DEPOSIT_CENTS > ambiguous.get(str(customer), 0)
            ):
                problems.append(f"money: {customer} was funded {ours} by us, ledger says {funded}")
    if totals[0] != totals[1]:
        problems.append(f"money: globally balances + net charges {totals[0]} != {totals[1]}")
    return problems


def check_stock(conn: psycopg.Connection[tuple[object, ...]], plan: Plan) -> list[str]:
    """available >= 0, reserved = what RESERVED reservations hold, our skus keep what we put."""
    problems = []
    for sku, available, reserved, holding in conn.execute(
        "SELECT p.sku, p.available, p.reserved, coalesce(sum(r.quantity)"
        " FILTER (WHERE r.status = 'RESERVED'), 0) FROM inventory.products p"
        " LEFT JOIN inventory.reservations r USING (sku) GROUP BY 1, 2, 3"
    ):
        sku, available, reserved, holding = (
            str(sku),
            *(int(str(v)) for v in (available, reserved, holding)),
        )
        if available < 0 or reserved != holding:
            problems.append(
                f"stock: {sku} available {available}, reserved {reserved}, held {holding}"
            )
        if sku in plan.products and available + reserved != plan.products[sku][0]:
            problems.append(
                f"stock: {sku} available {available} + reserved {reserved}"
                f" != {plan.products[sku][0]} put"
            )
    return problems


def check_effects(conn: psycopg.Connection[tuple[object, ...]], order_ids: list[str]) -> list[str]:
    """Each saga effect at most once per order in its producer's outbox; never both outcomes."""
    problems = []
    for schema, types in ONCE_PER_ORDER.items():
        seen: dict[str, set[str]] = defaultdict(set)
        for key, event_type, count in conn.execute(
            f"SELECT convert_from(key, 'UTF8'), {_EVENT_TYPE}, count(*) FROM {schema}.outbox"
            f" WHERE {_EVENT_TYPE} = ANY(%s) AND convert_from(key, 'UTF8') = ANY(%s)"
            " GROUP BY 1, 2",
            (list(types), order_ids),
        ):
            seen[str(key)].add(str(event_type))
            if int(str(count)) > 1:
                problems.append(
                    f"duplicate effect: {schema} emitted {event_type} {count}x for {key}"
                )
        for key, emitted in seen.items():
            for pair in EXCLUSIVE:
                if set(pair) <= emitted:
                    problems.append(f"contradicting effects: {schema} emitted {pair} for {key}")
        if schema == "orders":
            missing = [oid for oid in order_ids if "OrderCreated" not in seen.get(oid, set())]
            problems += [f"lost event: no OrderCreated in the outbox for {oid}" for oid in missing]
    return problems
