"""Prepaid accounts, the ledger of money movements, and each order's payment: rules, no I/O."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from uuid import UUID, uuid4

from shared_events import (
    Event,
    PaymentFailed,
    PaymentFailureReason,
    PaymentProcessed,
    PaymentRefunded,
)


class EntryKind(StrEnum):
    """What moved money on an account; charges and refunds are the order's payments."""

    OPENING = "opening"
    DEPOSIT = "deposit"
    CHARGE = "charge"
    REFUND = "refund"


PAYMENT_KINDS = (EntryKind.CHARGE, EntryKind.REFUND)


class PaymentError(Exception):
    """A command broke a payment rule."""


class AccountAlreadyExists(PaymentError):
    """An account with that customer id is already open."""


class UnknownAccount(PaymentError):
    """No account is open for that customer id."""


class InsufficientFunds(PaymentError):
    """The balance does not cover the amount."""


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One money movement: `amount_cents` is positive, `kind` says which way it goes."""

    entry_id: UUID
    customer_id: str
    kind: EntryKind
    amount_cents: int
    order_id: UUID | None
    created_at: datetime

    @property
    def delta_cents(self) -> int:
        """The change to the account's balance."""
        return -self.amount_cents if self.kind is EntryKind.CHARGE else self.amount_cents


def _entry(customer_id: str, kind: EntryKind, amount: int, order_id: UUID | None) -> LedgerEntry:
    return LedgerEntry(uuid4(), customer_id, kind, amount, order_id, datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class LedgerSummary:
    """Totals of the whole ledger: the money invariant holds when `balanced`."""

    accounts: int
    balances_cents: int
    opening_cents: int
    deposits_cents: int
    charges_cents: int
    refunds_cents: int

    @property
    def balanced(self) -> bool:
        """Balances + charges - refunds = opening balances + deposits (DESIGN section 6)."""
        money_out = self.balances_cents + self.charges_cents - self.refunds_cents
        return money_out == self.opening_cents + self.deposits_cents


@dataclass(slots=True)
class Account:
    """A customer's prepaid balance; every change is recorded as a new ledger entry."""

    customer_id: str
    balance_cents: int
    new_entries: list[LedgerEntry] = field(default_factory=list)

    @classmethod
    def open(cls, customer_id: str, balance_cents: int) -> "Account":
        """A new account whose opening balance is its first ledger entry."""
        if balance_cents < 0:
            raise ValueError("an opening balance cannot be negative")
        account = cls(customer_id, 0)
        account._record(_entry(customer_id, EntryKind.OPENING, balance_cents, None))
        return account

    def deposit(self, amount_cents: int) -> LedgerEntry:
        """Add money to the balance."""
        return self._record(_entry(self.customer_id, EntryKind.DEPOSIT, amount_cents, None))

    def charge(self, order_id: UUID, amount_cents: int) -> LedgerEntry:
        """Take an order's amount from the balance; never overdraws."""
        if amount_cents > self.balance_cents:
            raise InsufficientFunds(f"{self.balance_cents} cents do not cover {amount_cents}")
        return self._record(_entry(self.customer_id, EntryKind.CHARGE, amount_cents, order_id))

    def refund(self, charge: LedgerEntry) -> LedgerEntry:
        """Give a charge's amount back."""
        return self._record(
            _entry(self.customer_id, EntryKind.REFUND, charge.amount_cents, charge.order_id)
        )

    def _record(self, entry: LedgerEntry) -> LedgerEntry:
        if entry.kind is not EntryKind.OPENING and entry.amount_cents <= 0:
            raise ValueError("a money movement must be positive")
        self.balance_cents += entry.delta_cents
        self.new_entries.append(entry)
        return entry


@dataclass(slots=True)
class OrderPayment:
    """What payment knows of one order: cancelled or not, its failure, charge and refund.

    At most one charge and one refund per order; a refund needs a charge; a cancelled
    order is never charged. The events the order's payment causes are in `events`.
    """

    order_id: UUID
    cancelled: bool = False
    failure_reason: PaymentFailureReason | None = None
    charge: LedgerEntry | None = None
    refund: LedgerEntry | None = None
    events: list[Event] = field(default_factory=list)

    @property
    def settled(self) -> bool:
        """Whether charging was already decided (charged, failed, or cancelled first)."""
        return self.cancelled or self.charge is not None or self.failure_reason is not None

    def pay(self, account: Account | None, amount_cents: int) -> None:
        """Charge the account once for this order, or record why it cannot be charged."""
        if self.settled:
            return
        if account is None:
            self._fail(PaymentFailureReason.UNKNOWN_CUSTOMER)
            return
        try:
            self.charge = account.charge(self.order_id, amount_cents)
        except InsufficientFunds:
            self._fail(PaymentFailureReason.INSUFFICIENT_FUNDS)
            return
        self.events.append(
            PaymentProcessed(
                order_id=self.order_id,
                payment_id=self.charge.entry_id,
                amount_cents=amount_cents,
            )
        )

    def cancel(self, account: Account | None) -> None:
        """Mark the order cancelled and refund its charge (once) to `account`, the charged one."""
        self.cancelled = True
        if self.charge is None or self.refund is not None:
            return
        if account is None or account.customer_id != self.charge.customer_id:
            raise UnknownAccount(f"the charged account {self.charge.customer_id!r} is needed")
        self.refund = account.refund(self.charge)
        # payment_id is the refund's own id: every money movement has one id, as in
        # GET /payments; the charge it undoes is the order's only charge.
        self.events.append(
            PaymentRefunded(
                order_id=self.order_id,
                payment_id=self.refund.entry_id,
                amount_cents=self.refund.amount_cents,
            )
        )

    def _fail(self, reason: PaymentFailureReason) -> None:
        self.failure_reason = reason
        self.events.append(PaymentFailed(order_id=self.order_id, reason=reason))
