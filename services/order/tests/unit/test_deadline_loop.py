"""The saga deadline loop with a fake unit of work and a fake clock."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs

from order_service import handlers
from order_service.deadline import SagaDeadline
from order_service.domain import OrderStatus
from order_service.handlers import PlaceOrder
from shared_events import CancelReason


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def placed(uow, saga):
    handlers.products_upserted([saga.product_upserted("SKU-1", 500)], uow)
    return [handlers.place_order(PlaceOrder("alice", (("SKU-1", 1),)), uow) for _ in range(5)]


def deadline_of(uow, clock, **overrides):
    settings = {"deadline_s": 300, "every_s": 0.01, "batch_max": 2, "clock": clock} | overrides
    return SagaDeadline(lambda: uow, **settings)


def statuses(uow):
    return {(o.status, o.cancel_reason) for o in uow.committed_orders.values()}


def test_nothing_is_cancelled_before_the_deadline(uow, clock, placed):
    clock.now += timedelta(seconds=299)

    assert deadline_of(uow, clock).sweep() == 0
    assert statuses(uow) == {(OrderStatus.PENDING, None)}


def test_a_sweep_cancels_every_overdue_order_a_batch_per_transaction(uow, clock, placed):
    clock.now += timedelta(seconds=301)
    commits = uow.commits

    assert deadline_of(uow, clock).sweep() == 5

    assert statuses(uow) == {(OrderStatus.CANCELLED, CancelReason.TIMED_OUT)}
    assert len(uow.published("OrderCancelled")) == 5
    assert uow.commits - commits == 3  # 2 + 2 + 1: the short batch says none is left


def test_a_second_sweep_finds_nothing_left(uow, clock, placed):
    clock.now += timedelta(seconds=301)
    deadline = deadline_of(uow, clock)
    deadline.sweep()

    assert deadline.sweep() == 0
    assert len(uow.published("OrderCancelled")) == 5


def test_the_loop_sweeps_until_stopped(uow, clock, placed):
    clock.now += timedelta(seconds=301)
    stop = threading.Event()
    loop = threading.Thread(target=deadline_of(uow, clock).run, args=(stop,))
    loop.start()
    try:
        until = datetime.now(UTC) + timedelta(seconds=5)
        while len(uow.published("OrderCancelled")) < 5 and datetime.now(UTC) < until:
            stop.wait(0.01)
    finally:
        stop.set()
        loop.join(5)

    assert not loop.is_alive()
    assert statuses(uow) == {(OrderStatus.CANCELLED, CancelReason.TIMED_OUT)}


class BrokenUnitOfWork:
    def __enter__(self):
        raise ConnectionError("connection refused\nmore detail")

    def __exit__(self, *exc_info):
        return None


def test_a_failing_check_is_logged_once_and_retried_at_the_next_tick(uow, clock, placed):
    clock.now += timedelta(seconds=301)
    attempts = []

    def flaky():
        attempts.append(1)
        return BrokenUnitOfWork() if len(attempts) <= 3 else uow

    stop = threading.Event()
    deadline = SagaDeadline(flaky, deadline_s=300, every_s=0.01, clock=clock)
    with capture_logs() as logs:
        loop = threading.Thread(target=deadline.run, args=(stop,))
        loop.start()
        until = datetime.now(UTC) + timedelta(seconds=5)
        while len(uow.published("OrderCancelled")) < 5 and datetime.now(UTC) < until:
            stop.wait(0.01)
        stop.set()
        loop.join(5)

    assert statuses(uow) == {(OrderStatus.CANCELLED, CancelReason.TIMED_OUT)}
    events = [entry["event"] for entry in logs if "saga deadline" in entry["event"]]
    assert events == ["saga deadline check failed", "saga deadline check works again"]
    failed = next(entry for entry in logs if entry["event"] == "saga deadline check failed")
    assert failed["error"] == "connection refused"
