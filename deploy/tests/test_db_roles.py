"""Each service role owns its schema and is refused on the others and on public."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from saga_infra.endpoints import Infra

SCHEMAS = {
    "order_service": "orders",
    "payment_service": "payments",
    "inventory_service": "inventory",
}


@pytest.fixture(scope="module")
def foreign_tables(infra: Infra) -> Iterator[dict[str, str]]:
    """One table per schema, created by its owner, to probe the others with; dropped after."""
    tables = {}
    for role, schema in SCHEMAS.items():
        table = f"probe_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(infra.dsn(role=role), autocommit=True) as conn:
            conn.execute(f"CREATE TABLE {schema}.{table} (id int)")
        tables[schema] = table
    yield tables
    for role, schema in SCHEMAS.items():
        with psycopg.connect(infra.dsn(role=role), autocommit=True) as conn:
            conn.execute(f"DROP TABLE {schema}.{tables[schema]}")


@pytest.mark.parametrize("role", sorted(SCHEMAS))
def test_role_owns_its_schema(infra: Infra, role: str) -> None:
    table = f"own_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(infra.dsn(role=role)) as conn:
        # Unqualified names land in the role's schema (its search_path).
        conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, note text)")
        conn.execute(f"INSERT INTO {table} VALUES (1, 'mine')")
        row = conn.execute(f"SELECT note FROM {SCHEMAS[role]}.{table}").fetchone()
        assert row == ("mine",)
        conn.rollback()


@pytest.mark.parametrize("role", sorted(SCHEMAS))
def test_role_is_refused_on_other_schemas(
    infra: Infra, role: str, foreign_tables: dict[str, str]
) -> None:
    others = [schema for owner, schema in SCHEMAS.items() if owner != role]
    with psycopg.connect(infra.dsn(role=role), autocommit=True) as conn:
        for schema in others:
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as create:
                conn.execute(f"CREATE TABLE {schema}.intruder (id int)")
            assert f"permission denied for schema {schema}" in str(create.value)
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as read:
                conn.execute(f"SELECT * FROM {schema}.{foreign_tables[schema]}")
            assert f"permission denied for schema {schema}" in str(read.value)


@pytest.mark.parametrize("role", sorted(SCHEMAS))
def test_role_cannot_create_in_public(infra: Infra, role: str) -> None:
    with psycopg.connect(infra.dsn(role=role), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as denied:
            conn.execute("CREATE TABLE public.intruder (id int)")
    assert "permission denied for schema public" in str(denied.value)


def test_sqlalchemy_url_uses_psycopg_driver(infra: Infra) -> None:
    assert infra.sqlalchemy_url(role="order_service").startswith("postgresql+psycopg://")
    assert infra.dsn().startswith("postgresql://")
