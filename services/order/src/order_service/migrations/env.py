"""Alembic environment of the order service's schema (shared_events.runtime.migrations)."""

from order_service import SCHEMA
from order_service.settings import Settings
from order_service.tables import metadata
from shared_events.runtime.migrations import run_migrations

run_migrations(metadata, SCHEMA, Settings)
