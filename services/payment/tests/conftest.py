"""In-memory fakes of the repositories and unit of work, with the SQL ones' semantics.

They follow the same contract as the SQL ones (one contract test runs against both):
what a unit of work changes is visible to others only once it commits.
"""

import copy
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Self
from uuid import UUID

import pytest

from payment_service import SERVICE
from payment_service.domain import (
    PAYMENT_KINDS,
    Account,
    AccountAlreadyExists,
    EntryKind,
    LedgerEntry,
    LedgerSummary,
    OrderPayment,
)
from shared_events import Envelope, Event
from shared_events.runtime.unit_of_work import UnitOfWork


class FakeAccounts:
    def __init__(self, committed: "FakeUnitOfWork") -> None:
        self._committed = committed
        self.seen: dict[str, Account] = {}

    def add(self, account: Account) -> None:
        if account.customer_id in self._committed.committed_balances or (
            account.customer_id in self.seen
        ):
            raise AccountAlreadyExists(account.customer_id)
        self.seen[account.customer_id] = account

    def get(self, customer_id: str) -> Account | None:
        balance = self._committed.committed_balances.get(customer_id)
        return None if balance is None else Account(customer_id, balance)

    def lock(self, customer_id: str) -> Account | None:
        if customer_id not in self.seen:
            account = self.get(customer_id)
            if account is None:
                return None
            self.seen[customer_id] = account
        return self.seen[customer_id]

    def lock_many(self, customer_ids: Iterable[str]) -> dict[str, Account]:
        locked = {customer_id: self.lock(customer_id) for customer_id in customer_ids}
        return {key: account for key, account in locked.items() if account is not None}

    def summary(self) -> LedgerSummary:
        totals = dict.fromkeys(EntryKind, 0)
        for entry in self._committed.committed_ledger:
            totals[entry.kind] += entry.amount_cents
        balances = self._committed.committed_balances
        return LedgerSummary(
            accounts=len(balances),
            balances_cents=sum(balances.values()),
            opening_cents=totals[EntryKind.OPENING],
            deposits_cents=totals[EntryKind.DEPOSIT],
            charges_cents=totals[EntryKind.CHARGE],
            refunds_cents=totals[EntryKind.REFUND],
        )


class FakeOrders:
    def __init__(self, committed: "FakeUnitOfWork") -> None:
        self._committed = committed
        self.seen: dict[UUID, OrderPayment] = {}

    def lock(self, order_id: UUID) -> OrderPayment:
        if order_id not in self.seen:
            stored = self._committed.committed_orders.get(order_id, OrderPayment(order_id))
            self.seen[order_id] = copy.deepcopy(stored)
        return self.seen[order_id]

    def lock_many(self, order_ids: Iterable[UUID]) -> dict[UUID, OrderPayment]:
        return {order_id: self.lock(order_id) for order_id in order_ids}

    def payments(self, order_id: UUID) -> list[LedgerEntry]:
        return [
            entry
            for entry in self._committed.committed_ledger
            if entry.order_id == order_id and entry.kind in PAYMENT_KINDS
        ]


class FakeUnitOfWork(UnitOfWork[OrderPayment]):
    """Committed state in dicts; each `with` works on copies that only `commit()` keeps.

    `riding(causes)` is a unit of work on the same state whose events follow `causes`, as
    the consumer's is; envelopes are built as the SQL unit of work builds them.
    """

    service = SERVICE

    def __init__(
        self, *, causes: Sequence[Envelope[Event]] = (), root: "FakeUnitOfWork | None" = None
    ) -> None:
        super().__init__(causes=causes)
        self._root = root or self
        if root is None:
            self.committed_balances: dict[str, int] = {}
            self.committed_ledger: list[LedgerEntry] = []
            self.committed_orders: dict[UUID, OrderPayment] = {}
            self.outbox: list[Envelope[Event]] = []
            self.commits = 0
        self._start()

    def riding(self, causes: Sequence[Envelope[Event]]) -> "FakeUnitOfWork":
        return FakeUnitOfWork(causes=causes, root=self._root)

    def __enter__(self) -> Self:
        self._start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._start()  # whatever was not committed is gone with the working copies

    def _start(self) -> None:
        self.accounts = FakeAccounts(self._root)
        self.orders = FakeOrders(self._root)

    def _aggregates(self) -> Iterable[OrderPayment]:
        return self.orders.seen.values()

    def _stage(self, envelopes: Sequence[Envelope[Event]]) -> None:
        self._staged = list(envelopes)

    def _finish(self) -> None:
        root = self._root
        for account in self.accounts.seen.values():
            root.committed_balances[account.customer_id] = account.balance_cents
            root.committed_ledger.extend(account.new_entries)
            account.new_entries.clear()
        for order in self.orders.seen.values():
            root.committed_orders[order.order_id] = copy.deepcopy(order)
        root.outbox.extend(self._staged)
        root.commits += 1


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture(scope="session")
def new_uow() -> type[FakeUnitOfWork]:
    """Makes fresh fake units of work (for property tests, which run many examples)."""
    return FakeUnitOfWork
