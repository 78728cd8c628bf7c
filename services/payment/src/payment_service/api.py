"""HTTP API: routes turn requests into commands and queries and call the handlers."""

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Annotated, Any, Final, Literal
from uuid import UUID

from fastapi import Depends, FastAPI, Path, Query, Request, Response, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from starlette.exceptions import HTTPException as StarletteHTTPException

from payment_service import handlers
from payment_service.domain import (
    Account,
    AccountAlreadyExists,
    LedgerEntry,
    LedgerSummary,
    UnknownAccount,
)
from payment_service.handlers import UnitOfWork
from payment_service.metrics import Metrics
from shared_events.runtime.http_metrics import RequestMetrics

MAX_CENTS: Final = 10**12
"""Largest amount one request may move (10 billion units): keeps balances far from bigint."""

# Not blank, and no NUL (PostgreSQL text cannot hold it: invalid input, not a server error).
CUSTOMER_ID_PATTERN = r"^[^\x00]*[^\x00\s][^\x00]*$"
CustomerId = Annotated[str, Field(min_length=1, max_length=200, pattern=CUSTOMER_ID_PATTERN)]
CustomerIdPath = Annotated[str, Path(pattern=CUSTOMER_ID_PATTERN)]


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


class ErrorOut(BaseModel):
    """An error that is not a validation error (404, 409): FastAPI's `{"detail": message}`."""

    detail: str


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "Unknown account"}
}


async def _undecodable_body_is_422(request: Request, error: Exception) -> Response:
    # FastAPI answers a body it cannot even decode (not UTF-8) with 400; DESIGN says 422.
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 400:
        problem = {"type": "json_invalid", "loc": ["body"], "msg": "body is not UTF-8 JSON"}
        return JSONResponse({"detail": [problem]}, status_code=422)
    return await http_exception_handler(request, error)


def _unit_of_work(request: Request) -> UnitOfWork:
    factory: Callable[[], UnitOfWork] = request.app.state.uow_factory
    return factory()


UoW = Annotated[UnitOfWork, Depends(_unit_of_work)]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(
    uow_factory: Callable[[], UnitOfWork],
    readiness: Callable[[], Mapping[str, bool]],
    lifespan: Lifespan | None = None,
    metrics: Metrics | None = None,
) -> FastAPI:
    """The payment API; `readiness` reports each part (`database`, `consumer`, `relay`)."""
    app = FastAPI(title="payment service", version="1.0.0", lifespan=lifespan)
    app.state.uow_factory = uow_factory

    metrics = metrics or Metrics()
    app.add_middleware(RequestMetrics, observe=metrics.request)

    app.add_exception_handler(StarletteHTTPException, _undecodable_body_is_422)

    @app.exception_handler(UnknownAccount)
    async def _not_found(_request: Request, error: UnknownAccount) -> JSONResponse:
        return JSONResponse(
            {"detail": f"account {str(error)!r} not found"}, status.HTTP_404_NOT_FOUND
        )

    @app.exception_handler(AccountAlreadyExists)
    async def _exists(_request: Request, error: AccountAlreadyExists) -> JSONResponse:
        return JSONResponse(
            {"detail": f"account {str(error)!r} already exists"}, status.HTTP_409_CONFLICT
        )

    @app.post(
        "/accounts",
        status_code=status.HTTP_201_CREATED,
        response_model=AccountOut,
        responses={409: {"model": ErrorOut, "description": "The account exists"}},
    )
    def open_account(body: NewAccount, uow: UoW) -> AccountOut:
        """Open a prepaid account; 409 if the customer already has one."""
        command = handlers.OpenAccount(body.customer_id, body.balance_cents)
        return AccountOut.of(handlers.open_account(command, uow))

    @app.get("/accounts/{customer_id}", response_model=AccountOut, responses=NOT_FOUND)
    def get_account(customer_id: CustomerIdPath, uow: UoW) -> AccountOut:
        """A customer's balance."""
        return AccountOut.of(handlers.get_account(customer_id, uow))

    @app.post("/accounts/{customer_id}/deposits", response_model=AccountOut, responses=NOT_FOUND)
    def deposit(customer_id: CustomerIdPath, body: NewDeposit, uow: UoW) -> AccountOut:
        """Add money to an account; returns the account with its new balance."""
        command = handlers.Deposit(customer_id, body.amount_cents)
        return AccountOut.of(handlers.deposit(command, uow))

    @app.get("/payments", response_model=list[PaymentOut])
    def list_payments(order_id: Annotated[UUID, Query()], uow: UoW) -> list[PaymentOut]:
        """The order's charges and refunds (money movements only; failures move nothing)."""
        return [PaymentOut.of(entry) for entry in handlers.list_payments(order_id, uow)]

    @app.get("/ledger/summary", response_model=LedgerSummaryOut)
    def ledger_summary(uow: UoW) -> LedgerSummaryOut:
        """Totals for checking that balances + charges - refunds = opening + deposits."""
        return LedgerSummaryOut.of(handlers.ledger_summary(uow))

    @app.get("/health/live")
    def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready", responses={503: {"description": "A part is not ready"}})
    def ready() -> JSONResponse:
        parts = dict(readiness())
        code = status.HTTP_200_OK if all(parts.values()) else status.HTTP_503_SERVICE_UNAVAILABLE
        not_ready = sorted(name for name, ok in parts.items() if not ok)
        body = {"status": "ready" if not not_ready else "not ready", "checks": parts}
        return JSONResponse({**body, "not_ready": not_ready}, code)

    @app.get("/metrics", include_in_schema=False)
    def render_metrics() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return app
