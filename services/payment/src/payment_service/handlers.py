"""One function per command, event and query: `(message, uow) -> result`, one commit each.

Consumed events arrive in sets (per event type and consumer batch, each of another order),
so the order handlers are set-based: one `with uow:` and one statement per table for the
whole set. A single command is a set of one.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

import structlog

from payment_service.domain import (
    Account,
    LedgerEntry,
    LedgerSummary,
    OrderPayment,
    UnknownAccount,
)
from shared_events import Envelope, OrderCancelled, OrderCreated
from shared_events.runtime.unit_of_work import Atomic

log = structlog.get_logger(__name__)


class Accounts(Protocol):
    """Where accounts live; `lock` holds the account until the unit of work ends."""

    def add(self, account: Account) -> None:
        """Store a new account; raises `AccountAlreadyExists` when the id is taken."""

    def get(self, customer_id: str) -> Account | None:
        """The account as it is now, for reading."""

    def lock(self, customer_id: str) -> Account | None:
        """The account, locked against concurrent changes, for changing."""

    def lock_many(self, customer_ids: Iterable[str]) -> Mapping[str, Account]:
        """Those of the accounts that exist, locked together; the objects `lock` returns."""

    def summary(self) -> LedgerSummary:
        """Totals of balances and of the ledger, from one snapshot."""


class OrderPayments(Protocol):
    """What payment knows of each order; `lock` serialises work on one order."""

    def lock(self, order_id: UUID) -> OrderPayment:
        """The order's payment (empty if the order was never seen), locked."""

    def lock_many(self, order_ids: Iterable[UUID]) -> Mapping[UUID, OrderPayment]:
        """Every order's payment as `lock` returns it, locked together."""

    def payments(self, order_id: UUID) -> list[LedgerEntry]:
        """The order's charges and refunds, oldest first."""


class UnitOfWork(Atomic, Protocol):
    """One transaction: changes to what the repositories returned and the events they caused
    are written together by `commit`, or not at all."""

    @property
    def accounts(self) -> Accounts: ...

    @property
    def orders(self) -> OrderPayments: ...


@dataclass(frozen=True, slots=True)
class OpenAccount:
    customer_id: str
    balance_cents: int


@dataclass(frozen=True, slots=True)
class Deposit:
    customer_id: str
    amount_cents: int


@dataclass(frozen=True, slots=True)
class PayOrder:
    """Charge a newly created order to its customer (from `OrderCreated`)."""

    order_id: UUID
    customer_id: str
    amount_cents: int


@dataclass(frozen=True, slots=True)
class CompensateOrder:
    """Remember the order is cancelled and refund its charge (from `OrderCancelled`)."""

    order_id: UUID


def open_account(cmd: OpenAccount, uow: UnitOfWork) -> Account:
    """Open a prepaid account with its opening balance."""
    with uow:
        account = Account.open(cmd.customer_id, cmd.balance_cents)
        uow.accounts.add(account)
        uow.commit()
    log.info("account_opened", customer_id=cmd.customer_id, balance_cents=cmd.balance_cents)
    return account


def deposit(cmd: Deposit, uow: UnitOfWork) -> Account:
    """Add money to an account; returns the account with its new balance."""
    with uow:
        account = uow.accounts.lock(cmd.customer_id)
        if account is None:
            raise UnknownAccount(cmd.customer_id)
        account.deposit(cmd.amount_cents)
        uow.commit()
    log.info("deposited", customer_id=cmd.customer_id, amount_cents=cmd.amount_cents)
    return account


def orders_created(
    envelopes: Sequence[Envelope[OrderCreated]], uow: UnitOfWork
) -> list[OrderPayment]:
    """Charge each new order to its customer, or record why that failed."""
    return pay_orders(
        [
            PayOrder(e.payload.order_id, e.payload.customer_id, e.payload.total_cents)
            for e in envelopes
        ],
        uow,
    )


def orders_cancelled(
    envelopes: Sequence[Envelope[OrderCancelled]], uow: UnitOfWork
) -> list[OrderPayment]:
    """Remember each cancellation and refund the order's charge if there is one."""
    return compensate_orders([CompensateOrder(e.payload.order_id) for e in envelopes], uow)


def pay_order(cmd: PayOrder, uow: UnitOfWork) -> OrderPayment:
    """Charge the order once, unless it is cancelled, already charged or already failed."""
    [order] = pay_orders([cmd], uow)
    return order


def pay_orders(cmds: Sequence[PayOrder], uow: UnitOfWork) -> list[OrderPayment]:
    """`pay_order` for each command, in order: one customer's orders draw on one balance."""
    with uow:
        # Lock order: the orders, then the accounts; refunds take them in the same order.
        orders = uow.orders.lock_many(cmd.order_id for cmd in cmds)
        accounts = uow.accounts.lock_many(
            cmd.customer_id for cmd in cmds if not orders[cmd.order_id].settled
        )
        for cmd in cmds:
            order = orders[cmd.order_id]
            if order.settled:
                log.debug("payment_already_settled", correlation_id=str(cmd.order_id))
                continue
            order.pay(accounts.get(cmd.customer_id), cmd.amount_cents)
            log.debug(
                "payment_decided",
                correlation_id=str(cmd.order_id),
                charged=order.charge is not None,
                failure_reason=order.failure_reason,
                amount_cents=cmd.amount_cents,
            )
        uow.commit()
    return [orders[cmd.order_id] for cmd in cmds]


def compensate_order(cmd: CompensateOrder, uow: UnitOfWork) -> OrderPayment:
    """Record the cancellation; refund the order's charge once if there is one."""
    [order] = compensate_orders([cmd], uow)
    return order


def compensate_orders(cmds: Sequence[CompensateOrder], uow: UnitOfWork) -> list[OrderPayment]:
    """`compensate_order` for each command, in order."""
    with uow:
        orders = uow.orders.lock_many(cmd.order_id for cmd in cmds)
        accounts = uow.accounts.lock_many(
            order.charge.customer_id
            for order in orders.values()
            if order.charge is not None and order.refund is None
        )
        for cmd in cmds:
            order = orders[cmd.order_id]
            needs_refund = order.charge is not None and order.refund is None
            order.cancel(accounts.get(order.charge.customer_id) if order.charge else None)
            log.debug(
                "order_cancellation_recorded",
                correlation_id=str(cmd.order_id),
                refunded=needs_refund,
            )
        uow.commit()
    return [orders[cmd.order_id] for cmd in cmds]


def get_account(customer_id: str, uow: UnitOfWork) -> Account:
    """The account of a customer; raises `UnknownAccount`."""
    with uow:
        account = uow.accounts.get(customer_id)
    if account is None:
        raise UnknownAccount(customer_id)
    return account


def list_payments(order_id: UUID, uow: UnitOfWork) -> list[LedgerEntry]:
    """The charges and refunds of an order, oldest first."""
    with uow:
        return uow.orders.payments(order_id)


def ledger_summary(uow: UnitOfWork) -> LedgerSummary:
    """Totals for checking the money invariant."""
    with uow:
        return uow.accounts.summary()
