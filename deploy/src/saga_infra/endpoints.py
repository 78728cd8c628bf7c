"""Where the test infrastructure runs: what the `infra` fixture hands to tests."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from saga_infra.settings import SERVICE_ROLES, Settings

TESTCONTAINERS = "testcontainers"
LOCAL_STACK = "local stack"


@dataclass(frozen=True)
class Infra:
    """A reachable Kafka broker and PostgreSQL server with the saga's DB roles and schemas."""

    kafka_bootstrap: str
    pg_host: str
    pg_port: int
    pg_database: str
    pg_superuser: str
    pg_superuser_password: str
    source: str
    role_passwords: tuple[tuple[str, str], ...] = tuple((role, role) for role in SERVICE_ROLES)

    @classmethod
    def from_settings(cls, settings: Settings, source: str = LOCAL_STACK) -> Infra:
        return cls(
            kafka_bootstrap=settings.kafka_bootstrap,
            pg_host=settings.pg_host,
            pg_port=settings.pg_port,
            pg_database=settings.pg_database,
            pg_superuser=settings.pg_superuser,
            pg_superuser_password=settings.pg_superuser_password,
            source=source,
            role_passwords=settings.role_passwords,
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
