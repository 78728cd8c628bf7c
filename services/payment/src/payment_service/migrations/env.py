"""Alembic environment: the payments schema only, connected as the payment service's role."""

from alembic import context
from sqlalchemy import Connection, create_engine

from payment_service.settings import Settings
from payment_service.tables import SCHEMA, metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=SCHEMA,
        include_schemas=False,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    given = context.config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    url = context.config.get_main_option("sqlalchemy.url") or Settings().database_url
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=str(Settings().database_url), target_metadata=metadata, version_table_schema=SCHEMA
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
