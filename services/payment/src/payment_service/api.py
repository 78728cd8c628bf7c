"""The payment service's routes: accounts, deposits, payments and the ledger's totals.
Each turns a request into a command or query for `handlers` and shapes the answer;
`shared_events.runtime.http.service_app` adds health, metrics and the shared errors."""

from collections.abc import Callable
from importlib import metadata
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, status

from payment_service import handlers
from payment_service.domain import AccountAlreadyExists, UnknownAccount
from payment_service.handlers import UnitOfWork
from payment_service.metrics import Metrics
from payment_service.schemas import (
    CUSTOMER_ID_PATTERN,
    AccountOut,
    LedgerSummaryOut,
    NewAccount,
    NewDeposit,
    PaymentOut,
)
from shared_events.runtime.http import (
    ErrorOut,
    Lifespan,
    Readiness,
    not_found,
    service_app,
    unit_of_work,
)

NOT_FOUND = not_found("Unknown account")
Uow = Annotated[UnitOfWork, Depends(unit_of_work)]
CustomerIdPath = Annotated[str, Path(pattern=CUSTOMER_ID_PATTERN)]


def create_app(
    uow_factory: Callable[[], UnitOfWork],
    readiness: Readiness,
    metrics: Metrics,
    lifespan: Lifespan | None = None,
) -> FastAPI:
    """The payment service's FastAPI app; background workers come in through `lifespan`."""
    return service_app(
        "payment service",
        metadata.version("payment-service"),
        _routes(),
        uow_factory=uow_factory,
        readiness=readiness,
        metrics=metrics,
        lifespan=lifespan,
    )


def _routes() -> APIRouter:
    router = APIRouter()

    @router.post(
        "/accounts",
        status_code=status.HTTP_201_CREATED,
        response_model=AccountOut,
        responses={409: {"model": ErrorOut, "description": "The account exists"}},
    )
    def open_account(body: NewAccount, uow: Uow) -> AccountOut:
        """Open a prepaid account; 409 if the customer already has one."""
        command = handlers.OpenAccount(body.customer_id, body.balance_cents)
        try:
            return AccountOut.of(handlers.open_account(command, uow))
        except AccountAlreadyExists as error:
            raise HTTPException(409, f"account {str(error)!r} already exists") from error

    @router.get("/accounts/{customer_id}", response_model=AccountOut, responses=NOT_FOUND)
    def get_account(customer_id: CustomerIdPath, uow: Uow) -> AccountOut:
        """A customer's balance."""
        try:
            return AccountOut.of(handlers.get_account(customer_id, uow))
        except UnknownAccount as error:
            raise _not_found(error) from error

    @router.post("/accounts/{customer_id}/deposits", response_model=AccountOut, responses=NOT_FOUND)
    def deposit(customer_id: CustomerIdPath, body: NewDeposit, uow: Uow) -> AccountOut:
        """Add money to an account; returns the account with its new balance."""
        command = handlers.Deposit(customer_id, body.amount_cents)
        try:
            return AccountOut.of(handlers.deposit(command, uow))
        except UnknownAccount as error:
            raise _not_found(error) from error

    @router.get("/payments", response_model=list[PaymentOut])
    def list_payments(order_id: Annotated[UUID, Query()], uow: Uow) -> list[PaymentOut]:
        """The order's charges and refunds (money movements only; failures move nothing)."""
        return [PaymentOut.of(entry) for entry in handlers.list_payments(order_id, uow)]

    @router.get("/ledger/summary", response_model=LedgerSummaryOut)
    def ledger_summary(uow: Uow) -> LedgerSummaryOut:
        """Totals for checking that balances + charges - refunds = opening + deposits."""
        return LedgerSummaryOut.of(handlers.ledger_summary(uow))

    return router


def _not_found(error: UnknownAccount) -> HTTPException:
    return HTTPException(404, f"account {str(error)!r} not found")
