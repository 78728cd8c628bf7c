"""HTTP API: routes turn requests into commands and queries and call the handlers."""

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints
from starlette.exceptions import HTTPException as StarletteHTTPException

from inventory_service import handlers
from inventory_service.domain import Product, ReservationStatus
from inventory_service.handlers import UnitOfWork
from inventory_service.metrics import Metrics
from shared_events.runtime.http_metrics import RequestMetrics

MAX_UNITS = 2**31 - 1
"""Upper bound of a quantity or a price, so sums of them stay far from any column limit."""

NO_NUL = r"^[^\x00]*$"
"""PostgreSQL text cannot hold NUL: such input is invalid (422), not a server error."""
Sku = Annotated[
    str, Path(min_length=1, max_length=64, pattern=NO_NUL, description="Stock keeping unit")
]


class ProductIn(BaseModel):
    """Body of `PUT /products/{sku}`: `quantity` becomes the units available to reserve."""

    name: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL),
    ]
    price_cents: Annotated[StrictInt, Field(gt=0, le=MAX_UNITS)]
    quantity: Annotated[StrictInt, Field(ge=0, le=MAX_UNITS)]


class ProductOut(BaseModel):
    """A product and its stock: `available` to reserve, `reserved` held by orders."""

    model_config = ConfigDict(from_attributes=True)

    sku: str
    name: str
    price_cents: int
    available: int
    reserved: int


class ReservationOut(BaseModel):
    """Units of one sku held (`RESERVED`) or once held (`RELEASED`) for an order."""

    model_config = ConfigDict(from_attributes=True)

    order_id: UUID
    sku: str
    quantity: int
    status: ReservationStatus
    created_at: datetime
    updated_at: datetime


class ErrorOut(BaseModel):
    """An error that is not a validation error (404): FastAPI's `{"detail": message}`."""

    detail: str


async def _undecodable_body_is_422(request: Request, error: Exception) -> Response:
    # FastAPI answers a body it cannot even decode (not UTF-8) with 400; DESIGN says 422.
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 400:
        problem = {"type": "json_invalid", "loc": ["body"], "msg": "body is not UTF-8 JSON"}
        return JSONResponse({"detail": [problem]}, status_code=422)
    return await http_exception_handler(request, error)


Readiness = Callable[[], Mapping[str, bool]]
"""Which parts of the process are ready (database, consumer, relay)."""


def _uow(request: Request) -> UnitOfWork:
    factory: Callable[[], UnitOfWork] = request.app.state.uow_factory
    return factory()


Uow = Annotated[UnitOfWork, Depends(_uow)]


def create_app(
    uow_factory: Callable[[], UnitOfWork],
    *,
    readiness: Readiness,
    metrics: Metrics,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
) -> FastAPI:
    """The inventory HTTP API over a unit-of-work factory."""
    app = FastAPI(title="inventory service", version="1.0.0", lifespan=lifespan)
    app.state.uow_factory = uow_factory

    app.add_middleware(RequestMetrics, observe=metrics.request)

    app.add_exception_handler(StarletteHTTPException, _undecodable_body_is_422)

    @app.put(
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

    @app.get(
        "/products/{sku}",
        response_model=ProductOut,
        responses={404: {"model": ErrorOut, "description": "Unknown sku"}},
    )
    def get_product(sku: Sku, uow: Uow) -> Product:
        product = handlers.get_product(sku, uow)
        if product is None:
            raise HTTPException(404, f"product {sku} not found")
        return product

    @app.get("/products", response_model=list[ProductOut])
    def list_products(uow: Uow) -> list[Product]:
        return handlers.list_products(uow)

    @app.get("/reservations", response_model=list[ReservationOut])
    def list_reservations(
        uow: Uow,
        # Required: every reservation ever made is no answer to give in one response.
        order_id: Annotated[UUID, Query(description="The order whose reservations to list")],
    ) -> list[handlers.ReservationView]:
        """The reservations of one order, by sku (none for an order inventory never saw)."""
        return handlers.list_reservations(order_id, uow)

    @app.get("/health/live")
    def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready", responses={503: {"description": "A part is not ready"}})
    def ready() -> JSONResponse:
        parts = dict(readiness())
        ok = all(parts.values())
        body: dict[str, Any] = {"status": "ready" if ok else "not ready", "checks": parts}
        body["not_ready"] = sorted(name for name, up in parts.items() if not up)
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    def render_metrics() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return app
