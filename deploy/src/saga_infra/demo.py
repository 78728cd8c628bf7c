"""Demo data for `make dev`: a few products and funded accounts, loaded over HTTP."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

PRODUCTS = {
    "KEYBOARD-01": {"name": "Mechanical keyboard", "price_cents": 8_900, "quantity": 25},
    "MOUSE-01": {"name": "Wireless mouse", "price_cents": 2_900, "quantity": 50},
    "MONITOR-27": {"name": "27-inch monitor", "price_cents": 24_900, "quantity": 5},
}
ACCOUNTS = {"alice": 100_000, "bob": 5_000}


def _call(method: str, url: str, body: dict[str, Any] | None = None) -> int:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def load(order_url: str, payment_url: str, inventory_url: str, timeout_s: float = 30) -> None:
    """Upsert the demo products and open the demo accounts (existing ones are kept)."""
    for sku, product in PRODUCTS.items():
        status = _call("PUT", f"{inventory_url}/products/{sku}", product)
        if status not in (200, 201):
            raise RuntimeError(f"PUT /products/{sku} answered {status}")
    for customer, balance in ACCOUNTS.items():
        body = {"customer_id": customer, "balance_cents": balance}
        status = _call("POST", f"{payment_url}/accounts", body)
        if status not in (201, 409):
            raise RuntimeError(f"POST /accounts for {customer} answered {status}")
    # The order service's catalog is a projection: wait until it has every demo product.
    until = time.monotonic() + timeout_s
    while time.monotonic() < until:
        if all(_call("GET", f"{order_url}/catalog/{sku}") == 200 for sku in PRODUCTS):
            return
        time.sleep(0.3)
    raise RuntimeError("the order service's catalog did not receive the demo products")
