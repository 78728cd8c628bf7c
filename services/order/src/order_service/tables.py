"""The `orders` schema as SQLAlchemy Core tables (migrations create them, repositories use them)."""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
)

from order_service import SCHEMA
from shared_events.kafka.tables import event_tables

metadata = MetaData(schema=SCHEMA)

orders = Table(
    "orders",
    metadata,
    Column("order_id", Uuid, primary_key=True),
    Column("customer_id", Text, nullable=False),
    Column("status", String(32), nullable=False),
    Column("cancel_reason", String(32)),
    Column("currency", String(3), nullable=False),
    Column("total_cents", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_orders_customer_created", "customer_id", "created_at"),
    Index("ix_orders_status_created", "status", "created_at"),
)

order_items = Table(
    "order_items",
    metadata,
    Column("order_id", Uuid, ForeignKey(orders.c.order_id), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_cents", BigInteger, nullable=False),
    CheckConstraint("quantity > 0", name="ck_order_items_quantity_positive"),
    CheckConstraint("unit_price_cents > 0", name="ck_order_items_price_positive"),
)

order_history = Table(
    "order_history",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=True),
    Column("order_id", Uuid, ForeignKey(orders.c.order_id), nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("service", String(64), nullable=False),
    Index("uq_order_history_event", "order_id", "event_id", unique=True),
)

catalog = Table(
    "catalog",
    metadata,
    Column("sku", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("price_cents", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column(
        "order_id",
        Uuid,
        ForeignKey(orders.c.order_id, deferrable=True, initially="DEFERRED"),
        nullable=False,
    ),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# The Kafka binding's transactional outbox and processed-events inbox, in our schema.
outbox, processed_events = event_tables(SCHEMA, metadata)
