"""Percentiles of latencies, and per-saga figures that stay defined when nothing completed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

NAN = float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks (as numpy); NaN if empty."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} not in 0..100")
    if not values:
        return NAN
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Latency:
    """POST -> CONFIRMED in milliseconds over one step's confirmed orders."""

    count: int
    p50: float
    p90: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, values_ms: Sequence[float]) -> Latency:
        return cls(
            len(values_ms),
            percentile(values_ms, 50),
            percentile(values_ms, 90),
            percentile(values_ms, 95),
            percentile(values_ms, 99),
            max(values_ms) if values_ms else NAN,
        )


def per_saga(total: float, sagas: int) -> float:
    """`total / sagas`, NaN when no saga completed (a figure that cannot be had)."""
    return total / sagas if sagas > 0 else NAN


def finite_or(value: float, fallback: float = 0.0) -> float:
    """`value` unless it is NaN or infinite (the RESULT line carries plain numbers only)."""
    return value if math.isfinite(value) else fallback
