"""The bounded load: place the plan's orders over HTTP, retry through outages, cancel some."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from saga_e2e.chaos.plan import DEPOSIT_CENTS, OrderSpec, Plan
from saga_e2e.client import SagaClient, ServiceUrls

Progress = Callable[[str], None]
REQUEST_DEADLINE_S = 180.0  # per request, retries included: longer than any planned outage
LATE_CANCEL_WAIT_S = 30.0  # cancel_late gives up waiting for CONFIRMED after this


@dataclass
class Placed:
    """An accepted order: a 201 came back for its Idempotency-Key."""

    spec: OrderSpec
    order_id: str
    cancel: str | None = None  # "accepted" | "ambiguous" | None


@dataclass
class LoadRecord:
    """Everything the load did, shared by its threads (mutate under `lock`)."""

    placed: dict[str, Placed] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)
    attempted: int = 0
    retries: int = 0
    deposits: Counter[str] = field(default_factory=Counter)  # acknowledged, per customer
    deposits_ambiguous: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


def send(
    call: Callable[[], httpx.Response], record: LoadRecord, stop: threading.Event
) -> httpx.Response | None:
    """`call()` until it answers below 500; None if the deadline passes or the run stops."""
    until, delay = time.monotonic() + REQUEST_DEADLINE_S, 0.1
    while True:
        try:
            response = call()
            if response.status_code < 500:
                return response
        except httpx.TransportError:
            pass
        if time.monotonic() > until or stop.is_set():
            return None
        with record.lock:
            record.retries += 1
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


def set_up(plan: Plan, client: SagaClient) -> None:
    """Products and accounts of the plan, before any fault (waits for the catalog to follow)."""
    for sku, (quantity, price) in plan.products.items():
        client.put_product(sku, quantity=quantity, price_cents=price)
    for customer, cents in plan.opening.items():
        client.open_account(customer, cents)


class Balanced:
    """The order service's replicas as a load balancer serves them: each client thread starts
    on a replica of its own, and a request that cannot reach it goes to the next one (safe: an
    order carries its Idempotency-Key, and a cancel is idempotent)."""

    def __init__(self, urls: Sequence[str], first: int = 0) -> None:
        self.clients = [httpx.Client(base_url=url, timeout=10.0) for url in urls]
        self.first = first % len(self.clients)

    def get(self, path: str) -> httpx.Response:
        return self._call(lambda client: client.get(path))

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self._call(lambda client: client.post(path, **kwargs))

    def _call(self, request: Callable[[httpx.Client], httpx.Response]) -> httpx.Response:
        count = len(self.clients)
        for step in range(count):
            try:
                return request(self.clients[(self.first + step) % count])
            except httpx.TransportError:
                if step == count - 1:
                    raise
        raise AssertionError("unreachable")

    def __enter__(self) -> Balanced:
        return self

    def __exit__(self, *_: object) -> None:
        for client in self.clients:
            client.close()


class Load:
    """Places the plan's orders from `concurrency` threads; a canceller handles cancel_late."""

    def __init__(self, plan: Plan, urls: ServiceUrls, concurrency: int, seed: int) -> None:
        self.plan, self.urls, self.concurrency = plan, urls, concurrency
        self.order_urls: list[str] = [urls.order]  # every replica of the order service
        self.gate: Callable[[int], None] = lambda index: None
        self.rate = 0.0  # orders per second at most; 0 = unpaced
        self._began = time.monotonic()
        self.rng = random.Random(seed)
        self.record = LoadRecord()
        self.stop = threading.Event()
        self._late: deque[tuple[float, float, Placed]] = deque()
        self._placing_done = threading.Event()

    def placing_begun(self) -> int:
        """How many of the plan's orders have been started."""
        return self.record.attempted

    def run(self) -> None:
        """Place every order and finish the late cancels; returns when all are done."""
        self._began = time.monotonic()
        workers = [
            threading.Thread(target=self._work, args=(n,), name=f"chaos-load-{n}", daemon=True)
            for n in range(self.concurrency)
        ]
        canceller = threading.Thread(target=self._cancel_late, name="chaos-cancel", daemon=True)
        for thread in (*workers, canceller):
            thread.start()
        for thread in workers:
            thread.join()
        self._placing_done.set()
        canceller.join()

    def _next(self) -> OrderSpec | None:
        with self.record.lock:
            if self.record.attempted >= len(self.plan.orders) or self.stop.is_set():
                return None
            spec = self.plan.orders[self.record.attempted]
            self.record.attempted += 1
            return spec

    def _work(self, thread: int) -> None:
        with (
            Balanced(self.order_urls, thread) as order,
            httpx.Client(base_url=self.urls.payment, timeout=10.0) as payment,
        ):
            while (spec := self._next()) is not None:
                if self.rate > 0:
                    time.sleep(max(0.0, self._began + spec.index / self.rate - time.monotonic()))
                self.gate(spec.index)
                if spec.index % self.plan.deposit_every == 0:
                    self._deposit(payment, self.plan.rich[spec.index % len(self.plan.rich)])
                placed = self._place(order, spec)
                if placed is None:
                    continue
                if spec.scenario == "cancel_early":
                    time.sleep(self.rng.uniform(0.0, 0.3))
                    self._cancel(order, placed)
                elif spec.scenario == "cancel_late":
                    with self.record.lock:
                        now = time.monotonic()
                        self._late.append((now + 0.5, now, placed))

    def _place(self, order: Balanced, spec: OrderSpec) -> Placed | None:
        body = {
            "customer_id": spec.customer_id,
            "items": [{"sku": sku, "quantity": qty} for sku, qty in spec.items],
        }
        headers = {"Idempotency-Key": spec.key}
        response = send(lambda: order.post("/orders", json=body, headers=headers), *self._ctx())
        if response is None or response.status_code != 201:
            why = "no answer" if response is None else f"{response.status_code} {response.text}"
            with self.record.lock:
                self.record.rejected.append(f"order {spec.index} ({spec.scenario}): {why}")
            return None
        placed = Placed(spec, str(response.json()["order_id"]))
        with self.record.lock:
            self.record.placed[placed.order_id] = placed
        return placed

    def _cancel(self, order: Balanced, placed: Placed) -> None:
        response = send(lambda: order.post(f"/orders/{placed.order_id}/cancel"), *self._ctx())
        placed.cancel = (
            "accepted" if response is not None and response.status_code == 202 else ("ambiguous")
        )

    def _deposit(self, payment: httpx.Client, customer: str) -> None:
        # Deposits carry no idempotency key, so they are never retried: a lost answer is
        # recorded as ambiguous (it may or may not have been applied).
        try:
            response = payment.post(
                f"/accounts/{customer}/deposits", json={"amount_cents": DEPOSIT_CENTS}
            )
            ok = response.status_code == 200
            ambiguous = response.status_code >= 500
        except httpx.TransportError:
            ok, ambiguous = False, True
        with self.record.lock:
            if ok:
                self.record.deposits[customer] += 1
            elif ambiguous:
                self.record.deposits_ambiguous[customer] += 1

    def _cancel_late(self) -> None:
        with Balanced(self.order_urls) as order:
            while not self.stop.is_set():
                with self.record.lock:
                    item = self._late.popleft() if self._late else None
                if item is None:
                    if self._placing_done.is_set():
                        return
                    time.sleep(0.1)
                    continue
                not_before, since, placed = item
                time.sleep(max(0.0, not_before - time.monotonic()))
                self._late_step(order, placed, since)

    def _late_step(self, order: Balanced, placed: Placed, since: float) -> None:
        response = send(lambda: order.get(f"/orders/{placed.order_id}"), *self._ctx())
        status = response.json()["status"] if response and response.status_code == 200 else ""
        if status == "CANCELLED":
            return  # cancelled before we asked: the outcome check will say whether that's right
        if status == "CONFIRMED" or time.monotonic() - since > LATE_CANCEL_WAIT_S:
            self._cancel(order, placed)
            return
        with self.record.lock:
            self._late.append((time.monotonic() + 0.5, since, placed))

    def _ctx(self) -> tuple[LoadRecord, threading.Event]:
        return self.record, self.stop
