"""Reading a saga's trace back from Jaeger's HTTP query API (`/api/traces`)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

import httpx


def jaeger_url() -> str:
    """The query API of the stack's Jaeger (`JAEGER_URL`, else `JAEGER_HOST`/`JAEGER_UI_PORT`)."""
    host = os.environ.get("JAEGER_HOST", "127.0.0.1")
    return os.environ.get(
        "JAEGER_URL", f"http://{host}:{os.environ.get('JAEGER_UI_PORT', '16686')}"
    )


@dataclass(frozen=True)
class TraceSpan:
    span_id: str
    parent_id: str | None
    service: str
    name: str
    start_us: int
    tags: dict[str, Any]
    duration_us: int = 0


class Trace:
    """One trace's spans, with their services and parents."""

    def __init__(self, trace_id: str, spans: list[TraceSpan]) -> None:
        self.trace_id = trace_id
        self.spans = spans
        self._by_id = {span.span_id: span for span in spans}

    def find(self, service: str, name: str) -> list[TraceSpan]:
        return [s for s in self.spans if s.service == service and s.name == name]

    def ancestors(self, span: TraceSpan) -> list[TraceSpan]:
        found: list[TraceSpan] = []
        while span.parent_id is not None and span.parent_id in self._by_id:
            span = self._by_id[span.parent_id]
            found.append(span)
        return found

    def chain(self, steps: list[tuple[str, str]]) -> list[TraceSpan]:
        """Spans matching `steps` (service, name) in order along one line of descent from the
        root (each a descendant of the one before); [] when the trace holds no such chain."""
        for last in self.find(*steps[-1]):
            lineage = [*reversed(self.ancestors(last)), last]  # root first
            picked: list[TraceSpan] = []
            for span in lineage:
                if len(picked) < len(steps) and (span.service, span.name) == steps[len(picked)]:
                    picked.append(span)
            if len(picked) == len(steps):
                return picked
        return []

    def depth(self, span: TraceSpan) -> int:
        """How many ancestors `span` has in this trace (0 for the root)."""
        return len(self.ancestors(span))

    def in_tree_order(self) -> list[TraceSpan]:
        """Depth first from the roots, children in start order: the order of a waterfall."""
        children: dict[str | None, list[TraceSpan]] = {}
        for span in self.spans:
            parent = span.parent_id if span.parent_id in self._by_id else None
            children.setdefault(parent, []).append(span)
        ordered: list[TraceSpan] = []
        stack = sorted(children.get(None, []), key=lambda s: s.start_us, reverse=True)
        while stack:
            span = stack.pop()
            ordered.append(span)
            stack += sorted(children.get(span.span_id, []), key=lambda s: s.start_us, reverse=True)
        return ordered

    def outline(self) -> str:
        """The spans, one line each (service, name), in start order: for failure messages."""
        return "\n".join(
            f"  {s.service}: {s.name}" for s in sorted(self.spans, key=lambda s: s.start_us)
        )


def trace_of_order(
    order_id: str, *, until: list[tuple[str, str]] | None = None, deadline_s: float = 30.0
) -> Trace:
    """The trace whose spans carry `saga.correlation_id=order_id`, once it holds the chain
    `until` (spans arrive in batches from three services), or at once when `until` is None;
    the last one seen otherwise (no spans at all when Jaeger has none)."""
    url = jaeger_url()
    tags = json.dumps({"saga.correlation_id": order_id})
    ends = time.monotonic() + deadline_s
    seen = Trace("", [])
    with httpx.Client(base_url=url, timeout=10.0) as client:
        while True:
            found = client.get(
                "/api/traces", params={"service": "payment-service", "tags": tags, "limit": 5}
            )
            found.raise_for_status()
            for data in found.json().get("data") or []:
                whole = client.get(f"/api/traces/{data['traceID']}")
                whole.raise_for_status()
                seen = _parse(whole.json()["data"][0])
                if until is None or seen.chain(until):
                    return seen
            if time.monotonic() > ends:
                return seen
            time.sleep(0.5)


def _parse(data: dict[str, Any]) -> Trace:
    services = {pid: process["serviceName"] for pid, process in data["processes"].items()}
    spans = []
    for raw in data["spans"]:
        parents = [r["spanID"] for r in raw.get("references", []) if r["refType"] == "CHILD_OF"]
        spans.append(
            TraceSpan(
                span_id=raw["spanID"],
                parent_id=parents[0] if parents else None,
                service=services[raw["processID"]],
                name=raw["operationName"],
                start_us=raw["startTime"],
                tags={tag["key"]: tag["value"] for tag in raw.get("tags", [])},
                duration_us=raw.get("duration", 0),
            )
        )
    return Trace(data["traceID"], spans)
