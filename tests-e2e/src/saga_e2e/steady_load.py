"""A closed-loop order load (place, wait terminal, repeat) that counts completions over time."""

import threading
import time
from dataclasses import dataclass, field

from saga_e2e.client import TERMINAL, Ledger, SagaClient, unique


@dataclass
class Completion:
    """One order of the load: when it was placed, when it ended, and how."""

    order_id: str
    placed_at: float
    done_at: float | None
    status: str


@dataclass
class SteadyLoad:
    """`workers` threads each placing one order at a time until stopped."""

    workers: int = 4
    order_deadline_s: float = 30.0
    ledger: Ledger = field(default_factory=Ledger)
    completions: list[Completion] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        """Stock a product and fund a customer for the whole run, then start the workers."""
        setup = SagaClient()
        setup.ledger = self.ledger
        try:
            self.sku, self.customer = unique("poison-load-sku"), unique("poison-load-cust")
            setup.put_product(self.sku, quantity=1_000_000, price_cents=100)
            setup.open_account(self.customer, 100_000_000)
        finally:
            setup.close()
        for n in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"load-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Let every worker finish its current order, then join them."""
        self._stop.set()
        for thread in self._threads:
            thread.join(self.order_deadline_s + 10)

    def rate(self, since: float, until: float) -> float:
        """Orders that reached a terminal state per second in `[since, until)`."""
        done = [c for c in self.completions if c.done_at is not None and since <= c.done_at < until]
        return len(done) / max(until - since, 1e-9)

    def _work(self) -> None:
        client = SagaClient()
        client.ledger = self.ledger
        try:
            while not self._stop.is_set():
                self._one_order(client)
        finally:
            client.close()

    def _one_order(self, client: SagaClient) -> None:
        placed_at = time.monotonic()
        try:
            response = client.place_order(self.customer, [(self.sku, 1)])
            if response.status_code != 201:
                self.errors.append(f"POST /orders -> {response.status_code}")
                time.sleep(0.2)
                return
            order_id = response.json()["order_id"]
            until = placed_at + self.order_deadline_s
            status = "PENDING"
            while time.monotonic() < until:
                status = client.order_status(order_id)["status"]
                if status in TERMINAL:
                    break
                time.sleep(0.02)
        except Exception as error:  # a failing request is a finding, not a reason to stop
            self.errors.append(f"{type(error).__name__}: {error}")
            time.sleep(0.2)
            return
        done_at = time.monotonic() if status in TERMINAL else None
        self.completions.append(Completion(order_id, placed_at, done_at, status))
