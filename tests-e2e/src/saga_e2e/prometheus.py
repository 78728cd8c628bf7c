"""Reading the stack's Prometheus over its HTTP API: instant queries, rules, alerts."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx


class PrometheusError(RuntimeError):
    """Prometheus refused a query, or a condition did not hold in time; the message says which."""


@dataclass(frozen=True)
class Prometheus:
    """One Prometheus server, e.g. `Prometheus(settings.prometheus_url)`."""

    url: str
    timeout_s: float = 10.0

    def _get(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}{path}", params=params, timeout=self.timeout_s)
        body = response.json()
        if response.status_code != 200 or body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {response.status_code} {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result: a vector's series, each {"metric": {...}, "value": [t, v]}."""
        data = self._get("/api/v1/query", query=expr)
        result: list[dict[str, Any]] = data["result"] if data["resultType"] == "vector" else []
        if data["resultType"] == "scalar":
            result = [{"metric": {}, "value": data["result"]}]
        return result

    def value(self, expr: str) -> float | None:
        """The value of a query with one series (the sum when several; None when none)."""
        series = self.query(expr)
        return sum(float(s["value"][1]) for s in series) if series else None

    def alert_rules(self) -> dict[str, dict[str, Any]]:
        """The loaded alerting rules by name (with their `state`: inactive, pending, firing)."""
        groups = self._get("/api/v1/rules", type="alert")["groups"]
        return {rule["name"]: rule for group in groups for rule in group["rules"]}

    def wait_for(
        self, expr: str, check: Callable[[float | None], bool], what: str, timeout_s: float = 60.0
    ) -> float | None:
        """Poll `expr` until `check(value)` holds; PrometheusError (with the last value) if not."""
        deadline = time.monotonic() + timeout_s
        last: float | None = None
        while time.monotonic() < deadline:
            last = self.value(expr)
            if check(last):
                return last
            time.sleep(0.5)
        raise PrometheusError(f"{what}: `{expr}` was {last} after {timeout_s:.0f} s")
