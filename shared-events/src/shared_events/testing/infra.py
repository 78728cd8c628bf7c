"""A reachable Kafka broker and PostgreSQL server with the saga's roles and schemas."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from shared_events.topology import SERVICES

SERVICE_ROLES = tuple(f"{service.name}_service" for service in SERVICES)
"""Each service's own database role, named after its package (and its schema's owner)."""

EXTERNAL = "environment"
"""`Infra.source` of infrastructure named by the environment (`from_env`)."""


@dataclass(frozen=True)
class Infra:
    """Where a test run's Kafka and PostgreSQL are, and the credentials of the saga's roles."""

    kafka_bootstrap: str
    pg_host: str
    pg_port: int
    pg_database: str
    pg_superuser: str
    pg_superuser_password: str
    source: str
    role_passwords: tuple[tuple[str, str], ...] = tuple((role, role) for role in SERVICE_ROLES)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Infra:
        """The infrastructure the variables of the local stack name (README, "Settings").

        `KAFKA_BOOTSTRAP_SERVERS` (else `KAFKA_HOST`:`KAFKA_PORT`), `PG_HOST`, `PG_PORT`,
        `PG_SUPERUSER`, `PG_SUPERUSER_PASSWORD`, the role passwords `<SERVICE>_DB_PASSWORD`;
        the database is the tests' own, `TEST_PG_DATABASE` (else `<PG_DATABASE>_test`), never
        the one a running system keeps its data in.
        """
        env = os.environ if environ is None else environ
        kafka = env.get("KAFKA_BOOTSTRAP_SERVERS") or (
            f"{env.get('KAFKA_HOST', '127.0.0.1')}:{env.get('KAFKA_PORT', '9092')}"
        )
        database = env.get("TEST_PG_DATABASE") or f"{env.get('PG_DATABASE', 'saga')}_test"
        return cls(
            kafka_bootstrap=kafka,
            pg_host=env.get("PG_HOST", "127.0.0.1"),
            pg_port=int(env.get("PG_PORT", "5432")),
            pg_database=database,
            pg_superuser=env.get("PG_SUPERUSER", "postgres"),
            pg_superuser_password=env.get("PG_SUPERUSER_PASSWORD", "postgres"),
            source=EXTERNAL,
            role_passwords=tuple(
                (role, env.get(f"{role.removesuffix('_service').upper()}_DB_PASSWORD", role))
                for role in SERVICE_ROLES
            ),
        )

    def role_password(self, role: str) -> str:
        return dict(self.role_passwords).get(role, role)

    def dsn(self, role: str | None = None, password: str | None = None) -> str:
        """psycopg URL `postgresql://...` for the superuser, or a service role (its password)."""
        return self._url("postgresql", role, password)

    def sqlalchemy_url(self, role: str | None = None, password: str | None = None) -> str:
        """SQLAlchemy URL `postgresql+psycopg://...`, same credentials as `dsn`."""
        return self._url("postgresql+psycopg", role, password)

    def _url(self, scheme: str, role: str | None, password: str | None) -> str:
        user = role or self.pg_superuser
        if password is None:
            password = self.role_password(role) if role else self.pg_superuser_password
        return (
            f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}"
            f"@{self.pg_host}:{self.pg_port}/{quote(self.pg_database, safe='')}"
        )
