"""pytest plugin: the Kafka and PostgreSQL a service's own test run is pointed at.

`pytest -p shared_events.testing.plugin` (each service's `make test`) gives the fixtures
`infra`, `kafka_bootstrap` and `postgres_url` from the environment (`Infra.from_env`), for a
service tested on its own, with nothing of the repository but its own directory and the
contracts package. It starts nothing: the broker and the database, with the saga's roles,
schemas and topics, are the caller's (`make infra-up` at the repository root, or any stack
the variables name). The first test that asks checks both answer and fails with the reason
when one does not. Tests using these fixtures are marked `integration`.
"""

from __future__ import annotations

import psycopg
import pytest
from confluent_kafka.admin import AdminClient

from shared_events.testing.infra import SERVICE_ROLES, Infra

INFRA_FIXTURES = frozenset({"infra", "kafka_bootstrap", "postgres_url"})
CHECK_TIMEOUT_S = 10

_CHECKED = pytest.StashKey[Infra | str]()


def reachable(infra: Infra) -> str | None:
    """None when the broker answers and every service role can log in; else why not."""
    try:
        AdminClient({"bootstrap.servers": infra.kafka_bootstrap}).list_topics(
            timeout=CHECK_TIMEOUT_S
        )
    except Exception as exc:
        return f"no Kafka broker answers at {infra.kafka_bootstrap} ({exc})"
    for role in SERVICE_ROLES:
        try:
            with psycopg.connect(infra.dsn(role), connect_timeout=CHECK_TIMEOUT_S):
                pass
        except psycopg.Error as exc:
            where = f"{infra.pg_host}:{infra.pg_port}/{infra.pg_database}"
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return f"role {role} cannot log in to {where} ({reason})"
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "integration: needs the real Kafka broker and PostgreSQL server"
    )


def pytest_report_header(config: pytest.Config) -> str:
    infra = Infra.from_env()
    return (
        f"test infra: from the environment (kafka {infra.kafka_bootstrap}, postgres "
        f"{infra.pg_host}:{infra.pg_port}/{infra.pg_database}); checked on first use"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INFRA_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def infra(pytestconfig: pytest.Config) -> Infra:
    """Kafka + PostgreSQL with the saga's database, schemas, roles and topics."""
    checked = pytestconfig.stash.get(_CHECKED, None)
    if checked is None:
        candidate = Infra.from_env()
        problem = reachable(candidate)
        checked = candidate if problem is None else problem
        pytestconfig.stash[_CHECKED] = checked
    if isinstance(checked, str):
        pytest.fail(
            f"test infra unavailable: {checked}. Start one (make test-infra at the repository "
            "root: it starts the local stack and initialises the tests' database) or point "
            "KAFKA_BOOTSTRAP_SERVERS and PG_* at one",
            pytrace=False,
        )
    return checked


@pytest.fixture(scope="session")
def kafka_bootstrap(infra: Infra) -> str:
    return infra.kafka_bootstrap


@pytest.fixture(scope="session")
def postgres_url(infra: Infra) -> str:
    """Superuser psycopg URL (`postgresql://...`) of the tests' database."""
    return infra.dsn()
