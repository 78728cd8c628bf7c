"""Staging the images' build contexts before `docker compose build`, without an engine: each
service's contracts wheels (its own Makefile's `make stage`) and uv's cache from its own lock,
in its own directory; the init job's cache from the workspace's lock."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from saga_infra.compose import images, stage, uv_cache
from saga_infra.errors import StackError
from saga_infra.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _compose_builds() -> dict[str, dict[str, Any]]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return {name: svc["build"] for name, svc in compose["services"].items() if "build" in svc}


def test_every_image_gets_uv_s_cache_from_the_lock_it_installs_inside_its_own_context() -> None:
    builds = _compose_builds()
    assert {lock.image for lock in uv_cache.locks()} == set(builds)
    assert set(uv_cache.SERVICES) == {name for name in builds if name != "init"}
    for lock in uv_cache.locks():
        build = builds[lock.image]
        context = ROOT / build["context"]
        dockerfile = (context / build.get("dockerfile", "Dockerfile")).read_text()
        assert (ROOT / lock.project / "uv.lock").is_file()
        cache = ROOT / lock.cache
        assert cache.is_relative_to(context), lock  # in the context that copies it
        assert f"COPY {cache.relative_to(context)}/ /uv-cache/" in dockerfile
        assert " ".join(lock.sync) in dockerfile
        if lock.image == "init":
            assert lock.project == "." and lock.cache == "deploy/docker/.uv-cache"
        else:  # the service's own lock, its own directory: only its lock's packages
            assert lock.project == f"services/{lock.image}" == build["context"]
            assert lock.cache == f"services/{lock.image}/.build/uv-cache"
            assert lock.sync == ()


class FakeUv:
    """uv sync as prefill runs it: what it was asked, and a file in the cache it fills."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.real_run = subprocess.run

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(uv_cache, "uv_binaries", lambda context: [Path("/x/uv")])
        monkeypatch.setattr(uv_cache, "_python311", lambda: "/usr/bin/python3.11")
        monkeypatch.setattr(uv_cache.subprocess, "run", self.run)

    def run(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        if argv[0] != "/x/uv":  # not uv (the settings' pg_config, sha256sum): as it is
            return self.real_run(argv, **kwargs)
        self.calls.append({"argv": argv, **kwargs})
        cache = Path(kwargs["env"]["UV_CACHE_DIR"])
        (cache / "wheels-v8").mkdir(parents=True, exist_ok=True)
        (cache / "wheels-v8" / "a.whl").write_bytes(b"x" * 10)
        return subprocess.CompletedProcess(argv, 0, "", "")


def _context(repo_root: Path) -> images.Context:
    return images.Context(repo_root, Settings.from_env({}), lambda line: None)


def test_a_service_s_cache_is_filled_from_its_own_lock_with_the_image_s_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "services/payment"
    project.mkdir(parents=True)
    shutil.copy(ROOT / "services/payment/uv.lock", project / "uv.lock")
    cache = project / ".build/uv-cache"
    cache.mkdir(parents=True)
    (cache / "stale").write_text("from another lock")
    uv = FakeUv()
    uv.install(monkeypatch)
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path / "some-venv"))
    lock = uv_cache.service_lock("payment")

    said = uv_cache.prefill(_context(tmp_path), lock)
    assert "payment: filled for services/payment/uv.lock" in said
    (call,) = uv.calls
    assert call["cwd"] == project  # beside its uv.lock, as the image's WORKDIR
    assert call["argv"][:5] == ["/x/uv", "sync", "--frozen", "--no-dev", "--no-editable"]
    assert "--package" not in call["argv"]
    assert call["env"]["UV_CACHE_DIR"] == str(cache)
    assert "VIRTUAL_ENV" not in call["env"]
    assert not (cache / "stale").exists()
    # The marker the Dockerfile checks (sha256sum -c, in its WORKDIR beside uv.lock).
    sha = hashlib.sha256((project / "uv.lock").read_bytes()).hexdigest()
    assert (cache / uv_cache.MARKER).read_text() == f"{sha}  uv.lock\n"
    if shutil.which("sha256sum"):
        checked = subprocess.call(
            ["sha256sum", "--status", "-c", str(cache / uv_cache.MARKER)], cwd=project
        )
        assert checked == 0

    # Once per lock: the same lock again is up to date, a new one (re-locked) fills again.
    assert "up to date" in uv_cache.prefill(_context(tmp_path), lock)
    assert len(uv.calls) == 1
    with (project / "uv.lock").open("a") as handle:
        handle.write("\n# re-locked\n")
    assert "filled" in uv_cache.prefill(_context(tmp_path), lock)
    assert len(uv.calls) == 2


def test_the_init_job_s_cache_is_filled_from_the_workspace_lock_and_keeps_its_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(ROOT / "uv.lock", tmp_path / "uv.lock")
    cache = tmp_path / uv_cache.INIT_CACHE_DIR
    cache.mkdir(parents=True)
    (cache / "README.md").write_text("note")
    uv = FakeUv()
    uv.install(monkeypatch)
    uv_cache.prefill(_context(tmp_path), uv_cache.INIT_LOCK)
    (call,) = uv.calls
    assert call["cwd"] == tmp_path
    assert call["argv"][-4:] == ["--package", "shared-events", "--extra", "kafka"]
    assert (cache / "README.md").read_text() == "note"


def test_stage_takes_each_service_s_wheels_then_its_cache_then_the_init_job_s(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    done: list[str] = []
    monkeypatch.setattr(stage, "stage_wheels", lambda root, name: done.append(f"wheels {name}"))
    monkeypatch.setattr(
        uv_cache, "prefill", lambda context, lock: done.append(f"cache {lock.image}")
    )
    said: list[str] = []
    stage.stage(_context(ROOT), lambda line: said.append(line))
    assert done == [
        "wheels order",
        "cache order",
        "wheels payment",
        "cache payment",
        "wheels inventory",
        "cache inventory",
        "cache init",
    ]
    done.clear()
    stage.stage(_context(ROOT), said.append, ["payment"], init=False)
    assert done == ["wheels payment", "cache payment"]


@pytest.mark.skipif(shutil.which("make") is None, reason="make")
def test_the_wheels_are_staged_by_the_service_s_own_makefile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compose path stages with `make stage`, as `make image` does: in a tree holding only
    the service's directory and the contracts index."""
    service = tmp_path / "services/inventory"
    shutil.copytree(
        ROOT / "services/inventory",
        service,
        ignore=shutil.ignore_patterns(".venv", ".build", "__pycache__", ".pytest_cache"),
    )
    shutil.copytree(ROOT / "contracts-index", tmp_path / "contracts-index")
    for variable in ("MAKEFLAGS", "MAKELEVEL"):
        monkeypatch.delenv(variable, raising=False)
    said = stage.stage_wheels(tmp_path, "inventory")
    staged = sorted(path.name for path in (service / ".build/contracts-index").iterdir())
    assert staged and all(name in said for name in staged)
    assert all(name.startswith("shared_events-") and name.endswith(".whl") for name in staged)

    shutil.rmtree(tmp_path / "contracts-index")
    with pytest.raises(StackError, match="make -C services/inventory stage"):
        stage.stage_wheels(tmp_path, "inventory")
    with pytest.raises(StackError, match="no service"):
        stage.stage_wheels(tmp_path, "shared-events")
