"""uv's download cache for the images (deploy/docker/.uv-cache), filled on the host: inside a
container HTTPS to PyPI may not verify here, so the Dockerfiles install offline from it."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from saga_infra.compose.images import Context, uv_binaries
from saga_infra.compose.recipes import UV_VERSION
from saga_infra.errors import MissingToolError, StackError

UV_CACHE_DIR = "deploy/docker/.uv-cache"
# What the images install: each service, and the init job's shared-events[kafka].
UV_SYNCS = (
    ("--package", "order-service"),
    ("--package", "payment-service"),
    ("--package", "inventory-service"),
    ("--package", "shared-events", "--extra", "kafka"),
)


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


def prefill(context: Context) -> str:
    """Fill deploy/docker/.uv-cache from PyPI on the host, for `uv sync --frozen --offline`.

    The images copy that directory in and install offline when its uv.lock.sha256 matches the
    lockfile (inside a container, HTTPS to PyPI may not verify here). Filled with the very uv
    the images use, once per lockfile."""
    cache = context.repo_root / UV_CACHE_DIR
    lock = (context.repo_root / "uv.lock").read_bytes()
    lock_sha = hashlib.sha256(lock).hexdigest()
    key = hashlib.sha256(repr((UV_VERSION, lock_sha, UV_SYNCS)).encode()).hexdigest()
    stamp = cache / ".prefilled"
    if stamp.is_file() and stamp.read_text().strip() == key:
        return "uv cache: up to date for this uv.lock"
    begun = time.monotonic()
    uv = str(uv_binaries(context)[0])
    for child in cache.iterdir() if cache.is_dir() else []:
        if child.name != "README.md":
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
        for sync in UV_SYNCS:
            done = subprocess.run(
                [uv, "sync", "--frozen", "--no-dev", "--no-editable", "--python", python, *sync],
                cwd=context.repo_root,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
            )
            if done.returncode != 0:
                raise StackError(
                    f"filling uv's cache ({' '.join(sync)}) failed: {done.stderr[-400:]}"
                )
    (cache / "uv.lock.sha256").write_text(f"{lock_sha}  uv.lock\n")
    stamp.write_text(f"{key}\n")
    size = sum(path.stat().st_size for path in cache.rglob("*") if path.is_file())
    took = time.monotonic() - begun
    return f"uv cache: filled for this uv.lock ({size / 1e6:.0f} MB) in {took:.0f} s"
