"""A thin HTTP client for the three services, keeping a ledger of what a test created."""

import json
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

import httpx

TERMINAL = frozenset({"CONFIRMED", "CANCELLED"})


@dataclass(frozen=True)
class ServiceUrls:
    """Where the services listen; from env vars, defaulting to the local ports 8001-8003."""

    order: str = field(default_factory=lambda: service_url("ORDER", 8001))
    payment: str = field(default_factory=lambda: service_url("PAYMENT", 8002))
    inventory: str = field(default_factory=lambda: service_url("INVENTORY", 8003))


def service_url(prefix: str, default_port: int) -> str:
    """`<PREFIX>_URL`, else the local stack's `<PREFIX>_HTTP_PORT` (as `saga_infra` starts it)."""
    port = os.environ.get(f"{prefix}_HTTP_PORT", str(default_port))
    return os.environ.get(f"{prefix}_URL", f"http://127.0.0.1:{port}")


@dataclass
class Ledger:
    """What a test put into the system, so invariants can be checked against it afterwards."""

    stock: dict[str, int] = field(default_factory=dict)  # sku -> units put (available+reserved)
    funded: dict[str, int] = field(default_factory=dict)  # customer -> opening + deposits
    orders: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        """One line of JSON (what `LEDGER_FILE_VARIABLE` collects, one line per test)."""
        return json.dumps({"stock": self.stock, "funded": self.funded, "orders": self.orders})

    @classmethod
    def merged(cls, lines: Iterable[str]) -> Self:
        """One ledger of many tests' lines (their customers, skus and orders never overlap)."""
        ledger = cls()
        for line in lines:
            if not line.strip():
                continue
            part = json.loads(line)
            ledger.stock.update({str(k): int(v) for k, v in part["stock"].items()})
            ledger.funded.update({str(k): int(v) for k, v in part["funded"].items()})
            ledger.orders += [str(o) for o in part["orders"] if o not in ledger.orders]
        return ledger


LEDGER_FILE_VARIABLE = "SAGA_E2E_LEDGER_FILE"
"""When set, each test's ledger is appended to that file (a harness checks them all after)."""


def record_ledger(ledger: Ledger, environ: Mapping[str, str] | None = None) -> None:
    """Append `ledger` to the file `SAGA_E2E_LEDGER_FILE` names, if it names one."""
    path = (os.environ if environ is None else environ).get(LEDGER_FILE_VARIABLE, "").strip()
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(ledger.to_json() + "\n")


def unique(prefix: str) -> str:
    """A fresh identifier so tests never share customers, skus or orders."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class SagaClient:
    """Black-box access to order, payment and inventory over HTTP only."""

    def __init__(self, urls: ServiceUrls | None = None, timeout_s: float = 10.0) -> None:
        self.urls = urls or ServiceUrls()
        self.order = httpx.Client(base_url=self.urls.order, timeout=timeout_s)
        self.payment = httpx.Client(base_url=self.urls.payment, timeout=timeout_s)
        self.inventory = httpx.Client(base_url=self.urls.inventory, timeout=timeout_s)
        self.ledger = Ledger()

    def close(self) -> None:
        """Close the three HTTP connections."""
        for client in (self.order, self.payment, self.inventory):
            client.close()

    def all_ready(self) -> bool:
        """True when every service answers 200 on /health/ready."""
        try:
            return all(
                c.get("/health/ready").status_code == 200
                for c in (self.order, self.payment, self.inventory)
            )
        except httpx.HTTPError:
            return False

    # -- set-up -----------------------------------------------------------------------------

    def put_product(self, sku: str, *, quantity: int, price_cents: int = 1_000) -> dict[str, Any]:
        """Create or replace a product and wait until the order service's catalog knows it."""
        response = self.inventory.put(
            f"/products/{sku}", json={"name": sku, "price_cents": price_cents, "quantity": quantity}
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        self.ledger.stock[sku] = body["available"] + body["reserved"]
        self.wait_for(lambda: self._catalog_price(sku) == price_cents, f"catalog has {sku}")
        return body

    def _catalog_price(self, sku: str) -> int | None:
        response = self.order.get(f"/catalog/{sku}")
        return int(response.json()["price_cents"]) if response.status_code == 200 else None

    def open_account(self, customer_id: str, balance_cents: int) -> None:
        """Open a prepaid account."""
        response = self.payment.post(
            "/accounts", json={"customer_id": customer_id, "balance_cents": balance_cents}
        )
        response.raise_for_status()
        self.ledger.funded[customer_id] = balance_cents

    # -- orders -----------------------------------------------------------------------------

    def place_order(
        self, customer_id: str, items: Iterable[tuple[str, int]], *, key: str | None = None
    ) -> httpx.Response:
        """POST /orders; records the order id when accepted."""
        headers = {"Idempotency-Key": key} if key else {}
        body = {
            "customer_id": customer_id,
            "items": [{"sku": sku, "quantity": qty} for sku, qty in items],
        }
        response = self.order.post("/orders", json=body, headers=headers)
        if response.status_code == 201:
            order_id = response.json()["order_id"]
            if order_id not in self.ledger.orders:
                self.ledger.orders.append(order_id)
        return response

    def order_status(self, order_id: str) -> dict[str, Any]:
        """GET /orders/{id}."""
        response = self.order.get(f"/orders/{order_id}")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def wait_terminal(self, order_id: str, deadline_s: float = 30.0) -> dict[str, Any]:
        """Poll until the order is CONFIRMED or CANCELLED."""
        last: dict[str, Any] = {}

        def terminal() -> bool:
            nonlocal last
            last = self.order_status(order_id)
            return last["status"] in TERMINAL

        self.wait_for(
            terminal, f"order {order_id} terminal (last: {last.get('status')})", deadline_s
        )
        return last

    def payments(self, order_id: str) -> list[dict[str, Any]]:
        """Charges and refunds of one order."""
        response = self.payment.get("/payments", params={"order_id": order_id})
        response.raise_for_status()
        rows: list[dict[str, Any]] = response.json()
        return rows

    def reservations(self, order_id: str) -> list[dict[str, Any]]:
        """Reservations of one order."""
        response = self.inventory.get("/reservations", params={"order_id": order_id})
        response.raise_for_status()
        rows: list[dict[str, Any]] = response.json()
        return rows

    def product(self, sku: str) -> dict[str, Any]:
        """GET /products/{sku}."""
        response = self.inventory.get(f"/products/{sku}")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def balance(self, customer_id: str) -> int:
        """Current balance of a prepaid account."""
        response = self.payment.get(f"/accounts/{customer_id}")
        response.raise_for_status()
        return int(response.json()["balance_cents"])

    @staticmethod
    def wait_for(check: Any, what: str, deadline_s: float = 30.0, every_s: float = 0.1) -> None:
        """Poll `check()` until it is truthy; fail naming `what` after the deadline."""
        until = time.monotonic() + deadline_s
        while time.monotonic() < until:
            if check():
                return
            time.sleep(every_s)
        raise AssertionError(f"timed out after {deadline_s:.0f}s waiting for {what}")
