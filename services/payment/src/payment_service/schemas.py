"""Request and response bodies of the HTTP API (kept apart from tables and the domain)."""

from datetime import datetime
from typing import Annotated, Final, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from payment_service.domain import Account, LedgerEntry, LedgerSummary

MAX_CENTS: Final = 10**12
"""Largest amount one request may move (10 billion units): keeps balances far from bigint."""

# Not blank, and no NUL (PostgreSQL text cannot hold it: invalid input, not a server error).
CUSTOMER_ID_PATTERN = r"^[^\x00]*[^\x00\s][^\x00]*$"
CustomerId = Annotated[str, Field(min_length=1, max_length=200, pattern=CUSTOMER_ID_PATTERN)]


class NewAccount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: CustomerId
    balance_cents: Annotated[StrictInt, Field(ge=0, le=MAX_CENTS)]


class NewDeposit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_cents: Annotated[StrictInt, Field(gt=0, le=MAX_CENTS)]


class AccountOut(BaseModel):
    customer_id: str
    balance_cents: int

    @classmethod
    def of(cls, account: Account) -> "AccountOut":
        return cls(customer_id=account.customer_id, balance_cents=account.balance_cents)


class PaymentOut(BaseModel):
    payment_id: UUID
    order_id: UUID
    customer_id: str
    kind: Literal["charge", "refund"]
    amount_cents: int
    created_at: datetime

    @classmethod
    def of(cls, entry: LedgerEntry) -> "PaymentOut":
        assert entry.order_id is not None
        return cls(
            payment_id=entry.entry_id,
            order_id=entry.order_id,
            customer_id=entry.customer_id,
            kind=entry.kind.value,
            amount_cents=entry.amount_cents,
            created_at=entry.created_at,
        )


class LedgerSummaryOut(BaseModel):
    """Totals of the ledger; `balanced` is the money invariant of DESIGN section 6."""

    accounts: int
    balances_cents: int
    opening_cents: int
    deposits_cents: int
    charges_cents: int
    refunds_cents: int
    balanced: bool

    @classmethod
    def of(cls, summary: LedgerSummary) -> "LedgerSummaryOut":
        return cls(
            accounts=summary.accounts,
            balances_cents=summary.balances_cents,
            opening_cents=summary.opening_cents,
            deposits_cents=summary.deposits_cents,
            charges_cents=summary.charges_cents,
            refunds_cents=summary.refunds_cents,
            balanced=summary.balanced,
        )
