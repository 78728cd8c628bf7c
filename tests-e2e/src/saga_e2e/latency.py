"""Benchmark: time from `POST /orders` to `CONFIRMED`, one order at a time.

uv run python -m saga_e2e.latency --orders 20
"""

import argparse
import statistics
import time

from saga_e2e.client import SagaClient, unique


def measure(client: SagaClient, orders: int, poll_s: float) -> list[float]:
    """Place `orders` orders one after another; seconds from POST to CONFIRMED for each."""
    sku, customer = unique("bench-sku"), unique("bench-cust")
    client.put_product(sku, quantity=orders, price_cents=100)
    client.open_account(customer, orders * 100)
    timings = []
    for n in range(1, orders + 1):
        began = time.perf_counter()
        order_id = client.place_order(customer, [(sku, 1)]).json()["order_id"]
        while client.order_status(order_id)["status"] != "CONFIRMED":
            time.sleep(poll_s)
        timings.append(time.perf_counter() - began)
        print(f"order {n:3d}/{orders}: {timings[-1] * 1000:7.1f} ms", flush=True)
    return timings


def main() -> None:
    """Print per-order latencies and their median, p90 and max."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20)
    parser.add_argument("--poll-ms", type=float, default=10.0)
    args = parser.parse_args()
    client = SagaClient()
    try:
        timings = sorted(measure(client, args.orders, args.poll_ms / 1000))
    finally:
        client.close()
    p90 = timings[min(len(timings) - 1, int(len(timings) * 0.9))]
    print(
        f"POST /orders -> CONFIRMED over {len(timings)} orders: "
        f"median {statistics.median(timings) * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms, "
        f"min {timings[0] * 1000:.0f} ms, max {timings[-1] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
