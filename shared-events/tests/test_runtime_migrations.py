"""Every service's migrations run the same way (shared_events.runtime.migrations): in code from
the package's `migrations/`, by hand with `alembic`, and offline as SQL."""

from __future__ import annotations

import io
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

from shared_events.runtime.migrations import alembic_config, upgrade

Package = Callable[[str], str]


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Package:
    """A service-like package of its own, migrating `schema`: its name, importable."""

    def make(schema: str) -> str:
        name = f"migrating_{uuid.uuid4().hex[:12]}"
        root = tmp_path / name
        (root / "migrations" / "versions").mkdir(parents=True)
        (root / "__init__.py").write_text(
            textwrap.dedent(f'''
                from pydantic_settings import SettingsConfigDict

                from shared_events.runtime.settings import ServiceSettings

                SCHEMA = "{schema}"


                class Settings(ServiceSettings):
                    model_config = SettingsConfigDict(env_prefix="EXAMPLE_", extra="ignore")

                    db_user: str = "example_service"
                    db_password: str = "example_service"
                    http_port: int = 8009
                    consumer_group: str = "example-service"
            ''')
        )
        (root / "migrations" / "env.py").write_text(
            textwrap.dedent(f"""
                from sqlalchemy import MetaData

                from {name} import SCHEMA, Settings
                from shared_events.runtime.migrations import run_migrations

                run_migrations(MetaData(schema=SCHEMA), SCHEMA, Settings)
            """)
        )
        (root / "migrations" / "versions" / "0001_widgets.py").write_text(
            textwrap.dedent(f"""
                import sqlalchemy as sa
                from alembic import op

                from {name} import SCHEMA

                revision = "0001"
                down_revision = None
                branch_labels = None
                depends_on = None


                def upgrade() -> None:
                    op.create_table(
                        "widgets", sa.Column("id", sa.Integer, primary_key=True), schema=SCHEMA
                    )


                def downgrade() -> None:
                    op.drop_table("widgets", schema=SCHEMA)
            """)
        )
        monkeypatch.syspath_prepend(str(tmp_path))
        return name

    return make


def test_the_scripts_are_the_packages_own_migrations() -> None:
    config = alembic_config("order_service")

    assert config.get_main_option("script_location") == "order_service:migrations"
    assert config.config_file_name is None  # nothing read from an ini file


def test_offline_the_sql_is_written_for_postgresql_without_connecting(package: Package) -> None:
    name = package("widgets_offline")
    config = alembic_config(name)
    config.output_buffer = io.StringIO()

    command.upgrade(config, "head", sql=True)

    sql = config.output_buffer.getvalue()
    assert "CREATE TABLE widgets_offline.alembic_version" in sql  # in the service's schema
    assert "CREATE TABLE widgets_offline.widgets" in sql
    assert "INSERT INTO widgets_offline.alembic_version (version_num) VALUES ('0001')" in sql
    assert sql.strip().startswith("BEGIN;") and sql.strip().endswith("COMMIT;")


@pytest.fixture
def schema(pg_engine: Engine) -> Iterator[str]:
    """An empty schema of the test's own."""
    name = f"m_{uuid.uuid4().hex[:12]}"
    with pg_engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{name}"'))
    yield name
    with pg_engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))


@pytest.mark.integration
def test_upgrade_creates_the_schema_and_records_the_revision_in_it_once(
    package: Package, pg_engine: Engine, schema: str
) -> None:
    name = package(schema)

    upgrade(name, pg_engine)
    upgrade(name, pg_engine)  # at head: nothing to do

    tables = inspect(pg_engine).get_table_names(schema=schema)
    assert sorted(tables) == ["alembic_version", "widgets"]
    with pg_engine.connect() as connection:
        versions = connection.execute(text(f'SELECT version_num FROM "{schema}".alembic_version'))
        assert list(versions.scalars()) == ["0001"]


@pytest.mark.integration
def test_alembic_by_hand_connects_with_the_services_settings(
    package: Package,
    pg_engine: Engine,
    schema: str,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = package(schema)
    url = make_url(postgres_url)
    for field, value in {
        "DB_HOST": url.host,
        "DB_PORT": url.port,
        "DB_NAME": url.database,
        "DB_USER": url.username,
        "DB_PASSWORD": url.password,
    }.items():
        monkeypatch.setenv(f"EXAMPLE_{field}", str(value))

    command.upgrade(alembic_config(name), "head")  # no connection given: Settings() it is

    assert "widgets" in inspect(pg_engine).get_table_names(schema=schema)
