"""Alembic environment of the inventory service's schema (shared_events.runtime.migrations)."""

from inventory_service import SCHEMA
from inventory_service.settings import Settings
from inventory_service.tables import metadata
from shared_events.runtime.migrations import run_migrations

run_migrations(metadata, SCHEMA, Settings)
