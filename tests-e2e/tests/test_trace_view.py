"""Drawing a trace without Jaeger's UI: tree order, depth, SQL spans hidden, text escaped."""

from saga_e2e.jaeger import Trace, TraceSpan
from saga_e2e.trace_view import is_db, render_html, render_text


def span(span_id: str, parent: str | None, service: str, name: str, start: int, **tags: str):
    return TraceSpan(span_id, parent, service, name, start, dict(tags), duration_us=1_000)


TRACE = Trace(
    "t1",
    [
        span("c", "b", "payment-service", "process OrderCreated", 3_000),
        span("a", None, "order-service", "POST /orders", 0),
        span("q", "a", "order-service", "INSERT", 500, **{"db.system": "postgresql"}),
        span("b", "a", "order-service", "publish order-events", 1_000),
        span("d", "a", "order-service", "<script>", 2_000),
    ],
)


def test_spans_come_in_tree_order_children_by_start() -> None:
    assert [s.span_id for s in TRACE.in_tree_order()] == ["a", "q", "b", "c", "d"]
    assert [TRACE.depth(s) for s in TRACE.in_tree_order()] == [0, 1, 1, 2, 1]


def test_the_text_waterfall_has_a_line_per_span_indented_by_depth() -> None:
    lines = render_text(TRACE).splitlines()
    assert lines[0] == "trace t1: 5 spans over 4.0 ms"
    assert lines[1].endswith("|  order-service: POST /orders")
    assert lines[4].endswith("|      payment-service: process OrderCreated")
    assert lines[4].startswith("+    3.0 ms")


def test_the_html_page_can_hide_sql_spans_and_escapes_names() -> None:
    page = render_html(TRACE, "order <1>", hide_db=True)
    assert "INSERT" not in page and "(1 SQL statements not shown)" in page
    assert "&lt;script&gt;" in page and "<script>" not in page
    assert "order &lt;1&gt;" in page
    assert page.count('<div class="bar"') == 4
    assert "INSERT" in render_html(TRACE, "all")
    assert is_db(TRACE.spans[2]) and not is_db(TRACE.spans[0])
