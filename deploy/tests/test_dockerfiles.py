"""The Dockerfiles and the build context, held to how the images must be built.

Multi-stage; the Python base and uv as build arguments; dependencies from the lockfile
(`uv sync --frozen`) in a layer before the sources; a final stage without uv, pip or compilers,
running as an unprivileged user, with a healthcheck; a .dockerignore that keeps the local state
out of the context."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"order": 8001, "payment": 8002, "inventory": 8003}
DOCKERFILES = {
    "init": ROOT / "deploy/init.Dockerfile",
    **{name: ROOT / f"services/{name}/Dockerfile" for name in SERVICES},
}
PACKAGES = {
    "init": "--package shared-events --extra kafka",
    **{name: f"--package {name}-service" for name in SERVICES},
}


def _instructions(path: Path) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def _stages(path: Path) -> list[list[str]]:
    stages: list[list[str]] = []
    for line in _instructions(path):
        if line.startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


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
    assert "--no-install-workspace" in deps and PACKAGES[name] in deps and "--no-dev" in deps
    assert "--no-editable" in project and PACKAGES[name] in project
    sources = [
        index
        for index, line in enumerate(build)
        if line.startswith("COPY ")
        and "pyproject.toml" not in line
        and "uv.lock" not in line
        and "uv-cache" not in line
        and "--from=uv" not in line
    ]
    # Only the lockfile and the members' metadata come before the dependencies' layer.
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


def test_every_workspace_member_is_described_to_uv_before_the_sync() -> None:
    members = re.search(r"members = \[([^]]+)\]", (ROOT / "pyproject.toml").read_text())
    assert members is not None
    for path in re.findall(r'"([^"]+)"', members.group(1)):
        for dockerfile in DOCKERFILES.values():
            assert f"COPY {path}/pyproject.toml {path}/" in _instructions(dockerfile), (
                dockerfile,
                path,
            )


def test_the_build_context_leaves_out_local_state_and_caches() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for needed in (
        ".git",
        ".local",
        ".venv",
        "**/__pycache__",
        "**/.pytest_cache",
        "**/.mypy_cache",
        "**/.ruff_cache",
        "**/.hypothesis",
    ):
        assert needed in patterns
    # uv's offline cache is the one thing the images take from a generated directory.
    assert patterns[-1] == "!deploy/docker/.uv-cache/**"
    readme = ROOT / "deploy/docker/.uv-cache/README.md"
    assert readme.is_file()
