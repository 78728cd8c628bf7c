"""A single-node Apache Kafka broker in KRaft mode (combined broker + controller) on the JDK."""

from __future__ import annotations

import base64
import hashlib
import re
import shlex
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from saga_infra import processes
from saga_infra.errors import MissingToolError, StackError
from saga_infra.settings import Settings

KAFKA_MAIN = "kafka.Kafka"
STORAGE_TOOL_MAIN = "kafka.tools.StorageTool"
_JVM_OPTS = (
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    # The local broker is short-lived and shares two cores with the services: C2 spent
    # ~15 CPU-s compiling in its first minutes under load, more than serving it. C1 only.
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
)
_LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


def pid_file(settings: Settings) -> Path:
    return settings.run_dir / "kafka.pid"


def log_file(settings: Settings) -> Path:
    return settings.log_dir / "kafka.log"


def config_file(settings: Settings) -> Path:
    return settings.kafka_dir / "server.properties"


def running_pid(settings: Settings) -> int | None:
    """PID of this stack's broker, if it runs (its command line names our config file)."""
    return processes.owned_pid(pid_file(settings), str(config_file(settings)))


def kafka_version(pom: Path) -> str:
    """The pinned broker version: `kafka.version` in deploy/local/kafka/pom.xml."""
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom.read_text())
    if not match:
        raise StackError(f"no <kafka.version> in {pom}")
    return match.group(1).strip()


def find_java(settings: Settings) -> str:
    java = shutil.which(settings.java)
    if java is None:
        raise MissingToolError(
            f"java not found ({settings.java!r}); install a JDK 17+ or set JAVA or JAVA_HOME"
        )
    return java


def jars_resolved(settings: Settings) -> bool:
    stamp = settings.kafka_libs_dir / ".resolved"
    return stamp.is_file() and stamp.read_text() == _pom_digest(settings)


def ensure_jars(settings: Settings, progress: Callable[[str], None]) -> None:
    """Copy the Kafka jars from Maven Central into the cache on first use (or a new pom)."""
    if jars_resolved(settings):
        return
    mvn = shutil.which(settings.mvn)
    if mvn is None:
        raise MissingToolError(
            f"mvn not found ({settings.mvn!r}); install Maven 3.8+ or set MVN "
            "(needed once to fetch the Kafka jars)"
        )
    libs = settings.kafka_libs_dir
    partial = libs.with_name(f"{libs.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    log = settings.log_dir / "mvn.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    version = kafka_version(settings.kafka_pom)
    progress(f"kafka: resolving Apache Kafka {version} jars with Maven into {libs} (first run)")
    argv = [mvn, "-B", "-q", "-Dstyle.color=never", "-f", str(settings.kafka_pom)]
    argv += ["dependency:copy-dependencies", f"-Dkafka.libs.dir={partial}"]
    try:
        with log.open("w") as out:
            done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=900)
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"mvn did not finish within 900 s; see {log}") from exc
    if done.returncode != 0 or not any(partial.glob("kafka_2.13-*.jar")):
        raise StackError(f"mvn could not resolve the Kafka jars; see {log}")
    shutil.rmtree(libs, ignore_errors=True)
    partial.rename(libs)
    (libs / ".resolved").write_text(_pom_digest(settings))


def write_config(settings: Settings) -> Path:
    """Write server.properties for this stack's ports and dirs (rewritten on every start)."""
    host, port = settings.kafka_host, settings.kafka_port
    controller = settings.kafka_controller_port
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{host}:{controller}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(settings.kafka_data_dir),
        "num.partitions": str(settings.topic_partitions),
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "auto.create.topics.enable": "false",
        "group.initial.rebalance.delay.ms": "0",
    }
    path = config_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{key}={value}\n" for key, value in props.items()))
    (settings.kafka_dir / "log4j2.properties").write_text(_LOG4J2)
    return path


def format_storage(settings: Settings, java: str) -> None:
    """Format the KRaft metadata log once; later starts reuse the data dir."""
    if (settings.kafka_data_dir / "meta.properties").is_file():
        return
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    argv = [java, *_classpath(settings), STORAGE_TOOL_MAIN, "format", "--ignore-formatted"]
    argv += ["-t", cluster_id, "-c", str(config_file(settings))]
    log = log_file(settings)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=120)
    if done.returncode != 0:
        raise StackError(f"formatting Kafka storage failed; see {log}")


def start(settings: Settings, java: str) -> int:
    """Spawn the broker detached and record its PID; readiness is `wait_ready`'s job."""
    config = write_config(settings)
    format_storage(settings, java)
    argv = [java, *shlex.split(settings.kafka_heap_opts), *_JVM_OPTS]
    argv += [f"-Dlog4j2.configurationFile={settings.kafka_dir / 'log4j2.properties'}"]
    argv += [f"-Dkafka.logs.dir={settings.log_dir}", *_classpath(settings), KAFKA_MAIN, str(config)]
    pid = processes.spawn_detached(argv, log_file(settings), cwd=settings.kafka_dir)
    processes.write_pid(pid_file(settings), pid)
    return pid


def answers_metadata(bootstrap: str, timeout: float = 3.0) -> bool:
    """True once the broker answers a metadata request."""
    host, _, port = bootstrap.rpartition(":")
    if not processes.port_open(host, int(port)):
        return False
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException:
        return False
    return True


def wait_ready(settings: Settings, pid: int, timeout: float) -> None:
    def ready() -> bool:
        if not processes.is_alive(pid):
            raise StackError(f"Kafka exited during startup; see {log_file(settings)}")
        return answers_metadata(settings.kafka_bootstrap)

    if not processes.wait_until(ready, timeout, interval=0.3):
        raise StackError(f"Kafka not ready within {timeout:.0f} s; see {log_file(settings)}")


def stop(settings: Settings) -> int | None:
    """Stop this stack's broker by its recorded PID; the PID it stopped, if any."""
    pid = running_pid(settings)
    if pid is not None:
        processes.terminate(pid, str(config_file(settings)), timeout=30.0)
    pid_file(settings).unlink(missing_ok=True)
    return pid


def kill(settings: Settings) -> int | None:
    """SIGKILL this stack's broker (a crash, for failure tests); the PID it killed, if any."""
    pid = running_pid(settings)
    if pid is not None:
        processes.kill(pid, str(config_file(settings)))
    return pid


def _classpath(settings: Settings) -> list[str]:
    return ["-cp", f"{settings.kafka_libs_dir}/*"]


def _pom_digest(settings: Settings) -> str:
    return hashlib.sha256(settings.kafka_pom.read_bytes()).hexdigest()
