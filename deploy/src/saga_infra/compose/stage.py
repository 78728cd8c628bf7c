"""The images' build contexts, staged before `docker compose build`.

A service's image is built from its own directory (docker-compose.yml's build contexts), as if
it were its own repository, plus what its `.build/` (gitignored) holds:

- `.build/contracts-index/`: the contracts wheel(s) its uv.lock names, copied from the
  repository's contracts index by the service's own Makefile (`make -C services/<name> stage`),
  the same step `make image` takes, so there is one staging and it needs nothing but the
  service's directory and the index;
- `.build/uv-cache/`: uv's download cache filled on the host from that service's lock
  (`uv_cache.prefill`), so the image installs offline where containers cannot reach PyPI.

The init job's image is built from the repository (the workspace's shared-events): only its
uv cache is staged (`deploy/docker/.uv-cache`, from the workspace's uv.lock).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from saga_infra.compose import uv_cache
from saga_infra.compose.images import Context
from saga_infra.errors import StackError

Progress = Callable[[str], None]

STAGE_TIMEOUT_S = 120


def stage_wheels(repo_root: Path, name: str) -> str:
    """`make -C services/<name> stage`: the wheels its uv.lock names into its .build/."""
    if name not in uv_cache.SERVICES:
        raise StackError(f"no service {name!r} (expected one of {', '.join(uv_cache.SERVICES)})")
    service = repo_root / "services" / name
    try:
        done = subprocess.run(
            ["make", "--no-print-directory", "-C", str(service), "stage"],
            capture_output=True,
            text=True,
            timeout=STAGE_TIMEOUT_S,
        )
    except FileNotFoundError as exc:
        raise StackError("make not found: it stages each service's build context") from exc
    if done.returncode != 0:
        raise StackError(
            f"make -C services/{name} stage exited {done.returncode}: "
            f"{(done.stderr or done.stdout).strip()[-400:]}"
        )
    return done.stdout.strip().splitlines()[-1]


def stage(
    context: Context,
    progress: Progress,
    services: Sequence[str] = uv_cache.SERVICES,
    *,
    init: bool = True,
) -> None:
    """Each service's context (its wheels, then uv's cache from its lock), and the init job's."""
    for name in services:
        progress(stage_wheels(context.repo_root, name))
        progress(uv_cache.prefill(context, uv_cache.service_lock(name)))
    if init:
        progress(uv_cache.prefill(context, uv_cache.INIT_LOCK))
