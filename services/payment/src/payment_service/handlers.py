"""One function per command, event and query: `(message, uow) -> result`, one commit each."""

from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self
from uuid import UUID

import structlog

from payment_service.domain import (
    Account,
    LedgerEntry,
    LedgerSummary,
    OrderPayment,
    UnknownAccount,
)
from shared_events import Envelope, Event, follow_up, new_envelope

SERVICE = "payment"
"""The producer name stamped on every event this service writes."""

log = structlog.get_logger(__name__)


def envelopes_for(events: list[Event], cause: Envelope[Event] | None) -> list[Envelope[Event]]:
    """Wrap the events a unit of work collected: follow-ups of `cause` when one is given."""
    if cause is None:
        return [new_envelope(event, producer=SERVICE) for event in events]
    return [follow_up(cause, event, producer=SERVICE) for event in events]


class Accounts(Protocol):
    """Where accounts live; `lock` holds the account until the unit of work ends."""

    def add(self, account: Account) -> None:
        """Store a new account; raises `AccountAlreadyExists` when the id is taken."""

    def get(self, customer_id: str) -> Account | None:
        """The account as it is now, for reading."""

    def lock(self, customer_id: str) -> Account | None:
        """The account, locked against concurrent changes, for changing."""

    def summary(self) -> LedgerSummary:
        """Totals of balances and of the ledger, from one snapshot."""


class OrderPayments(Protocol):
    """What payment knows of each order; `lock` serialises work on one order."""

    def lock(self, order_id: UUID) -> OrderPayment:
        """The order's payment (empty if the order was never seen), locked."""

    def payments(self, order_id: UUID) -> list[LedgerEntry]:
        """The order's charges and refunds, oldest first."""


class UnitOfWork(Protocol):
    """One transaction: changes to what the repositories returned and the events they caused
    are written together by `commit`, or not at all."""

    @property
    def accounts(self) -> Accounts: ...

    @property
    def orders(self) -> OrderPayments: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...


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


def pay_order(cmd: PayOrder, uow: UnitOfWork) -> OrderPayment:
    """Charge the order once, unless it is cancelled, already charged or already failed."""
    with uow:
        # Lock order: the order, then the account; refunds take them in the same order.
        order = uow.orders.lock(cmd.order_id)
        if order.settled:
            log.info("payment_already_settled", order_id=str(cmd.order_id))
            return order
        account = uow.accounts.lock(cmd.customer_id)
        order.pay(account, cmd.amount_cents)
        uow.commit()
    log.info(
        "payment_decided",
        order_id=str(cmd.order_id),
        charged=order.charge is not None,
        failure_reason=order.failure_reason,
        amount_cents=cmd.amount_cents,
    )
    return order


def compensate_order(cmd: CompensateOrder, uow: UnitOfWork) -> OrderPayment:
    """Record the cancellation; refund the order's charge once if there is one."""
    with uow:
        order = uow.orders.lock(cmd.order_id)
        needs_refund = order.charge is not None and order.refund is None
        account = uow.accounts.lock(order.charge.customer_id) if order.charge else None
        order.cancel(account)
        uow.commit()
    log.info("order_cancellation_recorded", order_id=str(cmd.order_id), refunded=needs_refund)
    return order


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
