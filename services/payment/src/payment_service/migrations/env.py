"""Alembic environment of the payment service's schema (shared_events.runtime.migrations)."""

from payment_service import SCHEMA
from payment_service.settings import Settings
from payment_service.tables import metadata
from shared_events.runtime.migrations import run_migrations

run_migrations(metadata, SCHEMA, Settings)
