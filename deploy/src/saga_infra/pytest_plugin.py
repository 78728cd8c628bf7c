"""pytest fixture layer: real Kafka + Postgres via testcontainers or the local stack.

Fixtures (session-scoped, started lazily by the first test that asks):
    infra            -> saga_infra.endpoints.Infra (kafka_bootstrap, dsn(), sqlalchemy_url(), ...)
    kafka_bootstrap  -> "host:port"
    postgres_url     -> superuser psycopg URL of the saga database

Environment:
    SAGA_INFRA=auto|testcontainers|local   auto (default): testcontainers if Docker answers
    SAGA_STOP_STACK_AFTER_TESTS=1          stop a local stack this session started
    TEST_PG_DATABASE                       database the tests use (default `<PG_DATABASE>_test`),
                                           so tests never touch the data of a running `make dev`
Tests using these fixtures are marked `integration` automatically. They never skip: if no
infrastructure can be had, they fail with the reason.
"""

from __future__ import annotations

import os

import pytest

from saga_infra import containers, stack
from saga_infra.containers import ContainerStack, docker_reachable
from saga_infra.endpoints import LOCAL_STACK, TESTCONTAINERS, Infra, infra_of
from saga_infra.errors import StackError
from saga_infra.settings import Settings

INFRA_FIXTURES = frozenset({"infra", "kafka_bootstrap", "postgres_url"})


class InfraProvider:
    """Decides where the infrastructure comes from, starts it once, cleans up what it started."""

    def __init__(self, config: pytest.Config) -> None:
        self._config = config
        self.mode = os.environ.get("SAGA_INFRA", "auto").strip().lower() or "auto"
        self.stop_local = os.environ.get("SAGA_STOP_STACK_AFTER_TESTS", "") not in ("", "0")
        self._docker: bool | None = None
        self._containers: ContainerStack | None = None
        self._infra: Infra | None = None
        self._failure: str | None = None
        self.started_local = False

    def planned_source(self) -> str:
        if self.mode == "local":
            return LOCAL_STACK
        if self.mode == "testcontainers":
            return TESTCONTAINERS
        if self._docker is None:
            self._docker = docker_reachable()
        return TESTCONTAINERS if self._docker else LOCAL_STACK

    def get(self) -> Infra:
        if self._infra is None and self._failure is None:
            try:
                self._infra = self._start()
            except Exception as exc:
                self._failure = str(exc) or type(exc).__name__
        if self._infra is None:
            pytest.fail(f"saga infra unavailable: {self._failure}", pytrace=False)
        return self._infra

    def _start(self) -> Infra:
        settings = test_settings()
        if self.planned_source() == TESTCONTAINERS:
            self._containers = ContainerStack()
            try:
                return self._containers.start(settings)
            except Exception as exc:
                self._containers.stop()
                self._containers = None
                if self.mode == "testcontainers":
                    raise StackError(f"testcontainers failed: {exc}") from exc
                self._say(f"saga infra: testcontainers failed ({exc}); trying the local stack")
        try:
            result = stack.up(settings, progress=self._say)
        except StackError as exc:
            raise StackError(f"local stack ({settings.stack_dir}): {exc}") from exc
        self.started_local = bool(result.started)
        return infra_of(settings, LOCAL_STACK)

    def _say(self, line: str) -> None:
        capture = self._config.pluginmanager.getplugin("capturemanager")
        reporter = self._config.pluginmanager.getplugin("terminalreporter")
        if capture is None or reporter is None:
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)

    def summary(self) -> str:
        if self._infra is None:
            reason = f" ({self._failure})" if self._failure else ""
            return f"saga infra: not started{reason}"
        line = f"saga infra: used {self._infra.source}"
        line += f" (kafka {self._infra.kafka_bootstrap}, postgres "
        line += f"{self._infra.pg_host}:{self._infra.pg_port}/{self._infra.pg_database})"
        if self._infra.source == LOCAL_STACK:
            if not self.started_local:
                line += "; it was already running and is left running"
            elif self.stop_local:
                line += "; started by this session, stopped at its end"
            else:
                line += "; started by this session and left running (make infra-down stops it)"
        return line

    def close(self) -> None:
        if self._containers is not None:
            self._containers.stop()
        if self.started_local and self.stop_local:
            stack.down(Settings.from_env())


def test_settings() -> Settings:
    """The stack's settings, with the database the tests own instead of the system's."""
    return Settings.from_env().for_tests()


_PROVIDER = pytest.StashKey[InfraProvider]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "integration: needs the real Kafka broker and PostgreSQL server"
    )
    config.stash[_PROVIDER] = InfraProvider(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    provider = config.stash.get(_PROVIDER, None)
    if provider is not None:
        provider.close()


def pytest_report_header(config: pytest.Config) -> str:
    provider = config.stash[_PROVIDER]
    source = provider.planned_source()
    if source == TESTCONTAINERS:
        images = f"{containers.KAFKA_IMAGE}, {containers.POSTGRES_IMAGE}"
        return (
            f"saga infra: testcontainers ({images}; Docker engine reachable), started on first use"
        )
    settings = Settings.from_env()
    return (
        f"saga infra: local stack (no Docker engine; STACK_DIR={settings.stack_dir}, "
        f"kafka {settings.kafka_bootstrap}, postgres {settings.pg_host}:{settings.pg_port}), "
        "started on first use"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INFRA_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    provider = terminalreporter.config.stash.get(_PROVIDER, None)
    if provider is not None:
        terminalreporter.write_line(provider.summary())


@pytest.fixture(scope="session")
def infra(pytestconfig: pytest.Config) -> Infra:
    """Kafka + PostgreSQL with the saga's database, schemas, roles and topics."""
    return pytestconfig.stash[_PROVIDER].get()


@pytest.fixture(scope="session")
def kafka_bootstrap(infra: Infra) -> str:
    return infra.kafka_bootstrap


@pytest.fixture(scope="session")
def postgres_url(infra: Infra) -> str:
    """Superuser psycopg URL (`postgresql://...`) of the saga database."""
    return infra.dsn()
