"""Tables of the `inventory` schema (SQLAlchemy Core), shared by the repositories and Alembic."""

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from inventory_service import SCHEMA
from inventory_service.domain import StockState
from shared_events.kafka.tables import outbox_table, processed_events_table

metadata = MetaData(schema=SCHEMA)


def _timestamps() -> list[Column[Any]]:
    return [
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


products = Table(
    "products",
    metadata,
    Column("sku", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("price_cents", BigInteger, nullable=False),
    Column("available", BigInteger, nullable=False),
    Column("reserved", BigInteger, nullable=False, server_default=text("0")),
    *_timestamps(),
    CheckConstraint("price_cents > 0", name="ck_products_price_positive"),
    CheckConstraint("available >= 0", name="ck_products_available_not_negative"),
    CheckConstraint("reserved >= 0", name="ck_products_reserved_not_negative"),
)

orders = Table(
    "orders",
    metadata,
    Column("order_id", Uuid, primary_key=True),
    Column("items", JSONB, nullable=True),  # [{"sku", "quantity"}], null until OrderCreated
    Column("paid", Boolean, nullable=False, server_default=text("false")),
    Column("cancelled", Boolean, nullable=False, server_default=text("false")),
    Column("stock", Text, nullable=False, server_default=StockState.AWAITING.value),
    *_timestamps(),
    CheckConstraint(
        "stock IN ('AWAITING', 'RESERVED', 'FAILED', 'RELEASED')", name="ck_orders_stock"
    ),
    # A cancelled order never holds stock.
    CheckConstraint(
        "NOT (cancelled AND stock = 'RESERVED')", name="ck_orders_cancelled_holds_none"
    ),
)

reservations = Table(
    "reservations",
    metadata,
    Column("order_id", Uuid, ForeignKey(orders.c.order_id), nullable=False),
    Column("sku", Text, ForeignKey(products.c.sku), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("status", Text, nullable=False),
    *_timestamps(),
    PrimaryKeyConstraint("order_id", "sku", name="pk_reservations"),
    CheckConstraint("quantity > 0", name="ck_reservations_quantity_positive"),
    CheckConstraint("status IN ('RESERVED', 'RELEASED')", name="ck_reservations_status"),
)

outbox = outbox_table(metadata, SCHEMA)
processed_events = processed_events_table(metadata, SCHEMA)
