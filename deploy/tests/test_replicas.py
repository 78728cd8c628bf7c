"""Replicas in `make dev`: how many of each service, their ports and files, and the printout
of the partitions each member of a group holds."""

from pathlib import Path

import pytest

from saga_infra import groups
from saga_infra.services import (
    SERVICES,
    Service,
    ServiceError,
    instances,
    replica_count,
    started_instances,
)
from saga_infra.settings import Settings

ORDER, PAYMENT, INVENTORY = SERVICES


def test_one_replica_each_unless_asked() -> None:
    assert [s.instance for s in instances({})] == ["order", "payment", "inventory"]


def test_service_replicas_applies_to_all_and_a_service_variable_overrides_it() -> None:
    env = {"SERVICE_REPLICAS": "2", "PAYMENT_REPLICAS": "3"}
    assert [s.instance for s in instances(env)] == [
        "order",
        "payment",
        "inventory",
        "order-2",
        "payment-2",
        "inventory-2",
        "payment-3",
    ]
    assert replica_count(INVENTORY, {"SERVICE_REPLICAS": "2", "INVENTORY_REPLICAS": " "}) == 2


@pytest.mark.parametrize("bad", ["0", "7", "two", "-1", "1.5"])
def test_a_bad_count_is_refused_naming_the_variable(bad: str) -> None:
    with pytest.raises(ServiceError, match=f"ORDER_REPLICAS='{bad}'"):
        replica_count(ORDER, {"ORDER_REPLICAS": bad})


def test_each_replica_has_its_own_port_url_pid_and_log_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ORDER_HTTP_PORT", "18001")
    monkeypatch.setenv("ORDER_URL", "http://order.example")  # replica 1's, as configured
    settings = Settings.from_env({"STACK_DIR": str(tmp_path)})
    first, second, third = ORDER.replicas(3)

    assert [s.port for s in (first, second, third)] == [18001, 18011, 18021]
    assert (first.url, second.url) == ("http://order.example", "http://127.0.0.1:18011")
    assert second.pid_file(settings).name == "order-2-service.pid"
    assert third.log_file(settings).name == "order-3-service.log"
    assert second.env(settings)["ORDER_HTTP_PORT"] == "18011"


def test_the_replicas_a_stack_started_are_found_by_their_pid_files(tmp_path: Path) -> None:
    settings = Settings.from_env({"STACK_DIR": str(tmp_path)})
    settings.run_dir.mkdir(parents=True)
    for name in ("order", "order-2", "order-3", "inventory"):
        (settings.run_dir / f"{name}-service.pid").write_text("1\n")

    assert [s.replica for s in started_instances(settings, ORDER)] == [1, 2, 3]
    assert started_instances(settings, PAYMENT) == []
    assert started_instances(settings, INVENTORY) == [Service("inventory", 8003)]


def test_the_spread_names_each_member_by_its_instance() -> None:
    spread = {
        "payment-service": [
            groups.Member("m-1", "payment-service@h:101", ("order-events[0]", "order-events[1]")),
            groups.Member("m-2", "payment-service@h:202", ()),
        ]
    }
    assert groups.lines(spread, {101: "payment", 202: "payment-2"}) == [
        "payment-service: 2 members",
        "  payment (pid 101): order-events[0], order-events[1]",
        "  payment-2 (pid 202): -",
    ]
