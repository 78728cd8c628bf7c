"""In-memory repositories and unit of work: the fake the handler tests run on.

They follow the same contract as the SQL ones (one contract test runs against both):
what a unit of work changes is visible to others only once it commits.
"""

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self
from uuid import UUID

from payment_service.domain import (
    PAYMENT_KINDS,
    Account,
    AccountAlreadyExists,
    EntryKind,
    LedgerEntry,
    LedgerSummary,
    OrderPayment,
)
from payment_service.envelopes import Causes
from shared_events import Envelope, Event


@dataclass
class MemoryStore:
    """The committed state: accounts, ledger, orders and the outbox."""

    balances: dict[str, int] = field(default_factory=dict)
    ledger: list[LedgerEntry] = field(default_factory=list)
    orders: dict[UUID, OrderPayment] = field(default_factory=dict)
    outbox: list[Envelope[Event]] = field(default_factory=list)


class MemoryAccounts:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self.seen: dict[str, Account] = {}

    def add(self, account: Account) -> None:
        if account.customer_id in self._store.balances or account.customer_id in self.seen:
            raise AccountAlreadyExists(account.customer_id)
        self.seen[account.customer_id] = account

    def get(self, customer_id: str) -> Account | None:
        balance = self._store.balances.get(customer_id)
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
        for entry in self._store.ledger:
            totals[entry.kind] += entry.amount_cents
        return LedgerSummary(
            accounts=len(self._store.balances),
            balances_cents=sum(self._store.balances.values()),
            opening_cents=totals[EntryKind.OPENING],
            deposits_cents=totals[EntryKind.DEPOSIT],
            charges_cents=totals[EntryKind.CHARGE],
            refunds_cents=totals[EntryKind.REFUND],
        )


class MemoryOrders:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self.seen: dict[UUID, OrderPayment] = {}

    def lock(self, order_id: UUID) -> OrderPayment:
        if order_id not in self.seen:
            stored = self._store.orders.get(order_id, OrderPayment(order_id))
            self.seen[order_id] = copy.deepcopy(stored)
        return self.seen[order_id]

    def lock_many(self, order_ids: Iterable[UUID]) -> dict[UUID, OrderPayment]:
        return {order_id: self.lock(order_id) for order_id in order_ids}

    def payments(self, order_id: UUID) -> list[LedgerEntry]:
        return [
            entry
            for entry in self._store.ledger
            if entry.order_id == order_id and entry.kind in PAYMENT_KINDS
        ]


class MemoryUnitOfWork:
    """A unit of work on a `MemoryStore`; an order's events follow its event among `causes`."""

    def __init__(
        self, store: MemoryStore | None = None, causes: Sequence[Envelope[Event]] = ()
    ) -> None:
        self.store = store if store is not None else MemoryStore()
        self.causes = Causes(causes)
        self.commits = 0
        self._start()

    def __enter__(self) -> Self:
        self._start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Whatever was not committed is dropped with the repositories' working copies.
        self._start()

    def _start(self) -> None:
        self.accounts = MemoryAccounts(self.store)
        self.orders = MemoryOrders(self.store)

    def commit(self) -> None:
        store = self.store
        for account in self.accounts.seen.values():
            store.balances[account.customer_id] = account.balance_cents
            store.ledger.extend(account.new_entries)
            account.new_entries.clear()
        for order in self.orders.seen.values():
            store.outbox.extend(self.causes.envelopes(order.events))
            order.events.clear()
            store.orders[order.order_id] = copy.deepcopy(order)
        self.commits += 1
