"""A Docker engine and the compose CLI for the compose path, found or started, never stolen.

An engine that answers is used as it is and never stopped by us: the one `DOCKER_HOST` names,
the default socket's, or a `dockerd` already running on this machine (its `--host`). Only when
none answers does the project start Debian's `dockerd` of its own, as root, with its own data
root, exec root, PID file and socket under `.local/docker` (`SAGA_DOCKER_DIR`); it is stopped
by that PID, and only by the command that started it (or `engine down`).

The compose CLI is the one `docker compose` already finds; when there is none, compose v5 is
built from its Go module (`COMPOSE_VERSION`) into `.local/cache/compose` and placed as a CLI
plugin in the project's own `DOCKER_CONFIG` (`.local/docker/config/cli-plugins`), so nothing
outside the checkout changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from saga_infra import processes
from saga_infra.errors import MissingToolError, StackError
from saga_infra.golang import find_go

Progress = Callable[[str], None]

COMPOSE_MODULE = "github.com/docker/compose/v5"
COMPOSE_VERSION = "v5.6.0"  # v5.7.x asks for a newer Go than this machine's
DEFAULT_SOCKET = Path("/var/run/docker.sock")
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 60.0
# Debian packages behind the compose path: the engine (dockerd, containerd, runc, docker CLI)
# and mmdebstrap for the stand-in images.
APT_PACKAGES = {"dockerd": "docker.io", "mmdebstrap": "mmdebstrap"}


@dataclass(frozen=True)
class Paths:
    """Where the project's own engine keeps its state (all under `root`)."""

    root: Path
    cache: Path  # compose builds, shared by every engine of the checkout

    @property
    def data_root(self) -> Path:
        return self.root / "data"

    @property
    def pid_file(self) -> Path:
        return self.root / "dockerd.pid"

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def log_file(self) -> Path:
        return self.root / "dockerd.log"

    @property
    def config_dir(self) -> Path:
        """The project's DOCKER_CONFIG: its cli-plugins hold the compose CLI built here."""
        return self.root / "config"

    @property
    def env_file(self) -> Path:
        return self.root / "env"

    @property
    def exec_root(self) -> Path:
        # containerd's sockets live here: a short path, unique per checkout.
        digest = hashlib.sha256(str(self.data_root).encode()).hexdigest()[:10]
        return Path(f"/run/saga-docker-{digest}")

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def compose_binary(self) -> Path:
        return self.cache / f"docker-compose-{COMPOSE_VERSION}"


def paths(repo_root: Path, environ: Mapping[str, str] | None = None) -> Paths:
    env = os.environ if environ is None else environ
    root = Path(env.get("SAGA_DOCKER_DIR") or repo_root / ".local/docker").resolve()
    return Paths(root=root, cache=(repo_root / ".local/cache/compose").resolve())


@dataclass
class Engine:
    """The engine the compose path talks to, and whether this process must stop it."""

    host: str
    origin: str  # said in the run's output: where it came from
    pid: int | None = None  # our dockerd, when the project runs it
    started: bool = False  # started by this process: stop it when done
    config_dir: Path | None = None  # DOCKER_CONFIG holding the compose plugin, if ours
    version: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """`base` (os.environ) pointed at this engine and its compose CLI."""
        env = dict(os.environ if base is None else base)
        env["DOCKER_HOST"] = self.host
        if self.config_dir is not None:
            env["DOCKER_CONFIG"] = str(self.config_dir)
        env.update(self.extra_env)
        return env

    def export_lines(self) -> list[str]:
        lines = [f"export DOCKER_HOST={self.host}"]
        if self.config_dir is not None:
            lines.append(f"export DOCKER_CONFIG={self.config_dir}")
        return lines


def docker_cli() -> str:
    docker = shutil.which("docker")
    if docker is None:
        raise MissingToolError(
            "docker CLI not found; `make docker-install` installs Debian's docker.io"
        )
    return docker


def buildx_available(env: Mapping[str, str]) -> bool:
    """True when the docker CLI has the buildx plugin (compose builds with BuildKit then)."""
    done = subprocess.run(
        [docker_cli(), "buildx", "version"], env=dict(env), capture_output=True, timeout=30
    )
    return done.returncode == 0


def server_version(host: str, timeout: float = 15.0) -> str | None:
    """The engine's version if one answers at `host` (a DOCKER_HOST value), else None."""
    env = {**os.environ, "DOCKER_HOST": host}
    env.pop("DOCKER_CONTEXT", None)
    try:
        done = subprocess.run(
            [docker_cli(), "version", "--format", "{{.Server.Version}}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None
    version = done.stdout.strip()
    return version if done.returncode == 0 and version else None


def dockerd_hosts(pid: int) -> list[str]:
    """The `--host` values of a running dockerd (its default socket when it names none)."""
    args = processes.cmdline(pid).split()
    hosts: list[str] = []
    for index, arg in enumerate(args):
        if arg in ("-H", "--host") and index + 1 < len(args):
            hosts.append(args[index + 1])
        elif arg.startswith("--host=") or arg.startswith("-H="):
            hosts.append(arg.split("=", 1)[1])
    return hosts or [f"unix://{DEFAULT_SOCKET}"]


def running_dockerds() -> list[int]:
    """PIDs of every live dockerd on this machine (its name in /proc/<pid>/comm)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            named = (entry / "comm").read_text().strip() == "dockerd"
        except OSError:
            continue
        if named and processes.is_alive(int(entry.name)):  # not a zombie left to its parent
            found.append(int(entry.name))
    return sorted(found)


def own_pid(where: Paths) -> int | None:
    """Our dockerd's PID, if it runs (its command line names our data root)."""
    return processes.owned_pid(where.pid_file, str(where.data_root))


def find(where: Paths, environ: Mapping[str, str] | None = None) -> Engine | None:
    """An engine that answers already: DOCKER_HOST, the default socket, ours, another dockerd."""
    env = os.environ if environ is None else environ
    if env.get("DOCKER_HOST"):
        host = env["DOCKER_HOST"]
        version = server_version(host)
        if version is None:
            raise StackError(f"DOCKER_HOST={host} does not answer; unset it to use another")
        return Engine(host=host, origin="DOCKER_HOST", version=version)
    if DEFAULT_SOCKET.exists():
        host = f"unix://{DEFAULT_SOCKET}"
        if version := server_version(host):
            return Engine(host=host, origin=f"the default socket {DEFAULT_SOCKET}", version=version)
    pid = own_pid(where)
    if pid is not None and (version := server_version(where.host)):
        return Engine(
            host=where.host,
            origin=f"the project's dockerd (pid {pid}, data root {where.data_root})",
            pid=pid,
            version=version,
        )
    for other in running_dockerds():
        if other == pid:
            continue
        for host in dockerd_hosts(other):
            if host.startswith("unix://") and (version := server_version(host)):
                return Engine(host=host, origin=f"a running dockerd (pid {other})", version=version)
        raise StackError(
            f"a dockerd (pid {other}) runs on this machine but none of its sockets answers; "
            "two engines would fight over the bridge and iptables: set DOCKER_HOST to it"
        )
    return None


def start(where: Paths, progress: Progress) -> Engine:
    """Start the project's own dockerd and wait until it answers."""
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise MissingToolError("dockerd not found; `make docker-install` installs docker.io")
    if os.geteuid() != 0:
        raise StackError("no Docker engine answers, and starting one needs root")
    for path in (where.data_root, where.exec_root):
        path.mkdir(parents=True, exist_ok=True)
    where.socket.unlink(missing_ok=True)
    where.pid_file.unlink(missing_ok=True)  # dockerd writes it, and refuses a live one
    argv = [
        dockerd,
        f"--data-root={where.data_root}",
        f"--exec-root={where.exec_root}",
        f"--pidfile={where.pid_file}",
        f"--host={where.host}",
        "--log-level=warn",
    ]
    begun = time.monotonic()
    spawned = processes.spawn_detached(argv, where.log_file, cwd=where.root)
    version: str | None = None

    def answers() -> bool:
        nonlocal version
        if not processes.is_alive(spawned):
            raise StackError(f"dockerd exited during startup; see {where.log_file}")
        version = server_version(where.host, timeout=5.0)
        return version is not None

    if not processes.wait_until(answers, START_TIMEOUT_S, interval=0.5):
        processes.terminate(spawned, str(where.data_root), timeout=20.0)
        raise StackError(
            f"dockerd did not answer within {START_TIMEOUT_S:.0f} s; see {where.log_file}"
        )
    pid = own_pid(where) or spawned
    progress(
        f"engine: started dockerd {version} (pid {pid}) in {time.monotonic() - begun:.1f} s: "
        f"data root {where.data_root}, socket {where.socket}, log {where.log_file}"
    )
    return Engine(
        host=where.host,
        origin=f"the project's dockerd (pid {pid}, started now)",
        pid=pid,
        started=True,
        version=version or "",
    )


def find_or_start(
    where: Paths, progress: Progress, environ: Mapping[str, str] | None = None
) -> Engine:
    engine = find(where, environ)
    if engine is None:
        engine = start(where, progress)
    else:
        progress(f"engine: Docker {engine.version} at {engine.host}, {engine.origin}")
    write_env_file(where, engine)
    return engine


def running_containers(engine: Engine) -> list[str]:
    done = subprocess.run(
        [docker_cli(), "ps", "--format", "{{.Names}}"],
        env=engine.env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.stdout.split() if done.returncode == 0 else []


def stop(where: Paths, progress: Progress, *, engine: Engine | None = None) -> bool:
    """Stop the project's dockerd by its PID; never an engine we did not start.

    Left running while containers run on it (someone else's work). True if it stopped."""
    pid = own_pid(where)
    if pid is None:
        where.pid_file.unlink(missing_ok=True)
        return False
    engine = engine or Engine(host=where.host, origin="ours", pid=pid)
    if others := running_containers(engine):
        progress(
            f"engine: left dockerd (pid {pid}) running: containers {', '.join(others)} run on it"
        )
        return False
    begun = time.monotonic()
    processes.terminate(pid, str(where.data_root), timeout=STOP_TIMEOUT_S)
    where.pid_file.unlink(missing_ok=True)
    where.socket.unlink(missing_ok=True)
    where.env_file.unlink(missing_ok=True)
    progress(f"engine: stopped dockerd (pid {pid}) in {time.monotonic() - begun:.1f} s")
    return True


def write_env_file(where: Paths, engine: Engine) -> None:
    where.root.mkdir(parents=True, exist_ok=True)
    where.env_file.write_text("".join(f"{line}\n" for line in engine.export_lines()))


# -- the compose CLI -----------------------------------------------------------------------


def compose_version(env: Mapping[str, str]) -> str | None:
    """`docker compose version --short` under `env`, or None when there is no compose CLI."""
    try:
        done = subprocess.run(
            [docker_cli(), "compose", "version", "--short"],
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (subprocess.TimeoutExpired, MissingToolError):
        return None
    version = done.stdout.strip()
    return version if done.returncode == 0 and version else None


def go_binary() -> str:
    go = find_go()
    if go is None:
        raise MissingToolError(f"go not found; it builds the compose CLI ({COMPOSE_MODULE})")
    return go


def build_compose(where: Paths, progress: Progress) -> Path:
    """Build compose from its Go module into the cache once (about 3 minutes cold)."""
    binary = where.compose_binary
    if binary.is_file():
        return binary
    go = go_binary()
    progress(f"compose: building {COMPOSE_MODULE}@{COMPOSE_VERSION} with {go} (first run)")
    begun = time.monotonic()
    env = {**os.environ, "GOWORK": "off", "GOFLAGS": "-mod=mod"}
    module = f"{COMPOSE_MODULE}@{COMPOSE_VERSION}"
    download = subprocess.run(
        [go, "mod", "download", "-json", module],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if download.returncode != 0:
        raise StackError(f"go mod download {module} failed: {download.stderr.strip()[-300:]}")
    source = Path(json.loads(download.stdout)["Dir"])
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_name(f"{binary.name}.partial")
    ldflags = f"-w -X {COMPOSE_MODULE}/internal.Version={COMPOSE_VERSION}"
    log = where.cache / "build.log"
    with log.open("w") as out:
        built = subprocess.run(
            [go, "build", "-trimpath", "-ldflags", ldflags, "-o", str(partial), "./cmd"],
            cwd=source,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=1800,
        )
    if built.returncode != 0:
        raise StackError(f"building the compose CLI failed; see {log}")
    partial.rename(binary)
    progress(f"compose: built {binary} in {time.monotonic() - begun:.0f} s")
    return binary


def ensure_compose(where: Paths, engine: Engine, progress: Progress) -> str:
    """The compose CLI `docker compose` finds, or ours, placed as the project's CLI plugin."""
    if version := compose_version(engine.env()):
        progress(f"compose: docker compose {version}")
        return version
    binary = build_compose(where, progress)
    plugins = where.config_dir / "cli-plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    target = plugins / "docker-compose"
    if not target.is_file() or target.read_bytes() != binary.read_bytes():
        shutil.copy2(binary, target)
    engine.config_dir = where.config_dir
    write_env_file(where, engine)
    version = compose_version(engine.env())
    if version is None:
        raise StackError(f"docker compose does not run from {target}")
    progress(f"compose: docker compose {version} (plugin in DOCKER_CONFIG={where.config_dir})")
    return version


# -- installing --------------------------------------------------------------------------


def missing_packages() -> list[str]:
    return [package for tool, package in APT_PACKAGES.items() if shutil.which(tool) is None]


def install_packages(progress: Progress) -> None:
    """apt-get install what is missing (root only), with no package starting a service."""
    missing = missing_packages()
    if not missing:
        return
    if os.geteuid() != 0:
        raise MissingToolError(f"missing {' '.join(missing)}; install them as root and rerun")
    progress(f"install: apt-get install {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # docker.io would start dockerd through invoke-rc.d: policy-rc.d's 101 says "not allowed".
    policy = Path("/usr/sbin/policy-rc.d")
    own_policy = not policy.exists()
    if own_policy:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, timeout=600)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
            env=env,
            check=True,
            timeout=1200,
            stdout=subprocess.DEVNULL,
        )
    finally:
        if own_policy:
            policy.unlink(missing_ok=True)
