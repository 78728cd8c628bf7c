"""Poison under load: 1,000 malformed records dead-lettered by every reader, nothing stalls."""

import pytest

from saga_e2e.client import SagaClient
from saga_e2e.poison_run import run

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

POISON_COUNT = 1000


def test_a_thousand_poison_records_are_dead_lettered_while_orders_keep_flowing(
    saga: SagaClient,
) -> None:
    report = run(POISON_COUNT, phase_s=6.0, workers=4)
    print("\n".join(report.lines()))
    saga.ledger = report.ledger  # the invariants run over every order the load placed

    # Every reader of a topic dead-lettered every poison record of it, with the right headers.
    assert dict(report.letters) == dict(report.expected)
    assert sum(report.expected.values()) == 1667  # order+payment: 2 readers, inventory: 1
    assert report.problems == []
    # No partition stalled: orders placed after the injection finished, and lag drained.
    assert report.load_errors == []
    assert report.placed_after_injection > 0 and report.unfinished == []
    assert report.lag == {"order-service": 0, "payment-service": 0, "inventory-service": 0}
    # Throughput recovered once the poison was through.
    assert report.rates["before"] > 0
    assert report.rates["after"] >= 0.5 * report.rates["before"], report.rates
