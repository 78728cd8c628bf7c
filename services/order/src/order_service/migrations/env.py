"""Alembic environment: migrates the `orders` schema as the service's own role."""

from alembic import context
from sqlalchemy import URL, create_engine
from sqlalchemy.pool import NullPool

from order_service.settings import Settings
from order_service.tables import SCHEMA, metadata

url: URL | str = context.config.attributes.get("url") or Settings().database_url
engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 10})

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=SCHEMA,
        include_schemas=False,
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
