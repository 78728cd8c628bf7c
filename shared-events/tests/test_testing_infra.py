"""shared_events.testing.infra and .plugin: the infrastructure a service's own run is given."""

import pytest

from shared_events.testing.infra import EXTERNAL, SERVICE_ROLES, Infra
from shared_events.testing.plugin import reachable


def test_from_env_defaults_to_the_local_stack_and_the_tests_own_database() -> None:
    infra = Infra.from_env({})
    assert infra.kafka_bootstrap == "127.0.0.1:9092"
    assert (infra.pg_host, infra.pg_port, infra.pg_database) == ("127.0.0.1", 5432, "saga_test")
    assert infra.source == EXTERNAL
    assert set(SERVICE_ROLES) == {"order_service", "payment_service", "inventory_service"}
    assert infra.role_password("payment_service") == "payment_service"


def test_from_env_reads_the_stack_variables() -> None:
    infra = Infra.from_env(
        {
            "KAFKA_PORT": "33092",
            "PG_PORT": "33432",
            "PG_DATABASE": "other",
            "PAYMENT_DB_PASSWORD": "p@ss/word",
        }
    )
    assert infra.kafka_bootstrap == "127.0.0.1:33092"
    assert infra.pg_database == "other_test"
    assert infra.sqlalchemy_url("payment_service") == (
        "postgresql+psycopg://payment_service:p%40ss%2Fword@127.0.0.1:33432/other_test"
    )
    explicit = Infra.from_env({"KAFKA_BOOTSTRAP_SERVERS": "b1:1,b2:2", "TEST_PG_DATABASE": "t"})
    assert (explicit.kafka_bootstrap, explicit.pg_database) == ("b1:1,b2:2", "t")


@pytest.mark.timeout(60)
def test_reachable_names_the_broker_that_does_not_answer() -> None:
    closed = Infra.from_env({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    problem = reachable(closed)
    assert problem is not None and problem.startswith("no Kafka broker answers at 127.0.0.1:1")
