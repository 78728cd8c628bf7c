"""PID files, detached daemons, port checks: signals only ever go to PIDs we recorded."""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def write_pid(pid_file: Path, pid: int) -> None:
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{pid}\n")


def is_alive(pid: int) -> bool:
    """True if the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state letter follows the parenthesised command name, which may contain spaces.
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def cmdline_argv(pid: int) -> list[str]:
    """The process's argv, each argument whole (empty when it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0")[:-1]]


def owned_pid(pid_file: Path, marker: str) -> int | None:
    """The PID in `pid_file` if that process is alive and its command line contains `marker`."""
    pid = read_pid(pid_file)
    if pid is None or not is_alive(pid) or marker not in cmdline(pid):
        return None
    return pid


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def terminate(pid: int, marker: str, timeout: float = 30.0) -> None:
    """SIGTERM our process, then SIGKILL it if it is still there after `timeout` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not is_alive(pid) or marker not in cmdline(pid):
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        if wait_until(lambda: not is_alive(pid), timeout if sig == signal.SIGTERM else 10.0):
            return


def kill(pid: int, marker: str, timeout: float = 10.0) -> bool:
    """SIGKILL our process (a crash, no shutdown hooks) and wait until it is gone."""
    if not is_alive(pid) or marker not in cmdline(pid):
        return False
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    _reap(pid)
    return wait_until(lambda: not is_alive(pid), timeout, interval=0.05)


def _reap(pid: int) -> None:
    # Only our own children can become zombies; anyone else's is not ours to wait for.
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def port_in_use(host: str, port: int) -> bool:
    """True if something listens on host:port (binding the way servers do fails)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno in (errno.EADDRINUSE, errno.EACCES)
    return False


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def spawn_detached(
    argv: Sequence[str], log_file: Path, cwd: Path, env: Mapping[str, str] | None = None
) -> int:
    """Start `argv` in its own session, outliving us, output appended to `log_file`; its PID."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    # sh backgrounds the daemon and exits at once, so it is not our child and never a zombie.
    script = 'log=$1; shift; exec "$@" >>"$log" 2>&1 </dev/null & echo $!'
    result = subprocess.run(
        ["/bin/sh", "-c", script, "sh", str(log_file), *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        start_new_session=True,
    )
    return int(result.stdout.strip())


@contextmanager
def stack_lock(run_dir: Path) -> Iterator[None]:
    """Serialise up/down of one stack between concurrent callers (CLI, pytest sessions)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "stack.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
