"""HTTP fuzzing of each service's OpenAPI (schemathesis): no 5xx, answers as documented,
and a request answered 4xx leaves no trace. `python -m saga_e2e.fuzz --examples N`."""

import argparse
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, Case, CheckFunction, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Err

from saga_e2e.client import ServiceUrls

CHECKS: list[CheckFunction] = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
Footprint = Callable[[httpx.Client], Any]
"""What a service has persisted that only a successful write may change."""


def order_footprint(client: httpx.Client) -> Any:
    # Saga events change statuses, never create orders: the newest order id only moves on a
    # successful POST /orders (fuzzing runs alone, one request at a time).
    newest = client.get("/orders", params={"limit": 1}).raise_for_status().json()
    return [order["order_id"] for order in newest]


def payment_footprint(client: httpx.Client) -> Any:
    # Charges and refunds move money between balances and the ledger; only opening an account
    # or a deposit changes these three.
    summary = client.get("/ledger/summary").raise_for_status().json()
    return (summary["accounts"], summary["opening_cents"], summary["deposits_cents"])


def inventory_footprint(client: httpx.Client) -> Any:
    # Reserving and releasing keep available + reserved; only a PUT changes a product.
    products = client.get("/products").raise_for_status().json()
    return {
        p["sku"]: (p["name"], p["price_cents"], p["available"] + p["reserved"]) for p in products
    }


@dataclass
class Tally:
    """What one service's fuzz run sent and got back."""

    service: str
    requests: int = 0
    by_class: Counter[str] = field(default_factory=Counter)
    by_operation: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def line(self) -> str:
        classes = ", ".join(f"{k}: {v}" for k, v in sorted(self.by_class.items()))
        return (
            f"{self.service}: {self.requests} requests ({classes}), {len(self.failures)} failures"
        )


class ServiceFuzzer:
    """Fuzzes one service; ids it writes start with a run-unique prefix (no clash with tests)."""

    def __init__(self, service: str, base_url: str, footprint: Footprint, prefix: str) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.footprint = footprint
        self.prefix = prefix
        self.schema = schemathesis.openapi.from_url(f"{self.base_url}/openapi.json")
        self.http = httpx.Client(base_url=self.base_url, timeout=10.0)
        self.tally = Tally(service)

    def run(self, examples: int) -> Tally:
        """Send at least `examples` generated requests, spread over every operation."""
        strategies = [
            operation.as_strategy(generation_mode=mode)
            for operation in self._operations()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        ]
        rounds = 0
        while strategies and self.tally.requests < examples and rounds < 50:
            rounds += 1
            per_run = max(1, (examples - self.tally.requests) // len(strategies) + 1)
            for strategy in list(strategies):
                try:
                    self._fuzz(strategy, per_run)
                except Unsatisfiable:
                    # No invalid request exists for an operation without parameters.
                    strategies.remove(strategy)
        return self.tally

    def _operations(self) -> list[APIOperation[Any, Any, Any, Any]]:
        found = []
        for result in self.schema.get_all_operations():
            if isinstance(result, Err):
                raise result.err()
            found.append(result.ok())
        return found

    def close(self) -> None:
        """Close the HTTP client."""
        self.http.close()

    def _fuzz(self, strategy: Any, examples: int) -> None:
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            verbosity=Verbosity.quiet,
        )
        @given(case=strategy)
        def one(case: Case[Any]) -> None:
            self._send(case)

        try:
            one()
        except Unsatisfiable:
            raise
        except Exception as error:
            # Checks run in `_send`; anything escaping hypothesis is a failure too, not a crash.
            self.tally.failures.append(f"{type(error).__name__}: {str(error)[:500]}")

    def _send(self, case: Case[Any]) -> None:
        self._scope_ids(case)
        mutating = case.method.upper() in MUTATING
        before = self.footprint(self.http) if mutating else None
        response = case.call(base_url=self.base_url)
        status = response.status_code
        label = f"{case.method.upper()} {case.path}"
        self.tally.requests += 1
        self.tally.by_class[f"{status // 100}xx"] += 1
        self.tally.by_operation[f"{label} {status}"] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception as failure:
            self._fail(label, status, case, str(failure).strip().splitlines()[:6])
        if mutating and 400 <= status < 500:
            after = self.footprint(self.http)
            if after != before:
                self._fail(label, status, case, ["a request answered 4xx changed stored data"])

    def _scope_ids(self, case: Case[Any]) -> None:
        # Prefix every id the request could create, so fuzz data never meets a test's data.
        params = case.path_parameters or {}
        for name in ("sku", "customer_id"):
            value = params.get(name)
            if isinstance(value, str) and value:
                params[name] = self.prefix + value
        body = case.body
        customer = body.get("customer_id") if isinstance(body, dict) else None
        if isinstance(body, dict) and isinstance(customer, str):
            body["customer_id"] = self.prefix + customer

    def _fail(self, label: str, status: int, case: Case[Any], lines: list[str]) -> None:
        body = repr(case.body)[:200] if case.body is not None else ""
        where = f"{label} -> {status} path={case.path_parameters} query={case.query} body={body}"
        self.tally.failures.append(where + "\n    " + "\n    ".join(lines))


FOOTPRINTS: dict[str, Footprint] = {
    "order": order_footprint,
    "payment": payment_footprint,
    "inventory": inventory_footprint,
}


def fuzz_service(service: str, examples: int, urls: ServiceUrls | None = None) -> Tally:
    """Fuzz one service (`order`, `payment` or `inventory`) with at least `examples` requests."""
    base_url = getattr(urls or ServiceUrls(), service)
    prefix = f"fz{uuid.uuid4().hex[:6]}-"
    fuzzer = ServiceFuzzer(service, base_url, FOOTPRINTS[service], prefix)
    try:
        return fuzzer.run(examples)
    finally:
        fuzzer.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Fuzz the running services; exit 1 if any check failed."""
    parser = argparse.ArgumentParser(prog="python -m saga_e2e.fuzz", description=__doc__)
    parser.add_argument("--examples", type=int, default=1000, help="requests per service")
    parser.add_argument("--service", choices=sorted(FOOTPRINTS), action="append")
    args = parser.parse_args(argv)
    failed = 0
    for service in args.service or list(FOOTPRINTS):
        tally = fuzz_service(service, args.examples)
        print(tally.line())
        for operation, count in sorted(tally.by_operation.items()):
            print(f"    {count:6d}  {operation}")
        for failure in tally.failures[:20]:
            print(f"  FAIL {failure}")
        failed += len(tally.failures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
