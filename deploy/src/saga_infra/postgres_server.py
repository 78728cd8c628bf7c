"""A PostgreSQL server of our own: initdb once, pg_ctl start/stop, TCP on one address only."""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
from pathlib import Path

import psycopg

from saga_infra import processes
from saga_infra.errors import MissingToolError, StackError
from saga_infra.settings import Settings


def pid_file(settings: Settings) -> Path:
    return settings.run_dir / "postgres.pid"


def log_file(settings: Settings) -> Path:
    """Beside the other logs, or in the server's own directory when that had to move."""
    if settings.pg_dir.is_relative_to(settings.stack_dir):
        return settings.log_dir / "postgres.log"
    return settings.pg_dir / "postgres.log"


def running_pid(settings: Settings) -> int | None:
    """PID of this stack's postmaster, if it runs (its command line names our data dir)."""
    return processes.owned_pid(pid_file(settings), str(settings.pg_data_dir))


def binary(settings: Settings, name: str) -> str:
    path = Path(settings.pg_bin_dir, name)
    if not os.access(path, os.X_OK):
        raise MissingToolError(
            f"PostgreSQL server binary {name} not found in {settings.pg_bin_dir}; "
            "install postgresql (15) or set PG_BIN_DIR"
        )
    return str(path)


def check_binaries(settings: Settings) -> None:
    for name in ("initdb", "pg_ctl", "postgres", "psql"):
        binary(settings, name)
    _os_user(settings)


def _os_user(settings: Settings) -> pwd.struct_passwd | None:
    """The unprivileged account to run the server as when we are root (it refuses root)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(settings.pg_os_user)
    except KeyError:
        raise MissingToolError(
            f"running as root, PostgreSQL needs an unprivileged OS user; "
            f"{settings.pg_os_user!r} does not exist (set PG_OS_USER)"
        ) from None


def _as_server_user(settings: Settings, argv: list[str]) -> list[str]:
    user = _os_user(settings)
    if user is None:
        return argv
    if runuser := shutil.which("runuser"):
        return [runuser, "-u", user.pw_name, "--", *argv]
    if setpriv := shutil.which("setpriv"):
        ids = [f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups"]
        return [setpriv, *ids, *argv]
    raise MissingToolError("running as root needs runuser or setpriv (util-linux) to drop root")


def _give_to_server_user(settings: Settings, path: Path) -> None:
    user = _os_user(settings)
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)


def _run(settings: Settings, argv: list[str], log: Path, timeout: float) -> int:
    with log.open("a") as out:
        done = subprocess.run(
            _as_server_user(settings, argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=settings.pg_data_dir.parent,
            timeout=timeout,
        )
    return done.returncode


def init_cluster(settings: Settings) -> None:
    """initdb on first start: superuser with a password, scram auth for every connection."""
    data = settings.pg_data_dir
    if (data / "PG_VERSION").is_file():
        return
    shutil.rmtree(data, ignore_errors=True)
    data.parent.mkdir(parents=True, exist_ok=True)
    data.parent.chmod(0o700)
    _give_to_server_user(settings, data.parent)
    log = _server_log(settings)
    if _run(settings, ["test", "-w", str(data.parent)], log, 10) != 0:
        raise StackError(
            f"OS user {settings.pg_os_user} cannot write {data.parent}; "
            "choose a PG_DIR (or STACK_DIR) whose parent directories it can traverse"
        )
    pwfile = data.parent / ".pwfile"
    pwfile.write_text(settings.pg_superuser_password + "\n")
    pwfile.chmod(0o600)
    _give_to_server_user(settings, pwfile)
    argv = [binary(settings, "initdb"), "-D", str(data), "-U", settings.pg_superuser]
    argv += [f"--pwfile={pwfile}", "--auth=scram-sha-256", "--encoding=UTF8", "--no-locale"]
    try:
        code = _run(settings, argv, log, 120)
    finally:
        pwfile.unlink(missing_ok=True)
    if code != 0:
        raise StackError(f"initdb failed; see {log}")


def start(settings: Settings, timeout: float) -> int:
    """Start the postmaster (pg_ctl waits until it accepts connections) and record its PID."""
    init_cluster(settings)
    data = settings.pg_data_dir
    options = [
        f"--listen_addresses={settings.pg_host}",
        f"--port={settings.pg_port}",
        f"--unix_socket_directories={data}",
    ]
    if settings.pg_shared_preload_libraries:  # PG_SHARED_PRELOAD_LIBRARIES, e.g. the bench's
        options.append(f"--shared_preload_libraries={settings.pg_shared_preload_libraries}")
    argv = [binary(settings, "pg_ctl"), "start", "-D", str(data), "-l", str(_server_log(settings))]
    argv += ["-w", "-t", str(int(timeout)), "-o", shlex.join(options)]
    code = _run(settings, argv, log_file(settings), timeout + 15)
    pid = processes.read_pid(data / "postmaster.pid")
    if code != 0 or pid is None:
        raise StackError(f"PostgreSQL did not start; see {log_file(settings)}")
    processes.write_pid(pid_file(settings), pid)
    return pid


def accepts_connections(settings: Settings) -> bool:
    try:
        # `postgres` always exists; the saga database is created by db init afterwards.
        with psycopg.connect(settings.dsn(database="postgres"), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def wait_ready(settings: Settings, timeout: float) -> None:
    if not processes.wait_until(lambda: accepts_connections(settings), timeout, interval=0.3):
        raise StackError(
            f"PostgreSQL does not accept connections on {settings.pg_host}:{settings.pg_port} "
            f"within {timeout:.0f} s; see {log_file(settings)}"
        )


def stop(settings: Settings, mode: str = "fast") -> int | None:
    """`pg_ctl stop -m <mode>` for our postmaster; a signal by PID if pg_ctl fails.

    `immediate` is a crash as far as clients and WAL are concerned (failure tests).
    """
    pid = running_pid(settings)
    if pid is not None:
        argv = [binary(settings, "pg_ctl"), "stop", "-D", str(settings.pg_data_dir)]
        argv += ["-m", mode, "-w", "-t", "30"]
        try:
            code = _run(settings, argv, log_file(settings), 45)
        except (OSError, subprocess.SubprocessError, MissingToolError):
            code = 1
        if code != 0:
            processes.terminate(pid, str(settings.pg_data_dir), timeout=15.0)
    pid_file(settings).unlink(missing_ok=True)
    return pid


def _server_log(settings: Settings) -> Path:
    """The log file, created up front so the server user may append to it."""
    log = log_file(settings)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.touch()
    _give_to_server_user(settings, log)
    return log
