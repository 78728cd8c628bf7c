"""Alembic for every service the same way: configured in code, run as the service's own role.

Each service ships its migrations inside its package (`<package>/migrations/`), with an
`env.py` of one call: `run_migrations(metadata, SCHEMA, Settings)`. The revision table lives
in the service's own schema (its role may touch no other). Three ways in, one behaviour:

- `python -m <service> migrate` and the tests: `upgrade(package, engine_or_url)`, on one
  connection in one transaction;
- `alembic upgrade head` by hand (each service's alembic.ini): connects with `Settings()`,
  the `<PREFIX>DB_*` variables, never a URL in the ini file;
- `alembic upgrade head --sql` (offline): prints the PostgreSQL DDL, connecting to nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from alembic import command, context
from alembic.config import Config
from sqlalchemy import URL, Connection, Engine, MetaData, create_engine
from sqlalchemy.pool import NullPool

from shared_events.runtime.settings import ServiceSettings

CONNECT_TIMEOUT_S = 10


def alembic_config(package: str) -> Config:
    """Alembic configured in code: the scripts are `<package>/migrations`, nothing from a file."""
    config = Config()
    config.set_main_option("script_location", f"{package}:migrations")
    return config


def upgrade(package: str, target: Engine | URL | str, revision: str = "head") -> None:
    """Upgrade `package`'s schema to `revision`, connecting as `target` does (its own role)."""
    engine = target if isinstance(target, Engine) else _engine(target)
    try:
        with engine.begin() as connection:
            config = alembic_config(package)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        if engine is not target:
            engine.dispose()


def run_migrations(
    metadata: MetaData, schema: str, settings: Callable[[], ServiceSettings]
) -> None:
    """The whole of a service's `env.py`: offline, on the connection given, or by `settings`."""
    if context.is_offline_mode():
        context.configure(
            dialect_name="postgresql",
            literal_binds=True,
            target_metadata=metadata,
            version_table_schema=schema,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    given = context.config.attributes.get("connection")
    if isinstance(given, Connection):
        _run(given, metadata, schema)
        return
    engine = _engine(settings().database_url)  # `alembic` run by hand
    try:
        with engine.begin() as connection:
            _run(connection, metadata, schema)
    finally:
        engine.dispose()


def _run(connection: Connection, metadata: MetaData, schema: str) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=schema,
        include_schemas=False,
    )
    with context.begin_transaction():
        context.run_migrations()


def _engine(url: URL | str) -> Engine:
    return create_engine(
        url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_S}
    )
