"""The inventory service's routes: products and stock, and the reservations of an order.
Each turns a request into a command or query for `handlers` and shapes the answer;
`shared_events.runtime.http.service_app` adds health, metrics and the shared errors."""

from collections.abc import Callable
from importlib import metadata
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Response

from inventory_service import handlers
from inventory_service.domain import Product, ReservationView
from inventory_service.handlers import UnitOfWork
from inventory_service.metrics import Metrics
from inventory_service.schemas import ProductIn, ProductOut, ReservationOut
from shared_events.runtime.http import (
    NO_NUL,
    Lifespan,
    Readiness,
    not_found,
    service_app,
    unit_of_work,
)

Uow = Annotated[UnitOfWork, Depends(unit_of_work)]
Sku = Annotated[
    str, Path(min_length=1, max_length=64, pattern=NO_NUL, description="Stock keeping unit")
]


def create_app(
    uow_factory: Callable[[], UnitOfWork],
    readiness: Readiness,
    metrics: Metrics,
    lifespan: Lifespan | None = None,
) -> FastAPI:
    """The inventory service's FastAPI app; background workers come in through `lifespan`."""
    return service_app(
        "inventory service",
        metadata.version("inventory-service"),
        _routes(),
        uow_factory=uow_factory,
        readiness=readiness,
        metrics=metrics,
        lifespan=lifespan,
    )


def _routes() -> APIRouter:
    router = APIRouter()

    @router.put(
        "/products/{sku}",
        response_model=ProductOut,
        responses={201: {"model": ProductOut, "description": "Created"}},
        summary="Create (201) or replace (200) a product",
    )
    def put_product(sku: Sku, body: ProductIn, uow: Uow, response: Response) -> Product:
        command = handlers.UpsertProduct(sku, body.name, body.price_cents, body.quantity)
        product, created = handlers.upsert_product(command, uow)
        response.status_code = 201 if created else 200
        return product

    @router.get("/products/{sku}", response_model=ProductOut, responses=not_found("Unknown sku"))
    def get_product(sku: Sku, uow: Uow) -> Product:
        product = handlers.get_product(sku, uow)
        if product is None:
            raise HTTPException(404, f"product {sku} not found")
        return product

    @router.get("/products", response_model=list[ProductOut])
    def list_products(uow: Uow) -> list[Product]:
        return handlers.list_products(uow)

    @router.get("/reservations", response_model=list[ReservationOut])
    def list_reservations(
        uow: Uow,
        # Required: every reservation ever made is no answer to give in one response.
        order_id: Annotated[UUID, Query(description="The order whose reservations to list")],
    ) -> list[ReservationView]:
        """The reservations of one order, by sku (none for an order inventory never saw)."""
        return handlers.list_reservations(order_id, uow)

    return router
