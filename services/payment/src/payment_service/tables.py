"""The `payments` schema as SQLAlchemy Core tables (the repositories live in `db`)."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    func,
)

from payment_service import SCHEMA
from shared_events.kafka.tables import event_tables

metadata = MetaData(schema=SCHEMA)

accounts = Table(
    "accounts",
    metadata,
    Column("customer_id", Text, primary_key=True),
    Column("balance_cents", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Backstop of the row locks: no bug or race may ever overdraw an account.
    CheckConstraint("balance_cents >= 0", name="ck_accounts_balance_not_negative"),
    CheckConstraint("customer_id <> ''", name="ck_accounts_customer_id_not_empty"),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("entry_id", Uuid, primary_key=True),
    Column("customer_id", Text, ForeignKey(accounts.c.customer_id), nullable=False),
    Column("kind", Text, nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("order_id", Uuid, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(
        "kind IN ('opening', 'deposit', 'charge', 'refund')", name="ck_ledger_entries_kind"
    ),
    CheckConstraint(
        "amount_cents > 0 OR (kind = 'opening' AND amount_cents = 0)",
        name="ck_ledger_entries_amount_positive",
    ),
    CheckConstraint(
        "(order_id IS NOT NULL) = (kind IN ('charge', 'refund'))",
        name="ck_ledger_entries_payments_have_an_order",
    ),
    # At most one charge and one refund per order, whatever the code above does.
    UniqueConstraint("order_id", "kind", name="uq_ledger_entries_order_id_kind"),
    Index("ix_ledger_entries_customer_id", "customer_id"),
)

orders = Table(
    "orders",
    metadata,
    Column("order_id", Uuid, primary_key=True),
    Column("cancelled", Boolean, nullable=False, server_default=false()),
    Column("failure_reason", Text, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

outbox, processed_events = event_tables(SCHEMA, metadata)
