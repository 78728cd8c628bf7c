"""The README's pictures of a running stack, taken with Debian's headless Chromium.

    python -m saga_e2e.screenshots --out docs [--load-s 120]

Against the stack in the environment (`make dev`): a mixed load (confirmed orders, orders
cancelled for want of stock and refunded, orders declined for want of funds) for `--load-s`
seconds, then
- `trace.png`: one refunded order's trace, drawn from Jaeger's query API (`trace_view`);
- `prometheus-saga.png`, `prometheus-delivery.png`: Prometheus graphs of dashboard queries;
- `prometheus-alerts.png`: the alert rules and their states;
- `ui-order.png`, `ui-orders.png`, `ui-dead-letters.png`: the order service's operator pages.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from saga_e2e.client import SagaClient, ServiceUrls, unique
from saga_e2e.jaeger import trace_of_order
from saga_e2e.trace_view import render_html
from saga_infra.settings import Settings

SAGA_GRAPHS = [
    'sum by (outcome) (rate(saga_duration_seconds_count{job="saga"}[1m]))',
    "histogram_quantile(0.99, sum by (outcome, le) "
    '(rate(saga_duration_seconds_bucket{job="saga"}[1m])))',
    'max by (status) (saga_orders{job="saga"})',
]
DELIVERY_GRAPHS = [
    'sum by (group) (max by (group, topic, partition) (saga_consumer_lag{job="saga"}))',
    'max by (service) (saga_outbox_backlog_rows{job="saga"})',
    "histogram_quantile(0.99, sum by (service, le) "
    '(rate(saga_relay_publish_latency_seconds_bucket{job="saga"}[1m])))',
]


def chromium() -> str:
    """Debian's chromium (`CHROMIUM_BIN` to use another)."""
    found = os.environ.get("CHROMIUM_BIN") or shutil.which("chromium")
    if not found:
        raise SystemExit("screenshots: chromium not found (apt-get install chromium)")
    return found


def screenshot(
    url: str, out: Path, size: tuple[int, int] = (1400, 1000), *, quiet: bool = False
) -> None:
    """Load `url` headless (scripts run for a few virtual seconds) and save a PNG."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",  # root in a container has no user namespaces for the sandbox
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={size[0]},{size[1]}",
                "--virtual-time-budget=8000",
                f"--screenshot={out}",
                url,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    if not out.exists() or not out.read_bytes().startswith(b"\x89PNG"):
        raise SystemExit(f"screenshots: chromium wrote no PNG for {url}")
    if not quiet:
        print(f"wrote {out}")


def graph_url(prometheus: str, expr: str, range_: str = "5m") -> str:
    """Prometheus's (classic) graph page of one expression."""
    params = {"g0.expr": expr, "g0.tab": "0", "g0.range_input": range_}
    return f"{prometheus}/classic/graph?{urllib.parse.urlencode(params)}"


def graphs(prometheus: str, exprs: Sequence[str], out: Path) -> None:
    """One screenshot per expression's graph, stacked into one PNG."""
    with tempfile.TemporaryDirectory() as tmp:
        parts = []
        for n, expr in enumerate(exprs):
            part = Path(tmp) / f"{n}.png"
            screenshot(graph_url(prometheus, expr), part, (1400, 860), quiet=True)
            parts.append(Image.open(part).convert("RGB"))
        sheet = Image.new("RGB", (max(p.width for p in parts), sum(p.height for p in parts)))
        top = 0
        for part_image in parts:
            sheet.paste(part_image, (0, top))
            top += part_image.height
        sheet.save(out)
    print(f"wrote {out}")


def load(saga: SagaClient, seconds: float, workers: int = 3) -> str:
    """Place mixed orders for `seconds`; return one order that was cancelled and refunded."""
    sku, empty = unique("sku"), unique("sku")
    saga.put_product(sku, quantity=100_000, price_cents=100)
    saga.put_product(empty, quantity=0, price_cents=100)
    rich, poor = unique("cust"), unique("cust")
    saga.open_account(rich, 10**9)
    saga.open_account(poor, 0)
    refunded: list[str] = []
    stop = time.monotonic() + seconds

    def work(n: int) -> None:
        client = SagaClient()
        try:
            i = n
            while time.monotonic() < stop:
                customer, item = (poor, sku) if i % 7 == 0 else (rich, empty if i % 5 == 0 else sku)
                order_id = client.place_order(customer, [(item, 1)]).json()["order_id"]
                if item == empty and not refunded:
                    refunded.append(order_id)
                client.wait_terminal(order_id, 60)
                i += workers
        finally:
            client.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return refunded[0]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m saga_e2e.screenshots", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--load-s", type=float, default=120.0, help="default: 120")
    args = parser.parse_args(argv)
    settings = Settings.from_env(os.environ)
    args.out.mkdir(parents=True, exist_ok=True)
    saga = SagaClient()
    try:
        if not saga.all_ready():
            print("screenshots: the services are not ready; run `make dev`", file=sys.stderr)
            return 1
        print(f"screenshots: {args.load_s:.0f} s of mixed orders against {saga.urls.order}")
        order_id = load(saga, args.load_s)
    finally:
        saga.close()
    time.sleep(6)  # the services' span exporters send every 5 s
    trace = trace_of_order(order_id, until=[("payment-service", "publish payment-events")])
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "trace.html"
        title = f"order {order_id}: cancelled (out of stock), refunded"
        page.write_text(render_html(trace, title, hide_db=True))
        screenshot(page.as_uri(), args.out / "trace.png", (1400, 1100))
    order_url = ServiceUrls().order
    screenshot(f"{order_url}/ui/orders/{order_id}", args.out / "ui-order.png", (1300, 1000))
    screenshot(f"{order_url}/ui/", args.out / "ui-orders.png", (1300, 700))
    screenshot(f"{order_url}/ui/dead-letters", args.out / "ui-dead-letters.png", (1300, 800))
    prometheus = settings.prometheus_url
    graphs(prometheus, SAGA_GRAPHS, args.out / "prometheus-saga.png")
    graphs(prometheus, DELIVERY_GRAPHS, args.out / "prometheus-delivery.png")
    screenshot(f"{prometheus}/classic/alerts", args.out / "prometheus-alerts.png", (1400, 700))
    return 0


if __name__ == "__main__":
    sys.exit(main())
