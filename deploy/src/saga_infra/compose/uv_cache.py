"""uv's download caches for the images, filled on the host: inside a container HTTPS to PyPI may
not verify here, so the Dockerfiles install offline from them.

One cache per image, from the lockfile that image installs, in the image's own build context:
each service's from its own `services/<name>/uv.lock` into `services/<name>/.build/uv-cache`
(its context is the service's directory), the init job's from the workspace's `uv.lock` into
`deploy/docker/.uv-cache` (its context is the repository)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from saga_infra.compose.images import Context, uv_binaries
from saga_infra.compose.recipes import UV_VERSION
from saga_infra.errors import MissingToolError, StackError

# The services, each built from its own directory (docker-compose.yml's build contexts).
SERVICES = ("order", "payment", "inventory")
INIT_CACHE_DIR = "deploy/docker/.uv-cache"
MARKER = "uv.lock.sha256"  # what the Dockerfiles check (sha256sum -c) before --offline
STAMP = ".prefilled"
KEEP = ("README.md",)  # deploy/docker/.uv-cache's committed note


@dataclass(frozen=True)
class Lock:
    """What one image installs: the project whose uv.lock it syncs, and where its cache goes."""

    image: str
    project: str  # the directory holding the uv.lock, relative to the repository
    cache: str  # uv's cache in the image's build context, relative to the repository
    sync: tuple[str, ...] = ()  # what the Dockerfile's `uv sync --frozen --no-dev` adds


def service_lock(name: str) -> Lock:
    return Lock(name, f"services/{name}", f"services/{name}/.build/uv-cache")


INIT_LOCK = Lock("init", ".", INIT_CACHE_DIR, ("--package", "shared-events", "--extra", "kafka"))


def locks() -> list[Lock]:
    """Every image's lock: the three services' own, and the workspace's for the init job."""
    return [*(service_lock(name) for name in SERVICES), INIT_LOCK]


def _python311() -> str:
    for candidate in ("/usr/bin/python3.11", shutil.which("python3.11"), shutil.which("python3")):
        if candidate and Path(candidate).is_file():
            version = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 11))"],
                capture_output=True,
                text=True,
            ).stdout.strip()
            if version == "True":
                return candidate
    raise MissingToolError("no Python 3.11 on this machine: it fills uv's cache for the images")


def cache_key(lock_sha: str, lock: Lock) -> str:
    """What a filled cache was filled for: the images' uv, the lockfile, the sync."""
    return hashlib.sha256(repr((UV_VERSION, lock_sha, lock.sync)).encode()).hexdigest()


def prefill(context: Context, lock: Lock) -> str:
    """Fill `lock.cache` from PyPI on the host, for `uv sync --frozen --offline` in the image.

    The image copies that directory in and installs offline when its uv.lock.sha256 matches
    the lockfile beside it (inside a container, HTTPS to PyPI may not verify here). Filled
    with the very uv the images use, once per lockfile, with only that lockfile's packages."""
    project = context.repo_root / lock.project
    cache = context.repo_root / lock.cache
    lock_sha = hashlib.sha256((project / "uv.lock").read_bytes()).hexdigest()
    key = cache_key(lock_sha, lock)
    stamp = cache / STAMP
    if stamp.is_file() and stamp.read_text().strip() == key:
        return f"uv cache: {lock.image}: up to date for {lock.project}/uv.lock"
    begun = time.monotonic()
    uv = str(uv_binaries(context)[0])
    cache.mkdir(parents=True, exist_ok=True)
    for child in cache.iterdir():
        if child.name not in KEEP:
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    python = _python311()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "UV_CACHE_DIR": str(cache),
            "UV_PROJECT_ENVIRONMENT": str(Path(tmp) / "venv"),
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_LINK_MODE": "copy",
        }
        env.pop("VIRTUAL_ENV", None)
        # What the Dockerfile's two syncs install (the project itself built as a wheel, so its
        # build backend is cached too), from the same directory as the image's WORKDIR.
        argv = [uv, "sync", "--frozen", "--no-dev", "--no-editable", "--python", python]
        done = subprocess.run(
            [*argv, *lock.sync],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0:
            raise StackError(
                f"filling uv's cache for {lock.image} ({lock.project}/uv.lock) failed: "
                f"{done.stderr[-400:]}"
            )
    (cache / MARKER).write_text(f"{lock_sha}  uv.lock\n")
    stamp.write_text(f"{key}\n")
    size = sum(path.stat().st_size for path in cache.rglob("*") if path.is_file())
    took = time.monotonic() - begun
    return (
        f"uv cache: {lock.image}: filled for {lock.project}/uv.lock "
        f"({size / 1e6:.0f} MB) in {took:.0f} s"
    )
