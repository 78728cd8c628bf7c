"""Apache Kafka in KRaft mode on the JDK: one node, or a cluster of `KAFKA_BROKERS` nodes.

Every node runs both roles (combined broker + controller): node n listens on
`KAFKA_PORT + 2(n-1)` for clients and `KAFKA_CONTROLLER_PORT + 2(n-1)` for the quorum, so
the defaults give 9092/9093, 9094/9095, 9096/9097. A single node keeps its files where they
always were (`$STACK_DIR/kafka/{server.properties,data}`, `run/kafka.pid`); node n of a
cluster has `kafka/node-n/`, `run/kafka-n.pid` and `log/kafka-n.log`. With three nodes,
topics get replication factor 3 and `min.insync.replicas=2`: one broker can be down.

With `kafka_scram_users` the client listener is SASL_PLAINTEXT with SCRAM-SHA-512 instead (the
users' credentials written into the metadata log when the storage is formatted; the first user
is the brokers' own, between themselves); the controller listener stays PLAINTEXT.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shlex
import shutil
import subprocess
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from saga_infra import processes
from saga_infra.errors import BadSettingError, MissingToolError, StackError
from saga_infra.settings import Settings

KAFKA_MAIN = "kafka.Kafka"
SCRAM_MECHANISM = "SCRAM-SHA-512"
_SCRAM_TEXT = re.compile(r"[A-Za-z0-9._-]+")  # no quoting needed in JAAS nor in --add-scram
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


def nodes(settings: Settings) -> list[int]:
    """The node ids of this stack's Kafka: [1], or [1, 2, 3] with KAFKA_BROKERS=3."""
    return list(range(1, settings.kafka_brokers + 1))


def _clustered(settings: Settings) -> bool:
    return settings.kafka_brokers > 1


def broker_port(settings: Settings, node: int = 1) -> int:
    return settings.kafka_port + 2 * (node - 1)


def controller_port(settings: Settings, node: int = 1) -> int:
    return settings.kafka_controller_port + 2 * (node - 1)


def node_dir(settings: Settings, node: int = 1) -> Path:
    return settings.kafka_dir / f"node-{node}" if _clustered(settings) else settings.kafka_dir


def data_dir(settings: Settings, node: int = 1) -> Path:
    return node_dir(settings, node) / "data" if _clustered(settings) else settings.kafka_data_dir


def pid_file(settings: Settings, node: int = 1) -> Path:
    name = f"kafka-{node}.pid" if _clustered(settings) else "kafka.pid"
    return settings.run_dir / name


def log_file(settings: Settings, node: int = 1) -> Path:
    name = f"kafka-{node}.log" if _clustered(settings) else "kafka.log"
    return settings.log_dir / name


def config_file(settings: Settings, node: int = 1) -> Path:
    return node_dir(settings, node) / "server.properties"


def running_pid(settings: Settings, node: int = 1) -> int | None:
    """PID of a node of this stack's Kafka, if it runs (its command line names its config)."""
    return processes.owned_pid(pid_file(settings, node), str(config_file(settings, node)))


def running_pids(settings: Settings) -> dict[int, int | None]:
    """Every node's PID (None: not running)."""
    return {node: running_pid(settings, node) for node in nodes(settings)}


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


def scram_users(settings: Settings) -> tuple[tuple[str, str], ...]:
    """The SCRAM users of a SASL listener (none: PLAINTEXT), refused unless plain words."""
    for name, password in settings.kafka_scram_users:
        if not (_SCRAM_TEXT.fullmatch(name) and _SCRAM_TEXT.fullmatch(password)):
            raise BadSettingError(
                f"SCRAM user {name!r}: names and passwords are letters, digits, '.', '_', '-'"
            )
    return settings.kafka_scram_users


def client_config(settings: Settings, node: int | None = None) -> dict[str, str]:
    """librdkafka settings reaching this stack's Kafka (one node), as the brokers' own user."""
    where = settings.kafka_bootstrap
    if node is not None:
        where = f"{settings.kafka_host}:{broker_port(settings, node)}"
    config = {"bootstrap.servers": where}
    users = scram_users(settings)
    if users:
        name, password = users[0]
        config |= {
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": SCRAM_MECHANISM,
            "sasl.username": name,
            "sasl.password": password,
        }
    return config


def _listener_props(settings: Settings, port: int, controller: int) -> dict[str, str]:
    host = settings.kafka_host
    users = scram_users(settings)
    name = "SASL_PLAINTEXT" if users else "PLAINTEXT"
    props = {
        "listeners": f"{name}://{host}:{port},CONTROLLER://{host}:{controller}",
        "advertised.listeners": f"{name}://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": name,
        "listener.security.protocol.map": f"CONTROLLER:PLAINTEXT,{name}:{name}",
    }
    if users:
        broker, password = users[0]
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{broker}" password="{password}";'
        )
        props |= {
            "sasl.enabled.mechanisms": SCRAM_MECHANISM,
            "sasl.mechanism.inter.broker.protocol": SCRAM_MECHANISM,
            f"listener.name.sasl_plaintext.{SCRAM_MECHANISM.lower()}.sasl.jaas.config": jaas,
        }
    return props


def write_config(settings: Settings, node: int = 1) -> Path:
    """Write a node's server.properties for this stack's ports and dirs (at every start)."""
    host = settings.kafka_host
    port, controller = broker_port(settings, node), controller_port(settings, node)
    replicas = settings.kafka_replication
    in_sync = str(min(2, replicas))
    voters = ",".join(f"{n}@{host}:{controller_port(settings, n)}" for n in nodes(settings))
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node),
        "controller.quorum.voters": voters,
        **_listener_props(settings, port, controller),
        "log.dirs": str(data_dir(settings, node)),
        "num.partitions": str(settings.topic_partitions),
        "default.replication.factor": str(replicas),
        "min.insync.replicas": in_sync,
        "offsets.topic.replication.factor": str(replicas),
        "transaction.state.log.replication.factor": str(replicas),
        "transaction.state.log.min.isr": in_sync,
        "share.coordinator.state.topic.replication.factor": str(replicas),
        "share.coordinator.state.topic.min.isr": in_sync,
        "auto.create.topics.enable": "false",
        "group.initial.rebalance.delay.ms": "0",
    }
    if _clustered(settings):
        # A crashed node is fenced (its partitions' leadership and the group coordinators it
        # held move) once the controller misses its heartbeats this long: 3 s, not Kafka's 9 s,
        # which stalled every relay batch touching its partitions for that long (chaos-brokers).
        props |= {"broker.session.timeout.ms": "3000", "broker.heartbeat.interval.ms": "750"}
    path = config_file(settings, node)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{key}={value}\n" for key, value in props.items()))
    (node_dir(settings, node) / "log4j2.properties").write_text(_LOG4J2)
    return path


def cluster_id(settings: Settings) -> str:
    """The KRaft cluster id every node is formatted with (made once, kept in the stack)."""
    stamp = settings.kafka_dir / "cluster.id"
    if stamp.is_file():
        return stamp.read_text().strip()
    made = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(made + "\n")
    return made


def format_storage(settings: Settings, java: str, node: int = 1) -> None:
    """Format a node's KRaft metadata log once; later starts reuse its data dir."""
    if (data_dir(settings, node) / "meta.properties").is_file():
        return
    argv = [java, *_classpath(settings), STORAGE_TOOL_MAIN, "format", "--ignore-formatted"]
    argv += ["-t", cluster_id(settings), "-c", str(config_file(settings, node))]
    for name, password in scram_users(settings):
        argv += ["--add-scram", f"{SCRAM_MECHANISM}=[name={name},password={password}]"]
    log = log_file(settings, node)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=120)
    if done.returncode != 0:
        raise StackError(f"formatting Kafka storage failed; see {log}")


def start(settings: Settings, java: str, node: int = 1) -> int:
    """Spawn one node detached and record its PID; readiness is `wait_ready`'s job."""
    config = write_config(settings, node)
    format_storage(settings, java, node)
    where = node_dir(settings, node)
    argv = [java, *shlex.split(settings.kafka_heap_opts), *_JVM_OPTS]
    argv += [f"-Dlog4j2.configurationFile={where / 'log4j2.properties'}"]
    argv += [f"-Dkafka.logs.dir={settings.log_dir}", *_classpath(settings), KAFKA_MAIN, str(config)]
    pid = processes.spawn_detached(argv, log_file(settings, node), cwd=where)
    processes.write_pid(pid_file(settings, node), pid)
    return pid


def start_missing(settings: Settings, java: str) -> dict[int, int]:
    """Start every node that is not running; the PIDs of those it started."""
    return {
        node: start(settings, java, node)
        for node, pid in running_pids(settings).items()
        if pid is None
    }


def answers_metadata(
    bootstrap: str, timeout: float = 3.0, config: Mapping[str, str] | None = None
) -> bool:
    """True once the broker answers a metadata request (`config`: e.g. its SASL settings)."""
    addresses = [address.rpartition(":") for address in bootstrap.split(",")]
    if not any(processes.port_open(host, int(port)) for host, _, port in addresses):
        return False
    admin = AdminClient({**(config or {}), "bootstrap.servers": bootstrap, "log_level": 0})
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException:
        return False
    return True


def wait_ready(settings: Settings, pid: int, timeout: float, node: int = 1) -> None:
    """Wait until a node answers metadata requests on its own port."""
    log = log_file(settings, node)

    def ready() -> bool:
        if not processes.is_alive(pid):
            raise StackError(f"Kafka exited during startup; see {log}")
        config = client_config(settings, node)
        return answers_metadata(config["bootstrap.servers"], config=config)

    if not processes.wait_until(ready, timeout, interval=0.3):
        raise StackError(f"Kafka not ready within {timeout:.0f} s; see {log}")


def stop(settings: Settings) -> int | None:
    """Stop every node by its recorded PID; the PID of the first it stopped, if any."""
    running = {node: pid for node, pid in running_pids(settings).items() if pid is not None}
    # All at once: a node stopped last, after the quorum is gone, would wait for it in vain.
    with ThreadPoolExecutor(max(1, len(running))) as pool:
        for node, pid in running.items():
            pool.submit(processes.terminate, pid, str(config_file(settings, node)), 30.0)
    for node in nodes(settings):
        pid_file(settings, node).unlink(missing_ok=True)
    return next(iter(running.values()), None)


def kill(settings: Settings, node: int = 1) -> int | None:
    """SIGKILL one node (a crash, for failure tests); the PID it killed, if any."""
    pid = running_pid(settings, node)
    if pid is not None:
        processes.kill(pid, str(config_file(settings, node)))
    return pid


def _classpath(settings: Settings) -> list[str]:
    return ["-cp", f"{settings.kafka_libs_dir}/*"]


def _pom_digest(settings: Settings) -> str:
    return hashlib.sha256(settings.kafka_pom.read_bytes()).hexdigest()
