"""`<SERVICE>_PYTHON`: one service run by another interpreter (e.g. its own virtualenv on other
contracts, as `make compat` builds), the rest by this process's own."""

import json
import socket
import sys
import time
from pathlib import Path

import pytest

from saga_infra import services
from saga_infra.services import SERVICES, ServiceError
from saga_infra.settings import Settings

ORDER, PAYMENT, INVENTORY = SERVICES

# A stand-in for `payment_service`: records how it was started, then idles until stopped.
FAKE_MAIN = """
import json, os, sys, time
command = sys.argv[1]
with open(os.path.join(os.environ["FAKE_SERVICE_OUT"], command + ".json"), "w") as out:
    json.dump({"executable": sys.executable, "argv": sys.argv[1:]}, out)
if command == "serve":
    time.sleep(60)
"""


def test_this_interpreter_unless_the_service_variable_names_another(tmp_path: Path) -> None:
    other = tmp_path / "python"
    other.symlink_to(sys.executable)

    assert PAYMENT.python({}) == sys.executable
    assert PAYMENT.python({"PAYMENT_PYTHON": "  "}) == sys.executable
    assert PAYMENT.python({"PAYMENT_PYTHON": str(other)}) == str(other)
    assert ORDER.python({"PAYMENT_PYTHON": str(other)}) == sys.executable
    assert INVENTORY.python_variable == "INVENTORY_PYTHON"


@pytest.mark.parametrize("kind", ["missing", "directory", "not executable"])
def test_a_variable_naming_no_interpreter_is_refused_naming_it(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "python"
    if kind == "directory":
        target.mkdir()
    elif kind == "not executable":
        target.write_text("#!/bin/sh\n")
        target.chmod(0o644)

    with pytest.raises(ServiceError, match=f"ORDER_PYTHON='{target}' is not an executable"):
        ORDER.python({"ORDER_PYTHON": str(target)})


@pytest.fixture
def fake_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`payment_service` importable from PYTHONPATH ahead of the real one; returns its dir."""
    package = tmp_path / "fake" / "payment_service"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(FAKE_MAIN)
    monkeypatch.setenv("PYTHONPATH", str(package.parent))
    return tmp_path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(path: Path, timeout_s: float = 20.0) -> dict[str, object]:
    until = time.monotonic() + timeout_s
    while not path.is_file() or not path.read_text():
        assert time.monotonic() < until, f"{path} not written"
        time.sleep(0.05)
    record: dict[str, object] = json.loads(path.read_text())
    return record


def test_migrate_and_start_use_the_interpreter_of_the_variable(
    fake_service: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = fake_service / "venv-python"
    other.symlink_to(sys.executable)
    monkeypatch.setenv("PAYMENT_PYTHON", str(other))
    monkeypatch.setenv("PAYMENT_HTTP_PORT", str(_free_port()))
    monkeypatch.setenv("FAKE_SERVICE_OUT", str(fake_service))
    settings = Settings.from_env({"STACK_DIR": str(fake_service / "stack")})

    services.migrate(settings, PAYMENT)
    services.start(settings, PAYMENT)
    try:
        served = _wait_for(fake_service / "serve.json")
        assert services.running_python(settings, PAYMENT) == str(other)
    finally:
        assert services.stop(settings, PAYMENT, grace_s=10)

    migrated = json.loads((fake_service / "migrate.json").read_text())
    assert migrated["argv"] == ["migrate"]
    assert served["argv"] == ["serve"]
    assert Path(str(served["executable"])).name == "venv-python"
    assert services.running_pid(settings, PAYMENT) is None


def test_a_bad_variable_starts_nothing(fake_service: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYMENT_PYTHON", str(fake_service / "no-such-python"))
    monkeypatch.setenv("PAYMENT_HTTP_PORT", str(_free_port()))
    settings = Settings.from_env({"STACK_DIR": str(fake_service / "stack")})

    with pytest.raises(ServiceError, match="PAYMENT_PYTHON="):
        services.start(settings, PAYMENT)
    assert not PAYMENT.pid_file(settings).exists()


def test_running_python_is_none_when_the_service_is_not_running(tmp_path: Path) -> None:
    settings = Settings.from_env({"STACK_DIR": str(tmp_path)})
    assert services.running_python(settings, ORDER) is None
