"""The Dockerfiles and their build contexts, held to how the images must be built.

Multi-stage; the Python base and uv as build arguments; dependencies from the lockfile
(`uv sync --frozen`) in a layer before the sources; a final stage without uv, pip or compilers,
running as an unprivileged user, with a healthcheck. Each service's image is built from the
service's own directory (as if it were its own repository) plus the contracts wheel(s) its
uv.lock names, staged by its own Makefile into `.build/`; the init job's from the repository.
Nothing is copied from outside a context, and a .dockerignore keeps the rest out of each."""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"order": 8001, "payment": 8002, "inventory": 8003}
DOCKERFILES = {
    "init": ROOT / "deploy/init.Dockerfile",
    **{name: ROOT / f"services/{name}/Dockerfile" for name in SERVICES},
}
# What a service's context holds: its project, and what `make stage` puts in .build/.
SERVICE_CONTEXT = {
    "pyproject.toml",
    "uv.lock",
    "src/",
    ".build/contracts-index/",
    ".build/uv-cache/",
}


def _instructions(path: Path | str) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = path.read_text() if isinstance(path, Path) else path
    text = re.sub(r"\\\n\s*", " ", text)
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def _stages(path: Path | str) -> list[list[str]]:
    stages: list[list[str]] = []
    for line in _instructions(path):
        if line.startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def _copies(lines: list[str]) -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY / ADD from the build context (not --from=)."""
    found: list[tuple[list[str], str]] = []
    for line in lines:
        words = line.split()
        if words[0] not in ("COPY", "ADD"):
            continue
        args = [word for word in words[1:] if not word.startswith("--")]
        if any(word.startswith("--from=") for word in words[1:]):
            continue
        found.append((args[:-1], args[-1]))
    return found


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def _contexts() -> dict[Path, Path]:
    """Dockerfile -> its build context, as docker-compose.yml builds each image."""
    contexts: dict[Path, Path] = {}
    for service in _compose()["services"].values():
        if "build" in service:
            context = (ROOT / service["build"]["context"]).resolve()
            contexts[context / service["build"].get("dockerfile", "Dockerfile")] = context
    return contexts


def outside_the_context(dockerfile: Path | str, context: Path) -> list[str]:
    """The COPY / ADD sources of a Dockerfile that are not files of its build context: outside
    it, or not there (but for `.build/`, which `make stage` fills before a build)."""
    wrong: list[str] = []
    for sources, _ in _copies(_instructions(dockerfile)):
        for source in sources:
            normal = posixpath.normpath(source)
            if (
                source.startswith("/")
                or "://" in source
                or normal == ".."
                or normal.startswith("../")
                or not (context / normal).resolve().is_relative_to(context.resolve())
                or not (normal.startswith(".build/") or (context / normal).exists())
            ):
                wrong.append(source)
    return wrong


def _lock(name: str) -> dict[str, Any]:
    lock: dict[str, Any] = tomllib.loads((ROOT / f"services/{name}/uv.lock").read_text())
    return lock


def _contracts_wheels(lock: dict[str, Any]) -> dict[str, list[str]]:
    """Local (relative path) index -> the files of it the lock installs."""
    found: dict[str, list[str]] = {}
    for package in lock["package"]:
        registry = package.get("source", {}).get("registry", "")
        if registry and "://" not in registry:
            files = [wheel["path"] for wheel in package.get("wheels", [])]
            if "sdist" in package and "path" in package["sdist"]:
                files.append(package["sdist"]["path"])
            found.setdefault(registry, []).extend(files)
    return found


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_bases_are_build_arguments_and_the_build_is_multi_stage(name: str) -> None:
    lines = _instructions(DOCKERFILES[name])
    assert "ARG PYTHON_BASE=python:3.11-slim-bookworm" in lines
    assert any(line.startswith("ARG UV_IMAGE=ghcr.io/astral-sh/uv:") for line in lines)
    froms = [line for line in lines if line.startswith("FROM ")]
    assert froms == [
        "FROM ${UV_IMAGE} AS uv",
        "FROM ${PYTHON_BASE} AS build",
        "FROM ${PYTHON_BASE}",
    ]


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_dependencies_come_from_the_lockfile_in_a_layer_before_the_sources(name: str) -> None:
    build = _stages(DOCKERFILES[name])[1]
    syncs = [index for index, line in enumerate(build) if "uv sync --frozen" in line]
    assert len(syncs) == 2, build
    deps, project = (build[index] for index in syncs)
    assert "--no-dev" in deps and "--no-dev" in project and "--no-editable" in project
    if name == "init":  # the workspace's shared-events, from the workspace's lock
        assert "--no-install-workspace" in deps
        assert "--package shared-events --extra kafka" in deps
        assert "--package shared-events --extra kafka" in project
    else:  # the service's own project, from its own lock: nothing to choose
        assert "--no-install-project" in deps and "--package" not in deps + project
    metadata = ("pyproject.toml", "uv.lock", "uv-cache", "contracts-index")
    sources = [
        index
        for index, line in enumerate(build)
        if line.startswith("COPY ")
        and "--from=uv" not in line
        and not any(word in line for word in metadata)
    ]
    # Only the lockfile, the projects' metadata, uv's cache and the wheels come before the
    # dependencies' layer.
    assert sources and min(sources) > syncs[0], build
    assert "COPY pyproject.toml uv.lock ./" in build[: syncs[0]]


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_the_final_image_has_no_build_tools_and_runs_unprivileged(name: str) -> None:
    final = _stages(DOCKERFILES[name])[-1]
    text = "\n".join(final)
    assert "--from=uv" not in text and "uv sync" not in text and "pip install" not in text
    assert not re.search(r"\b(gcc|build-essential|make|git)\b", text)
    assert "COPY --from=build /venv /venv" in final
    users = [line for line in final if line.startswith("USER ")]
    assert users == ["USER app"]
    assert any("useradd" in line and "--uid 10001" in line for line in final)


@pytest.mark.parametrize(("name", "port"), sorted(SERVICES.items()))
def test_services_check_their_liveness_and_serve_on_every_interface(name: str, port: int) -> None:
    final = _stages(DOCKERFILES[name])[-1]
    (healthcheck,) = [line for line in final if line.startswith("HEALTHCHECK ")]
    assert "/health/live" in healthcheck and f"{name.upper()}_HTTP_PORT" in healthcheck
    env = " ".join(line for line in final if line.startswith("ENV "))
    assert f"{name.upper()}_HTTP_HOST=0.0.0.0" in env and f"{name.upper()}_HTTP_PORT={port}" in env
    assert f"EXPOSE {port}" in final
    assert any(line.startswith("CMD ") and f"{name}_service" in line for line in final)


def test_the_init_job_describes_every_workspace_member_to_uv_and_nothing_else() -> None:
    members = re.search(r"members = \[([^]]+)\]", (ROOT / "pyproject.toml").read_text())
    assert members is not None
    paths = re.findall(r'"([^"]+)"', members.group(1))
    lines = _instructions(DOCKERFILES["init"])
    for path in paths:
        assert f"COPY {path}/pyproject.toml {path}/" in lines, path
    # The services are no members: the init job's image takes nothing of theirs.
    assert not [line for line in lines if line.startswith("COPY") and "services/" in line]


# -- the build contexts -------------------------------------------------------------------


def test_every_image_is_built_from_the_context_its_dockerfile_is_written_for() -> None:
    assert _contexts() == {
        DOCKERFILES["init"]: ROOT,
        **{DOCKERFILES[name]: ROOT / "services" / name for name in SERVICES},
    }


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_no_dockerfile_copies_from_outside_its_build_context(name: str) -> None:
    dockerfile = DOCKERFILES[name]
    context = _contexts()[dockerfile]
    assert outside_the_context(dockerfile, context) == []
    if name in SERVICES:
        # Nothing but the project and what `make stage` puts beside it.
        copied = {source for sources, _ in _copies(_instructions(dockerfile)) for source in sources}
        assert copied == SERVICE_CONTEXT


def test_the_context_check_catches_a_copy_from_outside() -> None:
    context = ROOT / "services/payment"
    for source in (
        "../../contracts-index/",
        "../order/src/",
        "/etc/passwd",
        "src/../../x",
        "shared-events/",  # the repository's, not the service's
        "services/payment/src/",
    ):
        dockerfile = f"FROM x\nCOPY pyproject.toml {source} /src/\n"
        assert outside_the_context(dockerfile, context) == [source], source
    assert outside_the_context("FROM x\nCOPY --from=uv /uv /usr/local/bin/uv\n", context) == []


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_the_image_lays_out_the_locks_relative_index_path(name: str) -> None:
    """WORKDIR + the lock's `../../contracts-index` is where the staged wheels are copied to,
    whichever contracts version the lock pins, and uv.lock sits in WORKDIR (the cache's
    uv.lock.sha256 names it there)."""
    build = _stages(DOCKERFILES[name])[1]
    workdirs = [line.split()[1] for line in build if line.startswith("WORKDIR ")]
    assert workdirs == [f"/src/services/{name}"]
    indexes = _contracts_wheels(_lock(name))
    pyproject = tomllib.loads((ROOT / f"services/{name}/pyproject.toml").read_text())
    urls = [index["url"] for index in pyproject["tool"]["uv"]["index"]]
    assert list(indexes) == urls == ["../../contracts-index"]
    (index,) = indexes
    copies = {tuple(sources): destination for sources, destination in _copies(build)}
    destination = copies[(".build/contracts-index/",)]
    assert posixpath.normpath(posixpath.join(workdirs[0], index)) == destination.rstrip("/")
    assert copies[("pyproject.toml", "uv.lock")] == "./"
    assert copies[(".build/uv-cache/",)] == "/uv-cache/"
    assert any("UV_CACHE_DIR=/uv-cache" in line for line in build if line.startswith("ENV "))


def _dockerignore(path: Path) -> list[str]:
    return [
        line.strip()
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]


def test_a_service_context_sends_only_what_its_dockerfile_copies() -> None:
    texts = {name: (ROOT / f"services/{name}/.dockerignore").read_text() for name in SERVICES}
    assert len(set(texts.values())) == 1, "the services' .dockerignore files differ"
    patterns = _dockerignore(ROOT / "services/payment/.dockerignore")
    assert patterns[0] == "*"  # an allow list: .venv, tests, the Makefile, caches stay out
    allowed = {pattern[1:] for pattern in patterns if pattern.startswith("!")}
    assert allowed == SERVICE_CONTEXT | {".build/uv-cache/**"}
    assert "**/__pycache__" in patterns
    # uv's cache stays whole (its wheels may hold __pycache__/).
    assert patterns[-1] == "!.build/uv-cache/**"


def test_the_init_context_leaves_out_local_state_caches_and_the_services() -> None:
    patterns = _dockerignore(ROOT / ".dockerignore")
    for needed in (
        ".git",
        ".local",
        ".venv",
        "**/__pycache__",
        "**/.pytest_cache",
        "**/.mypy_cache",
        "**/.ruff_cache",
        "**/.hypothesis",
        "services",  # each built from its own directory (and .build/ holds uv's caches)
        "contracts-index",
    ):
        assert needed in patterns
    # uv's offline cache is the one thing the init image takes from a generated directory.
    assert patterns[-1] == "!deploy/docker/.uv-cache/**"
    readme = ROOT / "deploy/docker/.uv-cache/README.md"
    assert readme.is_file()


# -- make stage / make image: the service's Makefile, with nothing but it and the index -----


def test_the_service_makefiles_are_one_file() -> None:
    texts = {name: (ROOT / f"services/{name}/Makefile").read_bytes() for name in SERVICES}
    assert len(set(texts.values())) == 1


def _alone(tmp_path: Path, name: str) -> Path:
    """The service's directory and the contracts index, as a checkout of the service would
    have them (../../contracts-index), and nothing else of the repository."""
    service = tmp_path / "services" / name
    shutil.copytree(
        ROOT / "services" / name,
        service,
        ignore=shutil.ignore_patterns(".venv", ".build", "__pycache__", ".pytest_cache"),
    )
    shutil.copytree(ROOT / "contracts-index", tmp_path / "contracts-index")
    return service


def _make(service: Path, *args: str) -> subprocess.CompletedProcess[str]:
    mine = ("PYTHON_BASE", "UV_IMAGE", "IMAGE", "DOCKER", "MAKEFLAGS", "MAKELEVEL")
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(service), *args],
        env={key: value for key, value in os.environ.items() if key not in mine},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.skipif(shutil.which("make") is None, reason="make")
@pytest.mark.parametrize("name", sorted(SERVICES))
def test_make_stage_copies_exactly_the_wheels_the_lock_names(tmp_path: Path, name: str) -> None:
    service = _alone(tmp_path, name)
    (wheels,) = _contracts_wheels(_lock(name)).values()
    assert wheels and all((tmp_path / "contracts-index" / wheel).is_file() for wheel in wheels)
    staged = service / ".build/contracts-index"
    staged.mkdir(parents=True)
    (staged / "shared_events-0.0.1-py3-none-any.whl").write_bytes(b"an older lock's")
    done = _make(service, "stage")
    assert done.returncode == 0, done.stderr
    assert sorted(path.name for path in staged.iterdir()) == sorted(wheels)
    for wheel in wheels:
        assert (staged / wheel).read_bytes() == (ROOT / "contracts-index" / wheel).read_bytes()
    assert (service / ".build/uv-cache").is_dir()
    # Every file the Dockerfile copies is in the staged context.
    for sources, _ in _copies(_instructions(service / "Dockerfile")):
        for source in sources:
            assert (service / source).exists(), source


@pytest.mark.skipif(shutil.which("make") is None, reason="make")
def test_make_stage_fails_when_the_index_lacks_a_wheel_the_lock_names(tmp_path: Path) -> None:
    service = _alone(tmp_path, "payment")
    for wheel in (tmp_path / "contracts-index").glob("*.whl"):
        wheel.unlink()
    done = _make(service, "stage")
    assert done.returncode != 0


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="sha256sum")
def test_make_stage_checks_the_wheels_against_the_index_s_sha256sums(tmp_path: Path) -> None:
    """uv records no hash for a local index: the index's SHA256SUMS, when it has one, does."""
    service = _alone(tmp_path, "payment")
    index = tmp_path / "contracts-index"
    (wheel,) = _contracts_wheels(_lock("payment"))["../../contracts-index"]
    sums = index / "SHA256SUMS"
    listed = subprocess.run(
        ["sha256sum", *sorted(path.name for path in index.glob("*.whl"))],
        cwd=index,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    sums.write_text(listed)
    assert _make(service, "stage").returncode == 0
    with (index / wheel).open("ab") as handle:
        handle.write(b"not the released bytes")
    done = _make(service, "stage")
    assert done.returncode != 0 and wheel in done.stderr
    assert not (service / ".build/contracts-index").exists()  # nothing half-staged is built
    shutil.copy(ROOT / "contracts-index" / wheel, index / wheel)
    assert _make(service, "stage").returncode == 0
    sums.write_text("".join(line for line in listed.splitlines(True) if wheel not in line))
    assert _make(service, "stage").returncode != 0  # a wheel the release never listed


@pytest.mark.skipif(shutil.which("make") is None, reason="make")
@pytest.mark.parametrize("name", sorted(SERVICES))
def test_make_image_builds_the_service_directory_as_its_versioned_image(
    tmp_path: Path, name: str
) -> None:
    service = _alone(tmp_path, name)
    version = tomllib.loads((service / "pyproject.toml").read_text())["project"]["version"]
    done = _make(service, "-n", "image")
    assert done.returncode == 0, done.stderr
    build = done.stdout.strip().splitlines()[-1].split()
    assert build == ["docker", "build", "--tag", f"saga/{name}-service:{version}", "."]
    done = _make(service, "-n", "image", "PYTHON_BASE=x/py:3", "UV_IMAGE=x/uv:1")
    build = done.stdout.strip().splitlines()[-1].split()
    assert build[-5:] == [
        "--build-arg",
        "PYTHON_BASE=x/py:3",
        "--build-arg",
        "UV_IMAGE=x/uv:1",
        ".",
    ]
