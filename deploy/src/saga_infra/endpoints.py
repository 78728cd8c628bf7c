"""Where the test infrastructure runs: what the `infra` fixture hands to tests.

`Infra` itself is the contracts package's (`shared_events.testing.infra`), so a service tested
on its own (its `make test`, infrastructure from the environment) and the workspace's suites
(infrastructure started here) hand their tests the same object.
"""

from __future__ import annotations

from saga_infra.settings import Settings
from shared_events.testing.infra import Infra

TESTCONTAINERS = "testcontainers"
LOCAL_STACK = "local stack"

__all__ = ["LOCAL_STACK", "TESTCONTAINERS", "Infra", "infra_of"]


def infra_of(settings: Settings, source: str = LOCAL_STACK) -> Infra:
    """The infrastructure of a local stack's settings."""
    return Infra(
        kafka_bootstrap=settings.kafka_bootstrap,
        pg_host=settings.pg_host,
        pg_port=settings.pg_port,
        pg_database=settings.pg_database,
        pg_superuser=settings.pg_superuser,
        pg_superuser_password=settings.pg_superuser_password,
        source=source,
        role_passwords=settings.role_passwords,
    )
