"""DESIGN.md §6, checked through the public APIs for everything one test created."""

from collections import Counter
from typing import Any

from saga_e2e.client import SagaClient
from shared_events import CancelReason

CANCEL_REASONS = frozenset(reason.value for reason in CancelReason)
"""Why an order may be CANCELLED, `timed_out` (past the saga deadline) included."""


def _money(rows: list[dict[str, Any]], kind: str) -> list[int]:
    return [int(row["amount_cents"]) for row in rows if row["kind"] == kind]


def check_order(client: SagaClient, order: dict[str, Any]) -> list[str]:
    """Money and stock held by one terminal order match its status."""
    order_id, status = order["order_id"], order["status"]
    payments = client.payments(order_id)
    charges, refunds = _money(payments, "charge"), _money(payments, "refund")
    held = Counter[str]()
    for row in client.reservations(order_id):
        if row["status"] == "RESERVED":
            held[row["sku"]] += int(row["quantity"])
    items = Counter[str]()
    for item in order["items"]:
        items[item["sku"]] += int(item["quantity"])

    problems = []
    if len(charges) > 1 or len(refunds) > 1:
        problems.append(f"{order_id}: {len(charges)} charges and {len(refunds)} refunds")
    if refunds and not charges:
        problems.append(f"{order_id}: refund without a charge")
    if status == "CONFIRMED":
        if order["cancel_reason"] is not None:
            problems.append(f"{order_id}: CONFIRMED with cancel reason {order['cancel_reason']}")
        if charges != [order["total_cents"]] or refunds:
            problems.append(f"{order_id}: CONFIRMED with charges {charges}, refunds {refunds}")
        if held != items:
            problems.append(f"{order_id}: CONFIRMED holds {dict(held)}, ordered {dict(items)}")
    elif status == "CANCELLED":
        # Whatever the reason (a timed-out order too): refunded if charged, nothing reserved.
        if order["cancel_reason"] not in CANCEL_REASONS:
            problems.append(f"{order_id}: CANCELLED with reason {order['cancel_reason']!r}")
        if sum(charges) != sum(refunds):
            problems.append(f"{order_id}: CANCELLED nets {sum(charges) - sum(refunds)} cents")
        if held:
            problems.append(f"{order_id}: CANCELLED still holds {dict(held)}")
    else:
        problems.append(f"{order_id}: not terminal ({status})")
    return problems


def check_all(client: SagaClient, deadline_s: float = 30.0) -> list[str]:
    """Every order terminal within the deadline; money and stock conserved. Returns problems."""
    problems: list[str] = []
    charged: Counter[str] = Counter()
    for order_id in client.ledger.orders:
        try:
            order = client.wait_terminal(order_id, deadline_s)
        except AssertionError as exc:
            problems.append(str(exc))
            continue
        problems += check_order(client, order)
        for row in client.payments(order_id):
            sign = 1 if row["kind"] == "charge" else -1
            charged[order["customer_id"]] += sign * int(row["amount_cents"])
    for customer, funded in client.ledger.funded.items():
        balance = client.balance(customer)
        if balance < 0 or balance + charged[customer] != funded:
            problems.append(
                f"{customer}: balance {balance} + net charges {charged[customer]} != {funded}"
            )
    for sku, units in client.ledger.stock.items():
        product = client.product(sku)
        if product["available"] < 0 or product["available"] + product["reserved"] != units:
            problems.append(
                f"{sku}: available/reserved {product['available']}/"
                f"{product['reserved']} do not add up to {units}"
            )
    return problems
