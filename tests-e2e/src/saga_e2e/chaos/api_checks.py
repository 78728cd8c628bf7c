"""DESIGN.md §6 checked through the public HTTP APIs, for a sample of the run's orders."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from saga_e2e.chaos.load import Placed
from saga_e2e.chaos.plan import Plan
from saga_e2e.client import TERMINAL, SagaClient, ServiceUrls
from saga_e2e.invariants import check_order


def check_orders(
    urls: ServiceUrls, placed: Sequence[Placed], sample: int, rng: random.Random, workers: int
) -> list[str]:
    """Each sampled accepted order is terminal and holds money and stock matching its status."""
    chosen = list(placed) if len(placed) <= sample else rng.sample(list(placed), sample)

    def one(batch: list[Placed]) -> list[str]:
        client = SagaClient(urls)
        problems = []
        try:
            for item in batch:
                response = client.order.get(f"/orders/{item.order_id}")
                if response.status_code != 200:
                    problems.append(
                        f"api lost: GET order {item.order_id} -> {response.status_code}"
                    )
                    continue
                order = response.json()
                if order["status"] not in TERMINAL:
                    problems.append(f"api not terminal: order {item.order_id} is {order['status']}")
                    continue
                problems += [f"api order: {p}" for p in check_order(client, order)]
        finally:
            client.close()
        return problems

    batches = [chosen[n::workers] for n in range(workers)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [p for found in pool.map(one, batches) for p in found]


def check_accounts_and_stock(
    urls: ServiceUrls, plan: Plan, db_balances: Mapping[str, int]
) -> list[str]:
    """Balances agree with the database, the ledger balances, every sku keeps what was put."""
    client = SagaClient(urls)
    problems = []
    try:
        for customer in plan.opening:
            balance = client.balance(customer)
            if balance != db_balances.get(customer):
                problems.append(
                    f"api balance: {customer} {balance} != db {db_balances.get(customer)}"
                )
        summary = client.payment.get("/ledger/summary").json()
        if not summary["balanced"]:
            problems.append(f"api money: /ledger/summary is not balanced: {summary}")
        for sku, (quantity, _) in plan.products.items():
            product = client.product(sku)
            if product["available"] < 0 or product["available"] + product["reserved"] != quantity:
                problems.append(
                    f"api stock: {sku} available {product['available']} + reserved "
                    f"{product['reserved']} != {quantity} put"
                )
    finally:
        client.close()
    return problems


def balances(conn_rows: Sequence[tuple[object, object]]) -> dict[str, int]:
    """customer -> balance, from (customer_id, balance_cents) rows."""
    return {str(customer): int(str(cents)) for customer, cents in conn_rows}
