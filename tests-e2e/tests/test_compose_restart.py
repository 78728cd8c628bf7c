"""Under `make compose-e2e`: a service container crashes, the engine restarts it by the restart
policy of docker-compose.yml (`restart: unless-stopped`), and the sagas in flight complete.

The crash is the service process SIGKILLed inside its container (`docker exec ... kill -KILL -1`:
every process but PID 1, tini, which then exits with the service's status), as an OOM kill or a
segfault would end it. `docker kill` itself is an operator's stop: Docker never restarts a
container it was told to kill, whatever its policy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from typing import Any

import httpx
import pytest

from saga_e2e.client import SagaClient, unique

PROJECT = os.environ.get("SAGA_COMPOSE_PROJECT", "")
COMPOSE_FILE = os.environ.get("SAGA_COMPOSE_FILE", "docker-compose.yml")
RESTART_WITHIN_S = 90.0
ORDERS_BEFORE, ORDERS_DURING = 8, 8

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.compose,
    pytest.mark.timeout(420),
    pytest.mark.skipif(
        not PROJECT or shutil.which("docker") is None,
        reason="needs the compose stack of `make compose-e2e` (SAGA_COMPOSE_PROJECT) and docker",
    ),
]


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def container_of(service: str) -> str:
    done = _run("docker", "compose", "-f", COMPOSE_FILE, "-p", PROJECT, "ps", "-q", service)
    ids = done.stdout.split()
    assert done.returncode == 0 and len(ids) == 1, (service, done.stdout, done.stderr)
    return ids[0]


def inspect(container: str) -> dict[str, Any]:
    done = _run("docker", "inspect", container)
    assert done.returncode == 0, done.stderr
    (found,) = json.loads(done.stdout)
    state: dict[str, Any] = found["State"]
    return {
        "restarts": found["RestartCount"],
        "pid": state["Pid"],
        "running": state["Running"],
        "started": state["StartedAt"],
        "health": state.get("Health", {}).get("Status"),
        "policy": found["HostConfig"]["RestartPolicy"]["Name"],
        "init": found["HostConfig"].get("Init"),
    }


def crash(container: str) -> None:
    """SIGKILL every process of the container but PID 1 (tini): the service dies unannounced."""
    _run("docker", "exec", container, "sh", "-c", "kill -KILL -1")


def retrying(call: Any, what: str, deadline_s: float = RESTART_WITHIN_S) -> Any:
    """`call()` until it answers: a restarting service refuses or drops connections meanwhile."""
    until = time.monotonic() + deadline_s
    while True:
        try:
            return call()
        except httpx.TransportError:
            if time.monotonic() > until:
                raise AssertionError(f"no answer within {deadline_s:.0f} s: {what}") from None
            time.sleep(0.2)


def place(saga: SagaClient, customer: str, sku: str) -> str:
    """An accepted order's id; retried under one Idempotency-Key while the API is down."""
    key = str(uuid.uuid4())

    def post() -> httpx.Response:
        response = saga.place_order(customer, [(sku, 1)], key=key)
        if response.status_code >= 500:
            raise httpx.RemoteProtocolError(f"{response.status_code}")
        return response

    response = retrying(post, "POST /orders")
    assert response.status_code == 201, response.text
    order_id: str = response.json()["order_id"]
    return order_id


@pytest.mark.parametrize("service", ["payment", "inventory", "order"])
def test_a_crashed_service_container_is_restarted_and_its_sagas_complete(
    saga: SagaClient, service: str
) -> None:
    sku, customer = unique("sku"), unique("cust")
    saga.put_product(sku, quantity=ORDERS_BEFORE + ORDERS_DURING, price_cents=100)
    saga.open_account(customer, 100 * (ORDERS_BEFORE + ORDERS_DURING))
    container = container_of(service)
    before = inspect(container)
    assert before["policy"] == "unless-stopped" and before["init"] is True, before
    assert before["running"] and before["health"] == "healthy", before

    orders = [place(saga, customer, sku) for _ in range(ORDERS_BEFORE)]
    crash(container)
    # Placed while the service is down or coming back (through the order API, retried).
    orders += [place(saga, customer, sku) for _ in range(ORDERS_DURING)]

    def restarted() -> bool:
        now = inspect(container)
        return bool(
            now["restarts"] > before["restarts"]
            and now["started"] != before["started"]
            and now["running"]
            and now["health"] == "healthy"
        )

    saga.wait_for(
        restarted, f"{service} restarted by its policy and healthy", RESTART_WITHIN_S, 0.5
    )
    after = inspect(container)
    assert container_of(service) == container  # the same container, restarted in place
    assert after["pid"] != before["pid"]

    for order_id in orders:
        final = retrying(lambda order_id=order_id: saga.wait_terminal(order_id, 60.0), order_id)
        assert final["status"] == "CONFIRMED", (order_id, final)
    product = retrying(lambda: saga.product(sku), "GET /products")
    assert product["available"] == 0 and product["reserved"] == len(orders), product
    assert retrying(lambda: saga.balance(customer), "GET /accounts") == 0
