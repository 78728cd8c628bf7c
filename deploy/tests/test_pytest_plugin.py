"""The fixture layer: where Kafka and Postgres come from, and failing (never skipping) without."""

from types import SimpleNamespace
from typing import Any

import pytest

from saga_infra import pytest_plugin
from saga_infra.containers import ContainerStack
from saga_infra.endpoints import LOCAL_STACK, TESTCONTAINERS
from saga_infra.errors import StackError
from saga_infra.pytest_plugin import InfraProvider


def _provider(monkeypatch: pytest.MonkeyPatch, mode: str, docker: bool) -> InfraProvider:
    monkeypatch.setenv("SAGA_INFRA", mode)
    monkeypatch.setattr(pytest_plugin, "docker_reachable", lambda: docker)
    quiet = SimpleNamespace(pluginmanager=SimpleNamespace(getplugin=lambda _name: None))
    return InfraProvider(quiet)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mode", "docker", "source"),
    [
        ("auto", True, TESTCONTAINERS),
        ("auto", False, LOCAL_STACK),
        ("local", True, LOCAL_STACK),
        ("testcontainers", False, TESTCONTAINERS),
    ],
)
def test_the_source_follows_saga_infra_and_docker(
    monkeypatch: pytest.MonkeyPatch, mode: str, docker: bool, source: str
) -> None:
    assert _provider(monkeypatch, mode, docker).planned_source() == source


def test_no_infrastructure_fails_the_test_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = _provider(monkeypatch, "local", docker=False)

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise StackError("port 5432 is taken by another process")

    monkeypatch.setattr(pytest_plugin.stack, "up", broken)

    with pytest.raises(pytest.fail.Exception, match="port 5432 is taken"):
        provider.get()
    assert "not started (local stack" in provider.summary()


def test_auto_falls_back_to_the_local_stack_when_testcontainers_fail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    provider = _provider(monkeypatch, "auto", docker=True)
    tried = []

    def no_containers(_self: ContainerStack, _settings: Any) -> None:
        raise RuntimeError("image pull refused")

    def local_up(*_args: Any, **_kwargs: Any) -> SimpleNamespace:
        tried.append("local")
        return SimpleNamespace(started=[])

    monkeypatch.setattr(ContainerStack, "start", no_containers)
    monkeypatch.setattr(ContainerStack, "stop", lambda _self: None)
    monkeypatch.setattr(pytest_plugin.stack, "up", local_up)

    infra = provider.get()

    assert tried == ["local"] and infra.source == LOCAL_STACK
    assert provider.summary().startswith(f"saga infra: used {LOCAL_STACK}")


def test_the_tests_database_is_their_own_and_both_plugins_agree_on_it() -> None:
    """`make test-infra` prepares the database a service's own run is given
    (shared_events.testing.plugin) and the workspace's suites use (this plugin)."""
    from saga_infra.settings import Settings
    from shared_events.testing.infra import Infra

    for env in ({}, {"PG_DATABASE": "other"}, {"TEST_PG_DATABASE": "mine", "PG_PORT": "33432"}):
        ours = Settings.from_env(env).for_tests(env)
        theirs = Infra.from_env(env)
        assert (ours.pg_database, ours.pg_port) == (theirs.pg_database, theirs.pg_port)
        assert ours.pg_database != Settings.from_env(env).pg_database
