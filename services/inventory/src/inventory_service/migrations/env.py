"""Alembic environment: the `inventory` schema only, connecting as the service's role."""

from alembic import context
from sqlalchemy import Engine

from inventory_service import SCHEMA
from inventory_service.db import create_db_engine
from inventory_service.settings import Settings
from inventory_service.tables import metadata

config = context.config


def _engine() -> Engine:
    given = config.attributes.get("engine")
    if isinstance(given, Engine):
        return given
    # `alembic` run by hand: credentials come from INVENTORY_* settings, never alembic.ini.
    return create_db_engine(Settings().database_url)


def run_migrations_online() -> None:
    """Run the migrations on one connection, recording the revision in our schema."""
    with _engine().connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=SCHEMA,
            include_schemas=False,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against the database")
run_migrations_online()
