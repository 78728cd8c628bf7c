"""Open-loop load: `POST /orders` started on a fixed schedule, whatever the answers do.

Request i of a step is due at t0 + i / rate. A loop wakes for each due time and starts every
request due by then as its own task (requests are built before the clock starts), over
keep-alive connections (`wire`). Given several base URLs (the order service's replicas, each
serving HTTP on its own port), request i goes to URL i mod N, so each gets rate / N. A request
is not sent when `max_in_flight` are outstanding (over all URLs) or when it would start more
than `LATE_CAP_S` after the step's window: either way the generator did not offer the rate,
which the sustain rule sees as too few accepted orders. On the 2-core machine it costs about
0.3-0.7 ms of CPU per request (less at higher rates).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from saga_e2e.bench.stats import percentile
from saga_e2e.bench.wire import Pool, ProtocolError, post_request

LATE_CAP_S = 1.0
TICK_S = 0.002  # the loop never sleeps less: at high rates it starts a few requests per wake


@dataclass
class Offered:
    """What the generator did in one step."""

    scheduled: int
    began_wall: float = 0.0  # time.time() of the first due request
    window_s: float = 0.0  # the schedule's length: scheduled / rate
    sent: int = 0
    accepted: int = 0
    failed: Counter[str] = field(default_factory=Counter)  # by status code or error type
    late_p99_ms: float = 0.0  # how late requests started against their due time

    @property
    def ended_wall(self) -> float:
        return self.began_wall + self.window_s


def order_body(customer: str, sku: str) -> bytes:
    """One order of one unit, as the bytes sent (built before the step's clock starts)."""
    return (
        f'{{"customer_id": "{customer}", "items": [{{"sku": "{sku}", "quantity": 1}}]}}'
    ).encode()


def offer(
    base_urls: str | Sequence[str],
    bodies: Sequence[bytes],
    rate: float,
    *,
    on_progress: Callable[[Offered], None] = lambda _: None,
    max_in_flight: int = 256,
    timeout_s: float = 10.0,
) -> Offered:
    """Send `bodies` at `rate` per second, open loop, round robin over `base_urls`; return once
    every answer is in or late."""
    urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
    if not urls:
        raise ValueError("no URL to send the orders to")
    return asyncio.run(_offer(urls, bodies, rate, on_progress, max_in_flight, timeout_s))


async def _offer(
    urls: Sequence[str],
    bodies: Sequence[bytes],
    rate: float,
    on_progress: Callable[[Offered], None],
    max_in_flight: int,
    timeout_s: float,
) -> Offered:
    result = Offered(scheduled=len(bodies), window_s=len(bodies) / rate)
    pools = [Pool(url, max_in_flight, timeout_s) for url in urls]
    requests = [
        (pools[n % len(urls)], post_request(urls[n % len(urls)], "/orders", body))
        for n, body in enumerate(bodies)
    ]

    async def post(request: tuple[Pool, bytes]) -> None:
        pool, wire_bytes = request
        try:
            outcome = str(await pool.send(wire_bytes))
        except (OSError, TimeoutError, ProtocolError, asyncio.IncompleteReadError) as error:
            outcome = type(error).__name__
        if outcome == "201":
            result.accepted += 1
        else:
            result.failed[outcome] += 1

    pending: set[asyncio.Task[None]] = set()
    try:
        lateness = await _schedule(
            requests, rate, post, pending, max_in_flight, result, on_progress
        )
        if pending:
            _, late = await asyncio.wait(pending, timeout=timeout_s + 1)
            for task in late:
                task.cancel()
            if late:
                result.failed["unanswered"] += len(late)
    finally:
        for pool in pools:
            await pool.close()
    result.late_p99_ms = percentile(lateness, 99) * 1000 if lateness else 0.0
    on_progress(result)
    return result


async def _schedule(
    requests: Sequence[tuple[Pool, bytes]],
    rate: float,
    post: Callable[[tuple[Pool, bytes]], Coroutine[Any, Any, None]],
    pending: set[asyncio.Task[None]],
    max_in_flight: int,
    result: Offered,
    on_progress: Callable[[Offered], None],
) -> list[float]:
    """Start each request at its due time; the lateness of each request started."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    result.began_wall = time.time()
    lateness: list[float] = []
    next_report, index, total = began + 0.25, 0, len(requests)
    while index < total:
        now = loop.time()
        if now - began > result.window_s + LATE_CAP_S:
            result.failed["not sent (late)"] += total - index
            break
        due = min(total, int((now - began) * rate) + 1)
        while index < due:
            if len(pending) >= max_in_flight:
                result.failed["not sent (in flight)"] += 1
            else:
                task = asyncio.create_task(post(requests[index]))
                pending.add(task)
                task.add_done_callback(pending.discard)
                result.sent += 1
                lateness.append(now - (began + index / rate))
            index += 1
        if now >= next_report:
            on_progress(result)
            next_report = now + 0.25
        await asyncio.sleep(max(TICK_S, began + index / rate - loop.time()))
    return lateness
