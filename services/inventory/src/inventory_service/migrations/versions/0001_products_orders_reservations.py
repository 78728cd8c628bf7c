"""Products, inventory's record of orders, reservations, outbox and processed events.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from shared_events.kafka.tables import create_event_tables, drop_event_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "inventory"


def _timestamps() -> list[sa.Column[sa.DateTime]]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("sku", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("price_cents", sa.BigInteger, nullable=False),
        sa.Column("available", sa.BigInteger, nullable=False),
        sa.Column("reserved", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        *_timestamps(),
        sa.CheckConstraint("price_cents > 0", name="ck_products_price_positive"),
        sa.CheckConstraint("available >= 0", name="ck_products_available_not_negative"),
        sa.CheckConstraint("reserved >= 0", name="ck_products_reserved_not_negative"),
        schema=SCHEMA,
    )
    op.create_table(
        "orders",
        sa.Column("order_id", sa.Uuid, primary_key=True),
        sa.Column("items", JSONB, nullable=True),
        sa.Column("paid", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("cancelled", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("stock", sa.Text, nullable=False, server_default="AWAITING"),
        *_timestamps(),
        sa.CheckConstraint(
            "stock IN ('AWAITING', 'RESERVED', 'FAILED', 'RELEASED')", name="ck_orders_stock"
        ),
        sa.CheckConstraint(
            "NOT (cancelled AND stock = 'RESERVED')", name="ck_orders_cancelled_holds_none"
        ),
        schema=SCHEMA,
    )
    op.create_table(
        "reservations",
        sa.Column("order_id", sa.Uuid, sa.ForeignKey(f"{SCHEMA}.orders.order_id"), nullable=False),
        sa.Column("sku", sa.Text, sa.ForeignKey(f"{SCHEMA}.products.sku"), nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("order_id", "sku", name="pk_reservations"),
        sa.CheckConstraint("quantity > 0", name="ck_reservations_quantity_positive"),
        sa.CheckConstraint("status IN ('RESERVED', 'RELEASED')", name="ck_reservations_status"),
        schema=SCHEMA,
    )
    create_event_tables(op.get_bind(), SCHEMA)


def downgrade() -> None:
    drop_event_tables(op.get_bind(), SCHEMA)
    op.drop_table("reservations", schema=SCHEMA)
    op.drop_table("orders", schema=SCHEMA)
    op.drop_table("products", schema=SCHEMA)
