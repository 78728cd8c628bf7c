"""The migrated schema is what the code declares, and the role reaches nothing else."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ProgrammingError

from payment_service import SCHEMA
from payment_service.tables import metadata

pytestmark = pytest.mark.integration


def test_the_migrations_create_exactly_the_declared_tables(
    payment_engine: Engine, payment_db_url: URL | str
) -> None:
    # Off the role's search_path, so reflection names the schema as the metadata does.
    engine = create_engine(payment_db_url, connect_args={"options": "-c search_path=public"})
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_schemas": True,
                "include_name": lambda name, kind, _parent: kind != "schema" or name == SCHEMA,
                "include_object": lambda _obj, name, kind, *_: name != "alembic_version",
            },
        )
        diff = compare_metadata(context, metadata)
    engine.dispose()

    assert diff == []


@pytest.mark.parametrize("schema", ["orders", "inventory", "public"])
def test_the_payment_role_cannot_create_in_other_schemas(
    payment_engine: Engine, schema: str
) -> None:
    with payment_engine.connect() as connection, pytest.raises(ProgrammingError):
        connection.execute(text(f"CREATE TABLE {schema}.payment_was_here (id int)"))
