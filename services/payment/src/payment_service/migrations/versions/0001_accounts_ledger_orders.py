"""Accounts, the ledger of money movements, orders seen, outbox and processed events.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared_events.kafka.tables import create_event_tables, drop_event_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "payments"


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("customer_id", sa.Text, primary_key=True),
        sa.Column("balance_cents", sa.BigInteger, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint("balance_cents >= 0", name="ck_accounts_balance_not_negative"),
        sa.CheckConstraint("customer_id <> ''", name="ck_accounts_customer_id_not_empty"),
        schema=SCHEMA,
    )
    op.create_table(
        "ledger_entries",
        sa.Column("entry_id", sa.Uuid, primary_key=True),
        sa.Column(
            "customer_id", sa.Text, sa.ForeignKey(f"{SCHEMA}.accounts.customer_id"), nullable=False
        ),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("order_id", sa.Uuid, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('opening', 'deposit', 'charge', 'refund')", name="ck_ledger_entries_kind"
        ),
        sa.CheckConstraint(
            "amount_cents > 0 OR (kind = 'opening' AND amount_cents = 0)",
            name="ck_ledger_entries_amount_positive",
        ),
        sa.CheckConstraint(
            "(order_id IS NOT NULL) = (kind IN ('charge', 'refund'))",
            name="ck_ledger_entries_payments_have_an_order",
        ),
        sa.UniqueConstraint("order_id", "kind", name="uq_ledger_entries_order_id_kind"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_ledger_entries_customer_id", "ledger_entries", ["customer_id"], schema=SCHEMA
    )
    op.create_table(
        "orders",
        sa.Column("order_id", sa.Uuid, primary_key=True),
        sa.Column("cancelled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("failure_reason", sa.Text, nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=SCHEMA,
    )
    create_event_tables(op.get_bind(), SCHEMA)


def downgrade() -> None:
    drop_event_tables(op.get_bind(), SCHEMA)
    op.drop_table("orders", schema=SCHEMA)
    op.drop_table("ledger_entries", schema=SCHEMA)
    op.drop_table("accounts", schema=SCHEMA)
