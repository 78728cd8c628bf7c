"""The order service's routes: orders placed, read, listed and cancelled, and the local
catalog. Each turns a request into a command or query for `handlers` and shapes the answer;
`shared_events.runtime.http.service_app` adds health, metrics and the shared errors."""

from collections.abc import Callable
from importlib import metadata
from typing import Annotated, Any
from uuid import UUID

import structlog
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Path, Query, status
from fastapi.responses import JSONResponse

from order_service import handlers
from order_service.domain import OrderStatus, UnknownSkus
from order_service.handlers import UnitOfWork
from order_service.metrics import Metrics
from order_service.schemas import CatalogEntryOut, OrderOut, PlaceOrderIn
from shared_events.runtime.http import (
    NO_NUL,
    Lifespan,
    Readiness,
    not_found,
    service_app,
    unit_of_work,
)

NOT_FOUND = not_found("Unknown id")
Uow = Annotated[UnitOfWork, Depends(unit_of_work)]
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
    uow_factory: Callable[[], UnitOfWork],
    readiness: Readiness,
    metrics: Metrics,
    lifespan: Lifespan | None = None,
    pages: APIRouter | None = None,
    stuck_after_s: float = 60.0,
) -> FastAPI:
    """The order service's FastAPI app; background workers come in through `lifespan`.

    `pages`: the operator pages under /ui (`order_service.ui`). `stuck_after_s`
    (ORDER_SAGA_STUCK_AFTER_S): an open order older than that is stuck.
    """
    routes = APIRouter()
    if pages is not None:
        routes.include_router(pages)
    routes.include_router(_routes(metrics, stuck_after_s))
    return service_app(
        "order service",
        metadata.version("order-service"),
        routes,
        uow_factory=uow_factory,
        readiness=readiness,
        metrics=metrics,
        lifespan=lifespan,
    )


def _routes(metrics: Metrics, stuck_after_s: float) -> APIRouter:
    router = APIRouter()

    @router.post("/orders", status_code=status.HTTP_201_CREATED, response_model=OrderOut)
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

    @router.get("/orders/{order_id}", response_model=OrderOut, responses=NOT_FOUND)
    def get_order(order_id: UUID, uow: Uow) -> Any:
        """One order with its saga history."""
        order = handlers.get_order(order_id, uow)
        if order is None:
            raise _not_found(order_id)
        return OrderOut.of(order)

    @router.get("/orders", response_model=list[OrderOut])
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
        query = handlers.FindOrders(
            customer_id=customer_id,
            status=status,
            limit=limit,
            open_longer_than_s=stuck_after_s if stuck else None,
        )
        return [OrderOut.of(order) for order in handlers.find_orders(query, uow)]

    @router.post(
        "/orders/{order_id}/cancel", status_code=202, response_model=OrderOut, responses=NOT_FOUND
    )
    def cancel_order(order_id: UUID, uow: Uow) -> Any:
        """Cancel (customer_cancelled) and trigger compensation; a no-op when already cancelled."""
        order = handlers.cancel_order(handlers.CancelOrder(order_id), uow)
        if order is None:
            raise _not_found(order_id)
        return OrderOut.of(order)

    @router.get("/catalog/{sku}", response_model=CatalogEntryOut, responses=NOT_FOUND)
    def get_catalog_entry(sku: Annotated[str, Path(pattern=NO_NUL)], uow: Uow) -> Any:
        """What this service knows of a product (404 until its ProductUpserted arrived)."""
        entry = handlers.get_catalog_entry(sku, uow)
        if entry is None:
            raise HTTPException(404, f"sku {sku!r} is not in the order service's catalog")
        return CatalogEntryOut.model_validate(entry, from_attributes=True)

    return router


def _invalid(errors: Any) -> JSONResponse:
    log = structlog.get_logger(__name__)
    detail = list(errors)
    log.info("order_rejected", errors=[e["type"] for e in detail])
    return JSONResponse({"detail": detail}, status_code=422)


def _not_found(order_id: UUID) -> HTTPException:
    return HTTPException(404, f"order {order_id} not found")
