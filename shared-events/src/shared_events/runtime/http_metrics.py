"""Counting and timing HTTP requests, as pure ASGI middleware.

Starlette's `@app.middleware("http")` (BaseHTTPMiddleware) runs every request through a task
group and memory streams; on `POST /orders` that was a tenth of the request's CPU. This one
only watches the `http.response.start` message go by.
"""

import time
from collections.abc import Callable
from typing import Any

Scope = dict[str, Any]
Receive = Any
Send = Any
UNMATCHED = "unmatched"

ObserveRequest = Callable[[str, str, int, float], None]
"""(method, route, status, seconds) of one answered request: `ServiceMetrics.request`."""


class RequestMetrics:
    """Reports each request's method, route template, status and duration to `observe`
    (the route as declared, e.g. `/orders/{order_id}`; `unmatched` when none matched)."""

    def __init__(self, app: Any, *, observe: ObserveRequest) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def watch(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            # The router writes the matched route into the (shared) scope.
            route = getattr(scope.get("route"), "path", UNMATCHED)
            self.observe(scope.get("method", ""), route, status, time.perf_counter() - started)
