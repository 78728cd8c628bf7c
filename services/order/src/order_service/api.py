"""HTTP API: routes turn requests into commands, call the handlers and shape the answers."""

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

import structlog
from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    Header,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
    status,
)
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException

from order_service import handlers
from order_service.domain import OrderStatus, UnknownSkus
from order_service.handlers import UnitOfWork
from order_service.metrics import Metrics
from order_service.schemas import NO_NUL, CatalogEntryOut, ErrorOut, OrderOut, PlaceOrderIn
from shared_events.runtime.http_metrics import RequestMetrics

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "Unknown id"}}
UnitOfWorkFactory = Callable[[], UnitOfWork]
Readiness = Callable[[], Mapping[str, bool]]
"""Each part the instance needs (database, consumer, relay) -> whether it is ready."""


def get_uow(request: Request) -> UnitOfWork:
    """A fresh unit of work per request."""
    factory: UnitOfWorkFactory = request.app.state.uow_factory
    return factory()


Uow = Annotated[UnitOfWork, Depends(get_uow)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=NO_NUL,
        description=(
            "A retry with this key and the same customer and items (in any order) returns the"
            " order the key placed; other items or another customer with it are a 422"
        ),
    ),
]


def create_app(
    uow_factory: UnitOfWorkFactory,
    readiness: Readiness,
    metrics: Metrics,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
    pages: APIRouter | None = None,
    stuck_after_s: float = 60.0,
) -> FastAPI:
    """The order service's FastAPI app; background workers come in through `lifespan`.

    `stuck_after_s` (ORDER_SAGA_STUCK_AFTER_S): an open order older than that is stuck.
    """
    app = FastAPI(title="order service", version="1.0", lifespan=lifespan)
    app.state.uow_factory = uow_factory

    app.add_middleware(RequestMetrics, observe=metrics.request)

    app.add_exception_handler(StarletteHTTPException, _undecodable_body_is_422)
    if pages is not None:
        app.include_router(pages)  # the operator pages, /ui (order_service.ui)

    @app.post("/orders", status_code=status.HTTP_201_CREATED, response_model=OrderOut)
    def place_order(body: PlaceOrderIn, uow: Uow, idempotency_key: IdempotencyKey = None) -> Any:
        """Place a PENDING order priced from the local catalog (a sku given twice is merged)."""
        command = handlers.PlaceOrder(
            customer_id=body.customer_id,
            items=tuple((item.sku, item.quantity) for item in body.items),
            idempotency_key=idempotency_key,
        )
        try:
            order = handlers.place_order(command, uow)
        except UnknownSkus as error:
            return _invalid(
                {
                    "loc": ["body", "items", index, "sku"],
                    "msg": f"unknown sku {sku!r}: not in the catalog (yet)",
                    "type": "unknown_sku",
                    "input": sku,
                }
                for index, sku in sorted(error.positions.items())
            )
        except handlers.IdempotencyKeyReused:
            return _invalid(
                [
                    {
                        "loc": ["header", "Idempotency-Key"],
                        "msg": "this Idempotency-Key was used with a different request body",
                        "type": "idempotency_key_reused",
                        "input": idempotency_key,
                    }
                ]
            )
        metrics.order_placed()
        return OrderOut.of(order)

    @app.get("/orders/{order_id}", response_model=OrderOut, responses=NOT_FOUND)
    def get_order(order_id: UUID, uow: Uow) -> Any:
        """One order with its saga history."""
        with uow:
            order = uow.orders.get(order_id)
        if order is None:
            raise _not_found(order_id)
        return OrderOut.of(order)

    @app.get("/orders", response_model=list[OrderOut])
    def list_orders(
        uow: Uow,
        customer_id: Annotated[str | None, Query(min_length=1, pattern=NO_NUL)] = None,
        status: OrderStatus | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        stuck: Annotated[
            bool, Query(description="only open orders older than ORDER_SAGA_STUCK_AFTER_S")
        ] = False,
    ) -> Any:
        """Orders, newest first, optionally of one customer, in one status, or stuck."""
        stuck_before = datetime.now(UTC) - timedelta(seconds=stuck_after_s) if stuck else None
        with uow:
            found = uow.orders.find(
                customer_id=customer_id, status=status, limit=limit, stuck_before=stuck_before
            )
        return [OrderOut.of(order) for order in found]

    @app.post(
        "/orders/{order_id}/cancel", status_code=202, response_model=OrderOut, responses=NOT_FOUND
    )
    def cancel_order(order_id: UUID, uow: Uow) -> Any:
        """Cancel (customer_cancelled) and trigger compensation; a no-op when already cancelled."""
        order = handlers.cancel_order(handlers.CancelOrder(order_id), uow)
        if order is None:
            raise _not_found(order_id)
        return OrderOut.of(order)

    @app.get("/catalog/{sku}", response_model=CatalogEntryOut, responses=NOT_FOUND)
    def get_catalog_entry(sku: Annotated[str, Path(pattern=NO_NUL)], uow: Uow) -> Any:
        """What this service knows of a product (404 until its ProductUpserted arrived)."""
        with uow:
            entry = uow.catalog.get(sku)
        if entry is None:
            raise HTTPException(404, f"sku {sku!r} is not in the order service's catalog")
        return CatalogEntryOut.model_validate(entry, from_attributes=True)

    @app.get("/health/live")
    def live() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/health/ready", responses={503: {"description": "A part is not ready"}})
    def ready() -> JSONResponse:
        """200 when every part this instance runs is ready, else 503 naming the others."""
        parts = dict(readiness())
        not_ready = sorted(name for name, ok in parts.items() if not ok)
        body = {"status": "not ready" if not_ready else "ready", "checks": parts}
        return JSONResponse({**body, "not_ready": not_ready}, 503 if not_ready else 200)

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        """Prometheus text exposition."""
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return app


async def _undecodable_body_is_422(request: Request, error: Exception) -> Response:
    # FastAPI answers a body it cannot even decode (not UTF-8) with 400; DESIGN says 422.
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 400:
        problem = {"type": "json_invalid", "loc": ["body"], "msg": "body is not UTF-8 JSON"}
        return JSONResponse({"detail": [problem]}, status_code=422)
    return await http_exception_handler(request, error)


def _invalid(errors: Any) -> JSONResponse:
    log = structlog.get_logger(__name__)
    detail = list(errors)
    log.info("order_rejected", errors=[e["type"] for e in detail])
    return JSONResponse({"detail": detail}, status_code=422)


def _not_found(order_id: UUID) -> HTTPException:
    return HTTPException(404, f"order {order_id} not found")
