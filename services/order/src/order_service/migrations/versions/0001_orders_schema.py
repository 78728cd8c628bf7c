"""Orders, their items and history, the local catalog, idempotency keys, outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared_events.kafka.tables import create_event_tables, drop_event_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "orders"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("order_id", sa.Uuid, primary_key=True),
        sa.Column("customer_id", sa.Text, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("cancel_reason", sa.String(32)),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("total_cents", sa.BigInteger, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_orders_customer_created", "orders", ["customer_id", "created_at"], schema=SCHEMA
    )
    op.create_index("ix_orders_status_created", "orders", ["status", "created_at"], schema=SCHEMA)
    op.create_table(
        "order_items",
        sa.Column(
            "order_id", sa.Uuid, sa.ForeignKey(f"{SCHEMA}.orders.order_id"), primary_key=True
        ),
        sa.Column("line_no", sa.Integer, primary_key=True),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("unit_price_cents", sa.BigInteger, nullable=False),
        sa.CheckConstraint("quantity > 0", name="ck_order_items_quantity_positive"),
        sa.CheckConstraint("unit_price_cents > 0", name="ck_order_items_price_positive"),
        schema=SCHEMA,
    )
    op.create_table(
        "order_history",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.Uuid, sa.ForeignKey(f"{SCHEMA}.orders.order_id"), nullable=False),
        sa.Column("event_id", sa.Uuid, nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        schema=SCHEMA,
    )
    op.create_index(
        "uq_order_history_event",
        "order_history",
        ["order_id", "event_id"],
        unique=True,
        schema=SCHEMA,
    )
    op.create_table(
        "catalog",
        sa.Column("sku", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("price_cents", sa.BigInteger, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        # Deferred: the key is claimed first (serialising same-key requests), the order follows.
        sa.Column(
            "order_id",
            sa.Uuid,
            sa.ForeignKey(f"{SCHEMA}.orders.order_id", deferrable=True, initially="DEFERRED"),
            nullable=False,
        ),
        sa.Column("created_at", TS, nullable=False),
        schema=SCHEMA,
    )
    create_event_tables(op.get_bind(), SCHEMA)


def downgrade() -> None:
    drop_event_tables(op.get_bind(), SCHEMA)
    for table in ("idempotency_keys", "catalog", "order_history", "order_items", "orders"):
        op.drop_table(table, schema=SCHEMA)
