"""The HTTP app every service serves: its own routes inside one shared skeleton.

`service_app` adds what the three services have in common: request metrics, `/health/live`,
`/health/ready` (503 naming what is not ready), `/metrics`, and a 422 for a body that is not
even UTF-8. Routes get their unit of work through `unit_of_work`, from the factory the app
was built with (`app.state.uow_factory`, so a test can swap it).
"""

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared_events.runtime.http_metrics import RequestMetrics

NO_NUL = r"^[^\x00]*$"
"""PostgreSQL text cannot hold NUL: such input is invalid (422), not a server error."""
Readiness = Callable[[], Mapping[str, bool]]
"""Each part the instance runs (database, consumer, relay) -> whether it is ready."""
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
"""Runs the background workers (consumer, relay) for as long as the app serves."""


class HttpMetrics(Protocol):
    """What the skeleton needs of a service's metrics (`ServiceMetrics` has both)."""

    def request(self, method: str, route: str, status: int, seconds: float) -> None: ...
    def render(self) -> bytes: ...


class ErrorOut(BaseModel):
    """An error that is not a validation error (404, 409): FastAPI's `{"detail": message}`."""

    detail: str


def not_found(description: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` entry of a route that answers 404 for an unknown id."""
    return {404: {"model": ErrorOut, "description": description}}


def unit_of_work(request: Request) -> Any:
    """A fresh unit of work per request: `Annotated[UnitOfWork, Depends(unit_of_work)]`."""
    return request.app.state.uow_factory()


def service_app(
    title: str,
    version: str,
    routes: APIRouter,
    *,
    uow_factory: Callable[[], object],
    readiness: Readiness,
    metrics: HttpMetrics,
    lifespan: Lifespan | None = None,
) -> FastAPI:
    """A service's FastAPI app: its `routes`, then health and metrics; workers via `lifespan`."""
    app = FastAPI(title=title, version=version, lifespan=lifespan)
    app.state.uow_factory = uow_factory
    app.add_middleware(RequestMetrics, observe=metrics.request)
    app.add_exception_handler(StarletteHTTPException, _undecodable_body_is_422)
    app.include_router(routes)
    app.include_router(_health_and_metrics(readiness, metrics))
    return app


def _health_and_metrics(readiness: Readiness, metrics: HttpMetrics) -> APIRouter:
    router = APIRouter()

    @router.get("/health/live")
    def live() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @router.get("/health/ready", responses={503: {"description": "A part is not ready"}})
    def ready() -> JSONResponse:
        """200 when every part this instance runs is ready, else 503 naming the others."""
        parts = dict(readiness())
        not_ready = sorted(name for name, ok in parts.items() if not ok)
        body = {"status": "not ready" if not_ready else "ready", "checks": parts}
        return JSONResponse({**body, "not_ready": not_ready}, 503 if not_ready else 200)

    @router.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        """Prometheus text exposition."""
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return router


async def _undecodable_body_is_422(request: Request, error: Exception) -> Response:
    # FastAPI answers a body it cannot even decode (not UTF-8) with 400; DESIGN says 422.
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 400:
        problem = {"type": "json_invalid", "loc": ["body"], "msg": "body is not UTF-8 JSON"}
        return JSONResponse({"detail": [problem]}, status_code=422)
    return await http_exception_handler(request, error)
