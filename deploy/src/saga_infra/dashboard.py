"""The Grafana dashboard's Prometheus queries, runnable without Grafana.

`deploy/grafana/dashboards/saga.json` is Grafana's dashboard model, written by hand. Its panel
queries use Grafana's variables (`$__rate_interval`, ...), which Prometheus does not know:
`promql` puts a concrete window in their place, so a test can run every panel's query against
Prometheus itself (`panel_queries`, then `promql(query.expr)`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saga_infra.settings import find_repo_root

DASHBOARD = Path("deploy/grafana/dashboards/saga.json")
"""The dashboard, relative to the repository root."""
PROMETHEUS_UID = "prometheus"
JAEGER_UID = "jaeger"

_DURATION = re.compile(r"(?:\d+(?:ms|s|m|h|d|w|y))+")
_UNIT_S: dict[str, float] = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 604800,
    "y": 31536000,
}
_VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")
_DURATION_VARIABLES = ("__rate_interval", "__interval", "__range")


@dataclass(frozen=True, slots=True)
class PanelQuery:
    """One Prometheus query of one panel, as written in the dashboard."""

    panel_id: int
    title: str
    ref_id: str
    expr: str
    legend: str = ""

    def promql(self, window: str = "1m") -> str:
        """The query with Grafana's variables replaced (see `promql`)."""
        return promql(self.expr, window)


def default_path() -> Path:
    """The repository's dashboard, found from the repository root as settings.py finds it."""
    return find_repo_root() / DASHBOARD


def load(path: Path | None = None) -> dict[str, Any]:
    """The dashboard's JSON model."""
    data: dict[str, Any] = json.loads((path or default_path()).read_text())
    return data


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel but rows, in order, with those nested in collapsed rows."""
    found: list[dict[str, Any]] = []
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            found.extend(panel.get("panels", []))
        else:
            found.append(panel)
    return found


def _uid(datasource: object) -> str | None:
    if isinstance(datasource, dict):
        uid = datasource.get("uid")
        return uid if isinstance(uid, str) else None
    return datasource if isinstance(datasource, str) else None


def panel_queries(path: Path | None = None) -> list[PanelQuery]:
    """Every Prometheus query of the dashboard at `path` (default: the repository's).

    A target's own datasource wins over its panel's; targets of other datasources (Jaeger)
    are left out, and so are hidden ones.
    """
    queries: list[PanelQuery] = []
    for panel in panels(load(path)):
        panel_uid = _uid(panel.get("datasource"))
        for target in panel.get("targets", []):
            uid = _uid(target.get("datasource")) or panel_uid
            if uid != PROMETHEUS_UID or target.get("hide") is True:
                continue
            queries.append(
                PanelQuery(
                    panel_id=int(panel["id"]),
                    title=str(panel.get("title", "")),
                    ref_id=str(target.get("refId", "")),
                    expr=str(target.get("expr", "")),
                    legend=str(target.get("legendFormat", "")),
                )
            )
    return queries


def seconds(window: str) -> float:
    """A Prometheus duration (`1m`, `1h30m`, `500ms`) in seconds."""
    if not _DURATION.fullmatch(window):
        raise ValueError(f"not a Prometheus duration: {window!r}")
    return sum(
        int(count) * _UNIT_S[unit] for count, unit in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", window)
    )


def promql(expr: str, window: str = "1m") -> str:
    """`expr` as Prometheus runs it: Grafana's interval and range variables become `window`.

    `$__rate_interval`, `$__interval` and `$__range` (also as `${...}`) become `window`;
    `$__rate_interval_ms`, `$__interval_ms`, `$__range_ms` and `$__range_s` its length in
    milliseconds or seconds.
    Any other variable raises ValueError: Prometheus could not run the result.
    """
    length_s = seconds(window)

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name in _DURATION_VARIABLES:
            return window
        if name in ("__rate_interval_ms", "__interval_ms", "__range_ms"):
            return str(round(length_s * 1000))
        if name == "__range_s":
            return str(round(length_s))
        raise ValueError(f"Grafana variable {match.group(0)} has no value outside Grafana")

    return _VARIABLE.sub(substitute, expr)
