"""Settings of the local stack, read from environment variables so stacks can run side by side."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pwd
import shlex
import shutil
import stat
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from saga_infra.errors import BadSettingError

SERVICE_ROLES = ("order_service", "payment_service", "inventory_service")
_ROLE_PASSWORD_VARS = {
    "order_service": "ORDER_DB_PASSWORD",
    "payment_service": "PAYMENT_DB_PASSWORD",
    "inventory_service": "INVENTORY_DB_PASSWORD",
}
DEFAULT_PG_BIN_DIR = "/usr/lib/postgresql/15/bin"
JAEGER_VERSION = "v1.76.0"  # must match deploy/local/jaeger/go.mod


def find_repo_root(start: Path | None = None) -> Path:
    """The workspace root: the nearest directory holding `uv.lock`, from this module or cwd."""
    for origin in (start or Path(__file__).resolve(), Path.cwd()):
        for candidate in (origin, *origin.parents):
            if (candidate / "uv.lock").is_file():
                return candidate
    return Path.cwd()


@dataclass(frozen=True)
class Settings:
    """Effective configuration of one local stack."""

    repo_root: Path
    stack_dir: Path
    kafka_libs_dir: Path
    kafka_host: str
    kafka_port: int
    kafka_controller_port: int
    kafka_brokers: int
    kafka_heap_opts: str
    java: str
    mvn: str
    topic_partitions: int
    pg_host: str
    pg_port: int
    pg_database: str
    pg_superuser: str
    pg_superuser_password: str
    pg_bin_dir: str
    pg_os_user: str
    pg_dir: Path
    role_passwords: tuple[tuple[str, str], ...]
    start_timeout: float
    # SCRAM-SHA-512 users (name, password) of a SASL_PLAINTEXT client listener instead of
    # PLAINTEXT, the first being the brokers' own; set in code (a test of SASL clients), never
    # from the environment: the rest of the stack (topics, services) speaks PLAINTEXT.
    kafka_scram_users: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    # e.g. `pg_stat_statements` (the bench's stack); empty: the server's own default.
    pg_shared_preload_libraries: str = ""
    # Jaeger (traces): JAEGER=0 leaves it out, e.g. in stacks that run beside `make dev`'s.
    jaeger: bool = False
    jaeger_bin: Path = Path("jaeger")
    jaeger_host: str = "127.0.0.1"
    jaeger_ui_port: int = 16686
    jaeger_otlp_grpc_port: int = 4317
    jaeger_otlp_http_port: int = 4318
    jaeger_health_port: int = 13133
    # Prometheus (metrics, alert rules): PROMETHEUS=0 leaves it out, like JAEGER=0.
    prometheus: bool = False
    prometheus_bin: str = "prometheus"
    promtool_bin: str = "promtool"
    prometheus_host: str = "127.0.0.1"
    prometheus_port: int = 9090
    prometheus_scrape_interval: str = "5s"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        root = find_repo_root()
        java_home = env.get("JAVA_HOME")
        default_java = shutil.which("java") or (f"{java_home}/bin/java" if java_home else "java")
        stack_dir = Path(env.get("STACK_DIR") or root / ".local").resolve()
        return cls(
            repo_root=root,
            stack_dir=stack_dir,
            kafka_libs_dir=Path(env.get("KAFKA_LIBS_DIR") or stack_dir / "kafka/libs").resolve(),
            kafka_host=env.get("KAFKA_HOST", "127.0.0.1"),
            kafka_port=int(env.get("KAFKA_PORT", "9092")),
            kafka_controller_port=int(env.get("KAFKA_CONTROLLER_PORT", "9093")),
            kafka_brokers=_brokers(env.get("KAFKA_BROKERS", "1")),
            kafka_heap_opts=env.get("KAFKA_HEAP_OPTS", "-Xms256m -Xmx512m"),
            java=env.get("JAVA") or default_java,
            mvn=env.get("MVN", "mvn"),
            topic_partitions=int(env.get("TOPIC_PARTITIONS", "6")),
            pg_host=env.get("PG_HOST", "127.0.0.1"),
            pg_port=int(env.get("PG_PORT", "5432")),
            pg_database=env.get("PG_DATABASE", "saga"),
            pg_superuser=env.get("PG_SUPERUSER", "postgres"),
            pg_superuser_password=env.get("PG_SUPERUSER_PASSWORD", "postgres"),
            pg_bin_dir=env.get("PG_BIN_DIR") or _pg_bin_dir_default(),
            pg_os_user=env.get("PG_OS_USER", "postgres"),
            pg_dir=Path(
                env.get("PG_DIR") or _default_pg_dir(stack_dir, env.get("PG_OS_USER", "postgres"))
            ).resolve(),
            role_passwords=tuple(
                (role, env.get(var, role)) for role, var in _ROLE_PASSWORD_VARS.items()
            ),
            start_timeout=float(env.get("STACK_START_TIMEOUT", "60")),
            pg_shared_preload_libraries=env.get("PG_SHARED_PRELOAD_LIBRARIES", "").strip(),
            jaeger=_flag(env.get("JAEGER", "1")),
            jaeger_bin=Path(
                env.get("JAEGER_BIN") or root / ".local/cache/jaeger" / f"jaeger-{JAEGER_VERSION}"
            ).resolve(),
            jaeger_host=env.get("JAEGER_HOST", "127.0.0.1"),
            jaeger_ui_port=int(env.get("JAEGER_UI_PORT", "16686")),
            jaeger_otlp_grpc_port=int(env.get("JAEGER_OTLP_GRPC_PORT", "4317")),
            jaeger_otlp_http_port=int(env.get("JAEGER_OTLP_HTTP_PORT", "4318")),
            jaeger_health_port=int(env.get("JAEGER_HEALTH_PORT", "13133")),
            prometheus=_flag(env.get("PROMETHEUS", "1")),
            prometheus_bin=env.get("PROMETHEUS_BIN") or "prometheus",
            promtool_bin=env.get("PROMTOOL_BIN") or "promtool",
            prometheus_host=env.get("PROMETHEUS_HOST", "127.0.0.1"),
            prometheus_port=int(env.get("PROMETHEUS_PORT", "9090")),
            prometheus_scrape_interval=env.get("PROMETHEUS_SCRAPE_INTERVAL", "5s").strip(),
        )

    @property
    def jaeger_dir(self) -> Path:
        return self.stack_dir / "jaeger"

    @property
    def jaeger_module(self) -> Path:
        """The Go module that pins Jaeger (`go build` resolves it through the Go proxy)."""
        return self.repo_root / "deploy" / "local" / "jaeger"

    @property
    def otlp_endpoint(self) -> str:
        """Where the services export traces (OTLP over HTTP) when Jaeger runs."""
        return f"http://{self.jaeger_host}:{self.jaeger_otlp_http_port}"

    @property
    def jaeger_url(self) -> str:
        return f"http://{self.jaeger_host}:{self.jaeger_ui_port}"

    @property
    def prometheus_dir(self) -> Path:
        """Its generated config, targets (file_sd) and TSDB data."""
        return self.stack_dir / "prometheus"

    @property
    def prometheus_rules(self) -> Path:
        """The committed alert rules Prometheus loads (and `make alerts-check` tests)."""
        return self.repo_root / "deploy" / "local" / "prometheus" / "alerts.yml"

    @property
    def prometheus_url(self) -> str:
        return f"http://{self.prometheus_host}:{self.prometheus_port}"

    @property
    def kafka_bootstrap(self) -> str:
        """Every node's client address (node n on KAFKA_PORT + 2(n-1))."""
        ports = (self.kafka_port + 2 * n for n in range(self.kafka_brokers))
        return ",".join(f"{self.kafka_host}:{port}" for port in ports)

    @property
    def kafka_replication(self) -> int:
        """Replication factor of the saga's topics: 3 on a cluster of 3 or more, else 1."""
        return 3 if self.kafka_brokers >= 3 else 1

    @property
    def kafka_dir(self) -> Path:
        return self.stack_dir / "kafka"

    @property
    def kafka_data_dir(self) -> Path:
        return self.kafka_dir / "data"

    @property
    def pg_data_dir(self) -> Path:
        return self.pg_dir / "data"

    @property
    def run_dir(self) -> Path:
        return self.stack_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.stack_dir / "log"

    @property
    def kafka_pom(self) -> Path:
        return self.repo_root / "deploy" / "local" / "kafka" / "pom.xml"

    @property
    def init_script(self) -> Path:
        return self.repo_root / "deploy" / "sql" / "init.sh"

    def for_tests(self, environ: Mapping[str, str] | None = None) -> Settings:
        """The same stack, with the database the tests own (`TEST_PG_DATABASE`, else
        `<PG_DATABASE>_test`) instead of the system's, so tests never touch its data."""
        env = os.environ if environ is None else environ
        database = env.get("TEST_PG_DATABASE") or f"{self.pg_database}_test"
        return dataclasses.replace(self, pg_database=database)

    def role_password(self, role: str) -> str:
        return dict(self.role_passwords).get(role, role)

    def dsn(
        self, role: str | None = None, password: str | None = None, database: str | None = None
    ) -> str:
        """A libpq/psycopg URL for the superuser, or for a service role."""
        user = role or self.pg_superuser
        if password is None:
            password = self.role_password(role) if role else self.pg_superuser_password
        return (
            f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
            f"@{self.pg_host}:{self.pg_port}/{quote(database or self.pg_database, safe='')}"
        )

    def export_lines(self) -> list[str]:
        """Shell `export` lines of the effective settings, for `eval "$(... env)"`."""
        values = {
            "STACK_DIR": str(self.stack_dir),
            "KAFKA_LIBS_DIR": str(self.kafka_libs_dir),
            "KAFKA_HOST": self.kafka_host,
            "KAFKA_PORT": str(self.kafka_port),
            "KAFKA_CONTROLLER_PORT": str(self.kafka_controller_port),
            "KAFKA_BROKERS": str(self.kafka_brokers),
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
            "TOPIC_PARTITIONS": str(self.topic_partitions),
            "PG_DIR": str(self.pg_dir),
            "PG_HOST": self.pg_host,
            "PG_PORT": str(self.pg_port),
            "PG_DATABASE": self.pg_database,
            "PG_SUPERUSER": self.pg_superuser,
            "PG_SUPERUSER_PASSWORD": self.pg_superuser_password,
            "PG_DSN": self.dsn(),
            **{var: self.role_password(role) for role, var in _ROLE_PASSWORD_VARS.items()},
        }
        return [f"export {key}={shlex.quote(value)}" for key, value in values.items()]


def _brokers(value: str) -> int:
    """KAFKA_BROKERS: 1 (one node) or 3 (a cluster: replication factor 3, min.insync 2)."""
    if value.strip() not in ("1", "3"):
        raise BadSettingError(f"KAFKA_BROKERS={value!r}: give 1 or 3")
    return int(value)


def _flag(value: str) -> bool:
    """An on/off variable (JAEGER, PROMETHEUS): 0, false, no and off are off."""
    return value.strip().lower() not in ("0", "false", "no", "off")


def _pg_bin_dir_default() -> str:
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        # libpq-dev's pg_config reports /usr/bin, which has no initdb: fall through then.
        if out and Path(out, "initdb").exists():
            return out
    return DEFAULT_PG_BIN_DIR


def _default_pg_dir(stack_dir: Path, os_user: str) -> Path:
    """`<STACK_DIR>/postgres`, unless root runs the server as a user who cannot reach it.

    A checkout under a private home (0700 /root) is common; PostgreSQL refuses to run as
    root, and its user could not get in, so its directory moves to /var/tmp (kept across
    runs, one per stack).
    """
    default = stack_dir / "postgres"
    if os.geteuid() != 0 or _traversable_by(os_user, stack_dir):
        return default
    digest = hashlib.sha256(str(stack_dir).encode()).hexdigest()[:12]
    return Path("/var/tmp") / f"saga-postgres-{digest}"


def _traversable_by(user: str, path: Path) -> bool:
    """Whether `user` may pass through every existing directory on the way to `path`."""
    try:
        account = pwd.getpwnam(user)
    except KeyError:
        return True  # postgres_server reports the missing user with a clear message
    groups = {account.pw_gid, *os.getgrouplist(user, account.pw_gid)}
    for directory in (path, *path.parents):
        try:
            info = directory.stat()
        except FileNotFoundError:
            continue
        if info.st_uid == account.pw_uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid in groups:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            return False
    return True
