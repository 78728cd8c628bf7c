"""The bench's own test data over HTTP: products with huge stock, customers with huge balances.

Every bench order is a happy path (one unit of a stocked sku, a funded customer), so it ends
CONFIRMED. Each step gets its own customers, so its orders are found by customer id.
"""

from __future__ import annotations

import itertools
import time

import httpx

from saga_e2e.bench.loadgen import order_body

SKUS = 8  # spread over skus and customers, so no single row is every order's hot spot
CUSTOMERS_PER_STEP = 8
STOCK = 2**31 - 1  # inventory's MAX_UNITS
BALANCE_CENTS = 10**12  # payment's MAX_CENTS
PRICE_CENTS = 1
CATALOG_WAIT_S = 60.0


def set_up_products(inventory: str, order: str, run_id: str) -> list[str]:
    """PUT the run's products, then wait until the order service's catalog has every one."""
    skus = [f"{run_id}-sku{n}" for n in range(SKUS)]
    with httpx.Client(base_url=inventory, timeout=10) as client:
        for sku in skus:
            body = {"name": sku, "price_cents": PRICE_CENTS, "quantity": STOCK}
            client.put(f"/products/{sku}", json=body).raise_for_status()
    missing, until = set(skus), time.monotonic() + CATALOG_WAIT_S
    with httpx.Client(base_url=order, timeout=10) as client:
        while missing:
            missing = {sku for sku in missing if client.get(f"/catalog/{sku}").status_code != 200}
            if missing and time.monotonic() > until:
                raise RuntimeError(f"order service's catalog lacks {sorted(missing)}")
            time.sleep(0.1 if missing else 0)
    return skus


def open_customers(payment: str, prefix: str) -> list[str]:
    """Open the step's accounts (`<prefix>-c<n>`) with the largest balance allowed."""
    customers = [f"{prefix}-c{n}" for n in range(CUSTOMERS_PER_STEP)]
    with httpx.Client(base_url=payment, timeout=10) as client:
        for customer in customers:
            body = {"customer_id": customer, "balance_cents": BALANCE_CENTS}
            client.post("/accounts", json=body).raise_for_status()
    return customers


def bodies(customers: list[str], skus: list[str], count: int) -> list[bytes]:
    """`count` order bodies, round robin over the customers and the skus."""
    pairs = zip(itertools.cycle(customers), itertools.cycle(skus), strict=False)
    return [order_body(c, s) for c, s in itertools.islice(pairs, count)]
