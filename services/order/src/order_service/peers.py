"""What the payment and inventory services say about one order, read from their HTTP APIs.

For the operator pages only: the saga itself never calls another service. A peer that does
not answer (down, slow, an error) is reported as unavailable, never as "nothing there".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import structlog

log = structlog.get_logger(__name__)

TIMEOUT_S = 2.0


@dataclass(frozen=True)
class PeerView:
    """Rows a peer returned for the order, or None with the reason it could not be asked."""

    service: str
    rows: list[dict[str, Any]] | None
    problem: str | None = None

    @property
    def available(self) -> bool:
        return self.rows is not None


@dataclass(frozen=True)
class Peers:
    """The base URLs of the payment and inventory APIs."""

    payment_url: str
    inventory_url: str

    def payments(self, order_id: UUID) -> PeerView:
        """The charge and refund of the order, as the payment service reports them."""
        return _rows("payment", f"{self.payment_url}/payments", order_id)

    def reservations(self, order_id: UUID) -> PeerView:
        """The reservations of the order, as the inventory service reports them."""
        return _rows("inventory", f"{self.inventory_url}/reservations", order_id)


def _rows(service: str, url: str, order_id: UUID) -> PeerView:
    try:
        response = httpx.get(url, params={"order_id": str(order_id)}, timeout=TIMEOUT_S)
        response.raise_for_status()
        rows = response.json()
    except (httpx.HTTPError, ValueError) as error:
        problem = f"{type(error).__name__}: {error}".strip()
        log.info("peer unavailable", peer=service, url=url, error=problem)
        return PeerView(service, None, problem)
    if not isinstance(rows, list):
        return PeerView(service, None, "unexpected answer (not a list)")
    return PeerView(service, rows)
