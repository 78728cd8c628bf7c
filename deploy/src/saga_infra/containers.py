"""Kafka (apache/kafka, KRaft) and PostgreSQL 15 via testcontainers, when Docker is reachable."""

from __future__ import annotations

import gc
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any

from saga_infra import kafka_server, processes
from saga_infra.endpoints import TESTCONTAINERS, Infra
from saga_infra.errors import StackError
from saga_infra.settings import Settings
from shared_events.kafka.provisioning import ensure_topics

KAFKA_IMAGE = "apache/kafka:4.3.1"
POSTGRES_IMAGE = "postgres:15"
# kafka-storage format wants a UUID as 22 characters of URL-safe base64 (Kafka's Uuid).
KAFKA_CLUSTER_ID = "Wm8cfjstTI6fECo7TF1ufw"
_START_SCRIPT = "/tmp/saga-kafka-start.sh"
_SQL_DIR = "/tmp/saga-sql"
_DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock"


def docker_reachable() -> bool:
    """True if a Docker engine answers a ping (docker SDK, standard DOCKER_HOST resolution)."""
    if not os.environ.get("DOCKER_HOST") and not Path(_DEFAULT_DOCKER_SOCKET).exists():
        return False
    with warnings.catch_warnings():
        # A failed ping leaves the SDK's socket to the garbage collector: collect it here,
        # where its ResourceWarning is ignored, not in some later test where it is an error.
        warnings.simplefilter("ignore")
        try:
            import docker  # type: ignore[import-untyped]

            client = docker.from_env(timeout=5)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except Exception:
            return False
        finally:
            gc.collect()


class ContainerStack:
    """The two containers of one test session; `stop()` removes them."""

    def __init__(self) -> None:
        self._containers: list[Any] = []

    def start(self, settings: Settings) -> Infra:
        with warnings.catch_warnings():
            # Third-party deprecations inside testcontainers/docker are not ours to fail on.
            warnings.simplefilter("ignore", DeprecationWarning)
            pg = self._start_postgres(settings)
            bootstrap = self._start_kafka(settings)
        ensure_topics(bootstrap, settings.topic_partitions)
        return Infra(
            kafka_bootstrap=bootstrap,
            pg_host=pg.get_container_host_ip(),
            pg_port=int(pg.get_exposed_port(5432)),
            pg_database=settings.pg_database,
            pg_superuser=settings.pg_superuser,
            pg_superuser_password=settings.pg_superuser_password,
            source=TESTCONTAINERS,
            role_passwords=settings.role_passwords,
        )

    def stop(self) -> None:
        while self._containers:
            container = self._containers.pop()
            try:
                container.stop()
            except Exception as exc:  # best effort: the Ryuk reaper removes leftovers
                print(f"saga infra: could not stop a container: {exc}", file=sys.stderr)

    def _start_postgres(self, settings: Settings) -> Any:
        from testcontainers.community.postgres import PostgresContainer
        from testcontainers.core.container import ExecConfig

        pg = PostgresContainer(
            POSTGRES_IMAGE,
            username=settings.pg_superuser,
            password=settings.pg_superuser_password,
            dbname="postgres",
            driver=None,
        )
        pg.start()
        self._containers.append(pg)
        # The same init.sh + init.sql as the local stack and docker-compose.
        sql_dir = settings.init_script.parent
        for name in ("init.sh", "init.sql"):
            pg.copy_into_container((sql_dir / name).read_bytes(), f"{_SQL_DIR}/{name}")
        env = {
            "PGHOST": "127.0.0.1",
            "PGPORT": "5432",
            "PGUSER": settings.pg_superuser,
            "PGPASSWORD": settings.pg_superuser_password,
            "PG_DATABASE": settings.pg_database,
            "ORDER_DB_PASSWORD": settings.role_password("order_service"),
            "PAYMENT_DB_PASSWORD": settings.role_password("payment_service"),
            "INVENTORY_DB_PASSWORD": settings.role_password("inventory_service"),
        }
        result = pg.exec(ExecConfig(command=["bash", f"{_SQL_DIR}/init.sh"], environment=env))
        if result.exit_code != 0:
            output = result.output.decode(errors="replace").strip().splitlines() or ["no output"]
            raise StackError(f"db init in the postgres container failed: {output[-1]}")
        return pg

    def _start_kafka(self, settings: Settings) -> str:
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.wait_strategies import LogMessageWaitStrategy

        # The advertised listener needs the mapped port, known only once the container runs:
        # the container waits for a start script that we write after `start()`.
        wait_for_script = f"while [ ! -f {_START_SCRIPT} ]; do sleep 0.1; done; . {_START_SCRIPT}"
        kafka = (
            DockerContainer(KAFKA_IMAGE)
            .with_exposed_ports(9092)
            .with_envs(**_kafka_env(settings))
            .with_command(["sh", "-c", wait_for_script])
        )
        kafka.start()
        self._containers.append(kafka)
        host, port = kafka.get_container_host_ip(), kafka.get_exposed_port(9092)
        script = (
            f"export KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://{host}:{port},BROKER://localhost:9093\n"
            "exec /etc/kafka/docker/run\n"
        )
        kafka.copy_into_container(script.encode(), _START_SCRIPT)
        strategy = LogMessageWaitStrategy(re.compile(r"Kafka Server started"))
        strategy.with_startup_timeout(int(settings.start_timeout) + 30)
        strategy.wait_until_ready(kafka)
        bootstrap = f"{host}:{port}"
        if not processes.wait_until(lambda: kafka_server.answers_metadata(bootstrap), 30):
            raise StackError(f"Kafka container at {bootstrap} does not answer metadata requests")
        return bootstrap


def _kafka_env(settings: Settings) -> dict[str, str]:
    """apache/kafka image configuration: single KRaft node, same broker settings as locally."""
    return {
        "CLUSTER_ID": KAFKA_CLUSTER_ID,
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": (
            "PLAINTEXT://0.0.0.0:9092,BROKER://0.0.0.0:9093,CONTROLLER://0.0.0.0:9094"
        ),
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": (
            "PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT"
        ),
        "KAFKA_INTER_BROKER_LISTENER_NAME": "BROKER",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9094",
        "KAFKA_NUM_PARTITIONS": str(settings.topic_partitions),
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
        "KAFKA_HEAP_OPTS": settings.kafka_heap_opts,
    }
