"""A saga's trace as Jaeger holds it, drawn without Jaeger's UI: a waterfall in the terminal
or as one self-contained HTML page (no script, no CDN).

    python -m saga_e2e.trace_view ORDER_ID [--html trace.html]

The local stack builds Jaeger from its Go module, which carries the query API but not the
UI's web assets (those are built from a separate JavaScript project that no registry here
serves); this reads the same API the UI would.
"""

from __future__ import annotations

import argparse
import html
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx

from saga_e2e.jaeger import Trace, TraceSpan, jaeger_url, trace_of_order

COLOURS = {
    "order-service": "#4e79a7",
    "payment-service": "#f28e2b",
    "inventory-service": "#59a14f",
}
OTHER = "#9c755f"
BAR_CHARS = 40


def _bounds(trace: Trace) -> tuple[int, int]:
    start = min(s.start_us for s in trace.spans)
    end = max(s.start_us + s.duration_us for s in trace.spans)
    return start, max(end - start, 1)


def _ms(us: float) -> str:
    return f"{us / 1000:.1f} ms"


def is_db(span: TraceSpan) -> bool:
    """A span of one SQL statement (psycopg's instrumentation)."""
    return "db.system" in span.tags or "db.system.name" in span.tags


def render_text(trace: Trace) -> str:
    """One line per span in tree order: offset from the trace's start, duration, a bar."""
    if not trace.spans:
        return "no spans"
    start, total = _bounds(trace)
    lines = [f"trace {trace.trace_id}: {len(trace.spans)} spans over {_ms(total)}"]
    for span in trace.in_tree_order():
        left = round((span.start_us - start) / total * BAR_CHARS)
        width = max(1, round(span.duration_us / total * BAR_CHARS))
        bar = " " * left + "#" * min(width, BAR_CHARS - left or 1)
        label = "  " * trace.depth(span) + f"{span.service}: {span.name}"
        offset = f"+{_ms(span.start_us - start):>10}"
        lines.append(f"{offset} {_ms(span.duration_us):>9}  |{bar:<{BAR_CHARS}}|  {label}")
    return "\n".join(lines)


def render_html(trace: Trace, title: str, *, hide_db: bool = False) -> str:
    """The waterfall as one HTML page: a row per span, its bar placed on the trace's time
    (`hide_db`: without the SQL statements' spans, to show the saga's hops)."""
    start, total = _bounds(trace) if trace.spans else (0, 1)
    shown = [s for s in trace.in_tree_order() if not (hide_db and is_db(s))]
    services = sorted({s.service for s in trace.spans})
    legend = "".join(
        f'<span class="key" style="background:{COLOURS.get(s, OTHER)}"></span>{html.escape(s)} '
        for s in services
    )
    rows = "".join(_row(trace, span, start, total) for span in shown)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>
body {{ font: 13px system-ui, sans-serif; margin: 24px; color: #222; }}
h1 {{ font-size: 18px; margin: 0 0 4px; }} .meta {{ color: #666; margin-bottom: 12px; }}
table {{ border-collapse: collapse; width: 100%; table-layout: fixed; }}
td {{ padding: 3px 6px; border-bottom: 1px solid #eee; white-space: nowrap;
      overflow: hidden; text-overflow: ellipsis; }}
td.name {{ width: 42%; }} td.time {{ width: 8%; text-align: right; color: #555; }}
.track {{ position: relative; height: 14px; background: #f6f6f6; }}
.bar {{ position: absolute; top: 0; height: 14px; min-width: 2px; border-radius: 2px; }}
.key {{ display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 12px; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<div class="meta">trace {html.escape(trace.trace_id)} · {len(trace.spans)} spans
{f"({len(trace.spans) - len(shown)} SQL statements not shown)" if hide_db else ""} ·
{_ms(total)} from first to last · {legend}</div>
<table><tr><th style="text-align:left">span</th><th>start</th><th>duration</th>
<th style="text-align:left">0 … {_ms(total)}</th></tr>{rows}</table>
</body></html>
"""


def _row(trace: Trace, span: TraceSpan, start: int, total: int) -> str:
    left = (span.start_us - start) / total * 100
    width = span.duration_us / total * 100
    colour = COLOURS.get(span.service, OTHER)
    indent = 14 * trace.depth(span)
    name = f"<b>{html.escape(span.service)}</b> {html.escape(span.name)}"
    return (
        f'<tr><td class="name" style="padding-left:{indent + 6}px">{name}</td>'
        f'<td class="time">+{_ms(span.start_us - start)}</td>'
        f'<td class="time">{_ms(span.duration_us)}</td>'
        f'<td><div class="track"><div class="bar" style="left:{left:.2f}%;'
        f'width:{width:.2f}%;background:{colour}"></div></div></td></tr>'
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m saga_e2e.trace_view", description="Draw an order's trace from Jaeger."
    )
    parser.add_argument("order_id", help="the order (the saga's correlation id)")
    parser.add_argument("--html", type=Path, metavar="FILE", help="also write an HTML page")
    parser.add_argument("--wait", type=float, default=5.0, metavar="S", help="default: 5")
    args = parser.parse_args(argv)
    try:
        trace = trace_of_order(args.order_id, deadline_s=args.wait)
    except httpx.HTTPError as error:
        print(f"trace_view: Jaeger at {jaeger_url()} did not answer: {error}", file=sys.stderr)
        return 1
    if not trace.spans:
        print(f"trace_view: Jaeger holds no trace of order {args.order_id}", file=sys.stderr)
        return 1
    print(render_text(trace))
    if args.html is not None:
        args.html.write_text(render_html(trace, f"order {args.order_id}"))
        print(f"wrote {args.html}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
