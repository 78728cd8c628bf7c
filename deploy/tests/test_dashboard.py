"""The Grafana dashboard (deploy/grafana/dashboards/saga.json) and saga_infra.dashboard."""

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from saga_infra import dashboard
from saga_infra.dashboard import PanelQuery, panel_queries, promql

ROOT = Path(__file__).resolve().parents[2]
PATH = ROOT / "deploy/grafana/dashboards/saga.json"
# Panels that hold no Prometheus query.
NO_QUERY_TYPES = {"row", "text", "dashlist", "news"}
REQUIRED_METRICS = [
    "saga_duration_seconds",
    "saga_timed_out_total",
    "saga_orders",
    "saga_consumer_lag",
    "saga_outbox_backlog_rows",
    "saga_outbox_oldest_age_seconds",
    "saga_dead_letter_records",
    "saga_handler_duration_seconds",
    "saga_batch_duration_seconds",
    "saga_http_requests_total",
    "saga_http_request_duration_seconds",
    "saga_relay_publish_latency_seconds",
]


@pytest.fixture(scope="module")
def model() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PATH.read_text())
    return data


@pytest.fixture(scope="module")
def queries() -> list[PanelQuery]:
    return panel_queries()


def _all_panels(model: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for panel in model["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def _uid(datasource: Any) -> Any:
    return datasource.get("uid") if isinstance(datasource, dict) else datasource


def _is_jaeger(panel: dict[str, Any]) -> bool:
    return _uid(panel.get("datasource")) == "jaeger"


def _uses(expr: str, metric: str) -> bool:
    # A histogram's or counter's series: name_bucket, name_count, name_sum, name_total.
    return re.search(rf"\b{metric}(_bucket|_count|_sum)?\b", expr) is not None


def test_the_dashboard_is_grafanas_model_with_a_stable_uid(model: dict[str, Any]) -> None:
    assert model["uid"] == "saga"
    assert model["title"] == "Saga"
    assert model["schemaVersion"] == 39
    assert model["id"] is None  # provisioned: Grafana assigns its own
    assert model["panels"]
    assert dashboard.default_path() == PATH
    assert dashboard.load() == model


def test_panel_ids_are_unique(model: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in _all_panels(model)]
    assert all(isinstance(panel_id, int) for panel_id in ids)
    assert len(ids) == len(set(ids))


def test_panels_fit_the_grid_without_overlapping(model: dict[str, Any]) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in _all_panels(model):
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, (panel["title"], cells.get((x, y)))
                cells[(x, y)] = panel["title"]


def test_every_query_panel_has_a_prometheus_query(model: dict[str, Any]) -> None:
    for panel in _all_panels(model):
        if panel["type"] in NO_QUERY_TYPES or _is_jaeger(panel):
            continue
        title = panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}, title
        targets = panel["targets"]
        assert targets, title
        assert any(target.get("expr", "").strip() for target in targets), title
        for target in targets:
            assert _uid(target.get("datasource", panel["datasource"])) == "prometheus", title
            assert target["expr"].strip(), (title, target["refId"])
        ref_ids = [target["refId"] for target in targets]
        assert len(ref_ids) == len(set(ref_ids)), title


def test_every_datasource_is_prometheus_or_jaeger(model: dict[str, Any]) -> None:
    for panel in _all_panels(model):
        sources = [panel.get("datasource")] + [
            t.get("datasource") for t in panel.get("targets", [])
        ]
        for source in sources:
            if source is not None:
                assert source in (
                    {"type": "prometheus", "uid": "prometheus"},
                    {"type": "jaeger", "uid": "jaeger"},
                ), panel["title"]


def test_the_required_topics_have_panels(queries: list[PanelQuery]) -> None:
    for metric in REQUIRED_METRICS:
        assert any(_uses(query.expr, metric) for query in queries), metric


def _exprs_of(queries: list[PanelQuery], title: str) -> list[str]:
    exprs = [query.expr for query in queries if query.title == title]
    assert exprs, title
    return exprs


def test_saga_throughput_and_duration_are_by_outcome(queries: list[PanelQuery]) -> None:
    throughput = _exprs_of(queries, "Saga throughput")
    assert any("sum by (outcome) (rate(saga_duration_seconds_count" in expr for expr in throughput)
    duration = _exprs_of(queries, "Saga duration")
    for quantile in ("0.5", "0.9", "0.99"):
        assert any(
            expr.startswith(f"histogram_quantile({quantile}, sum by (outcome, le)")
            for expr in duration
        ), quantile


def test_broker_and_database_gauges_count_each_value_once_over_replicas(
    queries: list[PanelQuery],
) -> None:
    # Every instance reports the same partition's lag, the same outbox, the same orders.
    (lag,) = _exprs_of(queries, "Consumer lag per group")
    assert lag.startswith("sum by (group) (max by (group, topic, partition) (saga_consumer_lag")
    (dead,) = _exprs_of(queries, "Dead-letter records per group")
    assert dead.startswith("sum by (group) (max by (group, topic) (saga_dead_letter_records")
    for query in queries:
        for gauge in ("saga_orders", "saga_outbox_backlog_rows", "saga_outbox_oldest_age_seconds"):
            if _uses(query.expr, gauge):
                assert query.expr.startswith("max"), query


def test_http_red_panels(queries: list[PanelQuery]) -> None:
    (rate,) = _exprs_of(queries, "HTTP request rate")
    assert "by (service, route)" in rate and "saga_http_requests_total" in rate
    (errors,) = _exprs_of(queries, "HTTP 5xx error ratio")
    assert 'status=~"5.."' in errors
    (p99,) = _exprs_of(queries, "HTTP p99 duration")
    assert p99.startswith("histogram_quantile(0.99, sum by (service, route, le)")


def test_every_query_reads_job_saga_and_rates_over_the_rate_interval(
    queries: list[PanelQuery],
) -> None:
    for query in queries:
        assert re.findall(r"\bsaga_\w+", query.expr), query
        for selector in re.findall(r"\bsaga_\w+(\{[^}]*\})?", query.expr):
            assert 'job="saga"' in selector, query
        ranges = re.findall(r"\[([^\]]*)\]", query.expr)
        assert all(window == "$__rate_interval" for window in ranges), query
        assert ("rate(" in query.expr) == bool(ranges), query


def test_no_grafana_variable_is_left_after_substitution(queries: list[PanelQuery]) -> None:
    assert any("$__rate_interval" in query.expr for query in queries)
    for query in queries:
        for window in ("1m", "30s"):
            text = query.promql(window)
            assert "$" not in text, query
            assert text == promql(query.expr, window)
        if "[" in query.expr:
            assert "[1m]" in query.promql()


def test_promql_substitutes_grafanas_interval_and_range_variables() -> None:
    assert promql("rate(x[$__rate_interval])") == "rate(x[1m])"
    assert promql("rate(x[${__rate_interval}])", "30s") == "rate(x[30s])"
    assert promql("avg_over_time(x[$__interval]) + y[$__range]", "5m") == (
        "avg_over_time(x[5m]) + y[5m]"
    )
    assert promql("x / $__range_s + $__range_ms + $__interval_ms", "1h30m") == (
        "x / 5400 + 5400000 + 5400000"
    )
    assert promql('x{status=~"5.."}') == 'x{status=~"5.."}'


@pytest.mark.parametrize("expr", ['x{service=~"$service"}', "rate(x[$__rate_intervalx])"])
def test_promql_refuses_variables_prometheus_cannot_know(expr: str) -> None:
    with pytest.raises(ValueError, match="Grafana variable"):
        promql(expr)


@pytest.mark.parametrize("window", ["", "1", "1 m", "m1", "1.5m", "$__rate_interval"])
def test_promql_refuses_a_window_that_is_no_prometheus_duration(window: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        promql("rate(x[$__rate_interval])", window)


def test_seconds_of_prometheus_durations() -> None:
    assert dashboard.seconds("1m") == 60
    assert dashboard.seconds("1h30m") == 5400
    assert dashboard.seconds("500ms") == 0.5
    assert dashboard.seconds("2d") == 172800


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_every_query_parses_as_promql(queries: list[PanelQuery], tmp_path: Path) -> None:
    # promtool 2.42 has no PromQL syntax command; `check rules` parses each rule's expression.
    rules = [
        {"record": f"dashboard:panel{query.panel_id}:{query.ref_id}", "expr": query.promql()}
        for query in queries
    ]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_check_catches_a_broken_query(tmp_path: Path) -> None:
    path = tmp_path / "broken.yml"
    rule = {"record": "dashboard:broken", "expr": "sum by (group (saga_consumer_lag)"}
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [rule]}]}))
    done = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode != 0


def test_traces_are_a_link_and_a_panel_away(model: dict[str, Any]) -> None:
    links = {link["title"]: link for link in model["links"]}
    assert links["Jaeger UI"]["url"].startswith("${jaeger_ui:raw}/search?")
    (variable,) = [v for v in model["templating"]["list"] if v["name"] == "jaeger_ui"]
    assert variable["type"] == "textbox" and variable["query"] == "http://127.0.0.1:16686"
    explore = urlsplit(links["Explore traces"]["url"])
    assert explore.path == "/explore"
    (panes,) = parse_qs(explore.query)["panes"]
    (pane,) = json.loads(panes).values()
    assert pane["datasource"] == "jaeger"
    assert pane["queries"][0]["datasource"] == {"type": "jaeger", "uid": "jaeger"}

    jaeger_panels = [panel for panel in _all_panels(model) if _is_jaeger(panel)]
    assert jaeger_panels
    for panel in jaeger_panels:
        assert all(_uid(t["datasource"]) == "jaeger" for t in panel["targets"])
        assert all(t["queryType"] == "search" and t["service"] for t in panel["targets"])

    data_links = [
        link
        for panel in _all_panels(model)
        for link in panel.get("fieldConfig", {}).get("defaults", {}).get("links", [])
    ]
    assert data_links
    for link in data_links:
        # `:raw`: data links URI-encode variables by default, which would mangle the address.
        assert link["url"].startswith("${jaeger_ui:raw}/search?service="), link


def test_panel_queries_reads_any_dashboard(tmp_path: Path) -> None:
    prom = {"type": "prometheus", "uid": "prometheus"}
    path = tmp_path / "d.json"
    model = {
        "panels": [
            {"id": 1, "type": "timeseries", "title": "top", "datasource": prom,
             "targets": [{"refId": "A", "expr": "up"},
                         {"refId": "B", "expr": "down", "hide": True}]},
            {"id": 2, "type": "row", "title": "folded", "collapsed": True, "panels": [
                {"id": 3, "type": "stat", "title": "inner", "datasource": "prometheus",
                 "targets": [{"refId": "A", "expr": "rate(x[$__rate_interval])",
                              "legendFormat": "{{service}}"}]},
            ]},
            {"id": 4, "type": "table", "title": "traces",
             "datasource": {"type": "jaeger", "uid": "jaeger"},
             "targets": [{"refId": "A", "queryType": "search"},
                         {"refId": "B", "expr": "sum(x)", "datasource": prom}]},
        ]
    }  # fmt: skip
    path.write_text(json.dumps(model))
    assert panel_queries(path) == [
        PanelQuery(1, "top", "A", "up"),
        PanelQuery(3, "inner", "A", "rate(x[$__rate_interval])", "{{service}}"),
        PanelQuery(4, "traces", "B", "sum(x)"),
    ]
    assert panel_queries(path)[1].promql("2m") == "rate(x[2m])"
