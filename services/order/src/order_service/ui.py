"""Operator pages: recent orders, one saga's timeline, the dead letters. Server-rendered
(Jinja2 templates in the package), no JavaScript, nothing from a CDN: they work offline.

    GET /ui/                     recent orders, by status and customer; stuck ones marked
    GET /ui/orders/{order_id}    the saga's timeline, what payment and inventory report,
                                 its dead letters and a link to its trace in Jaeger
    GET /ui/dead-letters         dead letters per consumer group, with the replay command

Reads only: the order through the unit of work, the peers through their HTTP APIs
(`peers.py`), the dead letters from their Kafka topics.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.resources import files
from typing import Annotated, Any
from uuid import UUID

import structlog
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from order_service import handlers
from order_service.domain import TERMINAL, Order, OrderStatus
from order_service.handlers import UnitOfWork
from order_service.peers import Peers
from shared_events.kafka.connection import KafkaTarget
from shared_events.kafka.dead_letters.reader import DeadLetter, DeadLetterError, read_dead_letters
from shared_events.runtime.http import NO_NUL
from shared_events.topics import dead_letter_topic
from shared_events.topology import CONSUMER_GROUPS

log = structlog.get_logger(__name__)

LATEST_LETTERS = 200
"""Dead letters read per partition of each dead-letter topic (the newest)."""

SHOWN_LETTERS = 100
"""Dead letters listed per group on /ui/dead-letters (the newest of those read)."""


@dataclass(frozen=True)
class GroupLetters:
    """One consumer group's newest dead letters, or why they could not be read."""

    group: str
    letters: list[DeadLetter] = field(default_factory=list)
    problem: str | None = None
    read: int = 0  # how many were read (the newest LATEST_LETTERS of each partition)

    @property
    def topic(self) -> str:
        return dead_letter_topic(self.group)

    def replay_command(self, letter: DeadLetter) -> str:
        module = "shared_events.kafka.dead_letters"
        return f"python -m {module} replay --group {self.group} {letter.position}"


@dataclass(frozen=True)
class DeadLetters:
    """Reads the dead-letter topics of the saga's consumer groups."""

    kafka: KafkaTarget
    groups: Sequence[str] = CONSUMER_GROUPS
    latest: int = LATEST_LETTERS

    def by_group(self) -> list[GroupLetters]:
        found = []
        for group in self.groups:
            try:
                letters = read_dead_letters(
                    self.kafka, dead_letter_topic(group), latest=self.latest
                )
            except DeadLetterError as error:
                found.append(GroupLetters(group, problem=str(error)))
                continue
            newest_first = sorted(letters, key=lambda d: d.failed_at or "", reverse=True)
            found.append(GroupLetters(group, newest_first, read=len(letters)))
        return found


def jaeger_search(jaeger_ui_url: str, order_id: UUID) -> str:
    """Jaeger's search for the spans of one order (its spans carry saga.correlation_id)."""
    tags = json.dumps({"saga.correlation_id": str(order_id)})
    query = urllib.parse.urlencode({"service": "order-service", "tags": tags, "lookback": "2d"})
    return f"{jaeger_ui_url.rstrip('/')}/search?{query}"


def ui_router(
    uow_factory: Callable[[], UnitOfWork],
    peers: Peers,
    dead_letters: DeadLetters,
    *,
    jaeger_ui_url: str,
    stuck_after_s: float,
) -> APIRouter:
    """The pages, over the service's unit of work, its peers and the dead-letter topics."""
    router = APIRouter(prefix="/ui", include_in_schema=False)
    templates = Jinja2Templates(directory=str(files("order_service") / "templates"))

    def stuck(order: Order, now: datetime) -> bool:
        return order.status not in TERMINAL and age_s(order, now) > stuck_after_s

    def render(request: Request, name: str, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context)

    @router.get("/", response_class=HTMLResponse)
    def orders(
        request: Request,
        status: OrderStatus | None = None,
        customer_id: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> HTMLResponse:
        customer = customer_id.strip() if customer_id and customer_id.strip() else None
        query = handlers.FindOrders(customer_id=customer, status=status, limit=limit)
        found = handlers.find_orders(query, uow_factory())
        now = datetime.now(UTC)
        rows = [(order, stuck(order, now), age_s(order, now)) for order in found]
        return render(
            request,
            "orders.html",
            rows=rows,
            statuses=list(OrderStatus),
            status=status.value if status else "",
            customer_id=customer or "",
            stuck_after_s=stuck_after_s,
        )

    @router.get("/orders/{order_id}", response_class=HTMLResponse)
    def order_page(request: Request, order_id: UUID) -> HTMLResponse:
        order = handlers.get_order(order_id, uow_factory())
        if order is None:
            raise HTTPException(404, f"order {order_id} not found")
        now = datetime.now(UTC)
        timeline = [
            (entry, (entry.occurred_at - order.created_at).total_seconds())
            for entry in sorted(order.history, key=lambda e: e.occurred_at)
        ]
        groups = dead_letters.by_group()
        letters = [
            (group, letter)
            for group in groups
            for letter in group.letters
            if letter.correlation_id == str(order_id)
        ]
        return render(
            request,
            "order.html",
            order=order,
            stuck=stuck(order, now),
            age_s=age_s(order, now),
            timeline=timeline,
            payments=peers.payments(order_id),
            reservations=peers.reservations(order_id),
            letters=letters,
            unread=[group for group in groups if group.problem],
            trace_url=jaeger_search(jaeger_ui_url, order_id),
        )

    @router.get("/dead-letters", response_class=HTMLResponse)
    def dead_letter_page(request: Request) -> HTMLResponse:
        return render(
            request, "dead_letters.html", groups=dead_letters.by_group(), shown=SHOWN_LETTERS
        )

    return router


def age_s(order: Order, now: datetime) -> float:
    """Seconds since the order was placed."""
    return (now - order.created_at).total_seconds()
