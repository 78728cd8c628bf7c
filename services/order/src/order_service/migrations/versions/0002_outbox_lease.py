"""The outbox's relay lease: `leased_until`, so a claim commits before the relay produces.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

from shared_events.kafka.tables import add_outbox_lease, drop_outbox_lease

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "orders"


def upgrade() -> None:
    add_outbox_lease(op.get_bind(), SCHEMA)


def downgrade() -> None:
    drop_outbox_lease(op.get_bind(), SCHEMA)
