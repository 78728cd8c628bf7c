"""Black-box fixtures: an HTTP client per test, and the invariants checked after each test."""

from collections.abc import Iterator

import pytest

from saga_e2e.client import SagaClient, record_ledger
from saga_e2e.invariants import check_all

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session", autouse=True)
def system_is_up() -> None:
    """Fail fast with a clear message when the services are not running."""
    client = SagaClient()
    try:
        if not client.all_ready():
            pytest.fail(
                f"services not ready at {client.urls}; start them with `make dev` "
                "or run `make e2e`, which starts the local system itself"
            )
    finally:
        client.close()


@pytest.fixture
def saga() -> Iterator[SagaClient]:
    """A client whose ledger is checked against DESIGN.md §6 after the test (and recorded for
    a harness that checks every test's orders again at its end: SAGA_E2E_LEDGER_FILE)."""
    client = SagaClient()
    yield client
    try:
        record_ledger(client.ledger)
        problems = check_all(client)
    finally:
        client.close()
    assert not problems, "invariants violated:\n" + "\n".join(problems)
