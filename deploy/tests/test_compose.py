"""Checks of docker-compose.yml: the real compose CLI validates and resolves it
(`docker compose config`), and the YAML itself is held to what the project needs.

`make compose-e2e` runs it on a real engine; these tests need none."""

import base64
import fcntl
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from saga_infra import containers
from saga_infra.compose import recipes
from saga_infra.settings import DEFAULT_PG_BIN_DIR, JAEGER_VERSION

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = [
    "deploy/init.Dockerfile",
    "services/order/Dockerfile",
    "services/payment/Dockerfile",
    "services/inventory/Dockerfile",
]
APP_PORTS = {"order": 8001, "payment": 8002, "inventory": 8003}
OBSERVABILITY = {"jaeger", "prometheus", "grafana"}
# Written by the local stack's Prometheus work; compose mounts it, its own test checks it.
ALERT_RULES = "./deploy/local/prometheus/alerts.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose["services"]
    return services


_VARIABLE = re.compile(r"^\$\{([A-Z][A-Z0-9_]*):-([^}]+)\}$")


def _default(value: str) -> tuple[str, str]:
    """(variable, default) of a `${VARIABLE:-default}` value."""
    match = _VARIABLE.match(value)
    assert match is not None, value
    return match.group(1), match.group(2)


def _image(compose: dict[str, Any], name: str) -> str:
    """The image a service runs when its variable is not set."""
    return _default(_services(compose)[name]["image"])[1]


def test_compose_declares_infra_init_and_the_three_services(compose: dict[str, Any]) -> None:
    migrations = {f"{name}-migrate" for name in APP_PORTS}
    assert set(_services(compose)) == {
        "kafka",
        "postgres",
        "init",
        *migrations,
        *APP_PORTS,
        *OBSERVABILITY,
    }


def test_kafka_is_a_single_kraft_node_without_topic_auto_creation(
    compose: dict[str, Any],
) -> None:
    kafka = _services(compose)["kafka"]
    assert _image(compose, "kafka").startswith("apache/kafka:")
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "kafka-broker-api-versions.sh" in " ".join(kafka["healthcheck"]["test"])


def test_postgres_has_a_readiness_healthcheck(compose: dict[str, Any]) -> None:
    postgres = _services(compose)["postgres"]
    assert _image(compose, "postgres").startswith("postgres:")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


def test_init_job_runs_the_shared_sql_init_and_topic_creation(compose: dict[str, Any]) -> None:
    init = _services(compose)["init"]
    dockerfile = ROOT / init["build"]["dockerfile"]
    text = dockerfile.read_text()
    assert "deploy/sql/init.sh" in text
    assert "shared_events.kafka.provisioning" in text
    assert (ROOT / "deploy/sql/init.sh").is_file()
    assert init["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "kafka": {"condition": "service_healthy"},
    }
    for service in APP_PORTS:
        assert f"{service.upper()}_DB_PASSWORD" in init["environment"]


@pytest.mark.parametrize(("name", "port"), sorted(APP_PORTS.items()))
def test_service_is_built_from_its_own_dockerfile_and_waits_for_its_dependencies(
    compose: dict[str, Any], name: str, port: int
) -> None:
    service = _services(compose)[name]
    # Its own directory is the build context (as if it were its own repository), with the
    # contracts wheels staged into it; never the repository.
    assert service["build"]["context"] == f"services/{name}"
    assert service["build"]["dockerfile"] == "Dockerfile"
    assert service["build"]["args"] == _services(compose)["init"]["build"]["args"]
    assert service["image"] == f"${{COMPOSE_PROJECT_NAME:-saga}}-{name}"
    assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
    assert (ROOT / service["build"]["context"] / ".dockerignore").is_file()
    assert service["ports"] == [f"127.0.0.1:${{{name.upper()}_HTTP_PORT:-{port}}}:{port}"]
    assert service["depends_on"] == {
        "init": {"condition": "service_completed_successfully"},
        f"{name}-migrate": {"condition": "service_completed_successfully"},
        "postgres": {"condition": "service_healthy"},
        "kafka": {"condition": "service_healthy"},
        "jaeger": {"condition": "service_started"},
    }
    assert service["command"] == ["python", "-m", f"{name}_service", "serve"]
    assert "/health/ready" in " ".join(service["healthcheck"]["test"])
    assert f":{port}/" in " ".join(service["healthcheck"]["test"])
    env = service["environment"]
    prefix = name.upper()
    assert env[f"{prefix}_HTTP_PORT"] == str(port)
    assert env[f"{prefix}_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:19092"
    assert env[f"{prefix}_DB_HOST"] == "postgres"
    assert env[f"{prefix}_DB_PASSWORD"].startswith(f"${{{prefix}_DB_PASSWORD:-")


@pytest.mark.parametrize("name", sorted(APP_PORTS))
def test_each_schema_is_migrated_once_by_a_one_shot_job_before_its_service_starts(
    compose: dict[str, Any], name: str
) -> None:
    # Not by the serving containers: scaled-out replicas would race through Alembic.
    services = _services(compose)
    job = services[f"{name}-migrate"]
    # The service's own image, built once by the service (compose never pulls it).
    assert job["image"] == services[name]["image"] and "build" not in job
    assert job["pull_policy"] == "never"
    assert job["command"] == ["python", "-m", f"{name}_service", "migrate", "--wait", "60"]
    assert job["restart"] == "no"
    assert job["depends_on"] == {
        "init": {"condition": "service_completed_successfully"},
        "postgres": {"condition": "service_healthy"},
    }
    prefix = name.upper()
    env = services[name]["environment"]
    db_env = {key: value for key, value in env.items() if key.startswith(f"{prefix}_DB_")}
    assert job["environment"] == db_env and f"{prefix}_DB_PASSWORD" in db_env
    assert "migrate" not in " ".join(services[name]["command"])


def test_every_one_shot_job_is_awaited_by_a_long_running_service(compose: dict[str, Any]) -> None:
    # `docker compose up --wait` (make up) fails on an exited job no running service awaits.
    services = _services(compose)
    jobs = {name for name, service in services.items() if service.get("restart") == "no"}
    awaited = {
        job
        for service in services.values()
        if service.get("restart") != "no"
        for job, rule in service.get("depends_on", {}).items()
        if rule == {"condition": "service_completed_successfully"}
    }
    assert jobs == {"init", *(f"{name}-migrate" for name in APP_PORTS)}
    assert jobs <= awaited


def test_every_long_running_container_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in _services(compose).items():
        if service.get("restart") != "no":  # one-shot jobs exit instead
            assert "healthcheck" in service, name


def test_every_long_running_container_is_restarted_after_a_crash(compose: dict[str, Any]) -> None:
    for name, service in _services(compose).items():
        if service.get("restart") != "no":
            assert service.get("restart") == "unless-stopped", name
    for name in APP_PORTS:  # tini as PID 1: signals passed on, a killed service ends the container
        assert _services(compose)[name]["init"] is True


def test_every_image_is_a_variable_defaulting_to_the_official_one(
    compose: dict[str, Any],
) -> None:
    catalog = {image.name: image for image in recipes.catalog(ROOT)}
    for name in ("kafka", "postgres", "jaeger", "prometheus", "grafana"):
        image = catalog[name]
        assert _default(_services(compose)[name]["image"]) == (image.variable, image.official)
    args = _services(compose)["init"]["build"]["args"]
    for name in ("python", "uv"):
        image = catalog[name]
        assert args[image.variable] == f"${{{image.variable}:-{image.official}}}"
        for dockerfile in DOCKERFILES:
            assert f"ARG {image.variable}={image.official}\n" in (ROOT / dockerfile).read_text()


def test_compose_runs_the_same_kafka_and_postgres_as_the_local_stack(
    compose: dict[str, Any],
) -> None:
    pom = (ROOT / "deploy/local/kafka/pom.xml").read_text()
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom)
    assert match is not None
    assert _image(compose, "kafka") == f"apache/kafka:{match.group(1)}"
    local_major = Path(DEFAULT_PG_BIN_DIR).parent.name
    assert _image(compose, "postgres") == f"postgres:{local_major}"
    assert "postgresql-15" in (ROOT / ".ci/run").read_text()


def _is_kafka_uuid(text: str) -> bool:
    # What kafka-storage format accepts: 16 bytes as unpadded URL-safe base64 (22 characters).
    try:
        return len(text) == 22 and len(base64.urlsafe_b64decode(text + "==")) == 16
    except ValueError:
        return False


def test_kafka_cluster_ids_are_uuids_kafka_storage_accepts(compose: dict[str, Any]) -> None:
    assert _is_kafka_uuid(_services(compose)["kafka"]["environment"]["CLUSTER_ID"])
    assert _is_kafka_uuid(containers.KAFKA_CLUSTER_ID)
    assert not _is_kafka_uuid("saga-local-kraft-cluster-1")


def test_testcontainers_run_the_same_images_as_compose(compose: dict[str, Any]) -> None:
    assert containers.KAFKA_IMAGE == _image(compose, "kafka")
    assert containers.POSTGRES_IMAGE == _image(compose, "postgres")


def test_infra_ports_and_the_services_internal_listener(compose: dict[str, Any]) -> None:
    services = _services(compose)
    assert services["kafka"]["ports"] == ["127.0.0.1:${KAFKA_PORT:-9092}:9092"]
    assert services["postgres"]["ports"] == ["127.0.0.1:${PG_PORT:-5432}:5432"]
    kafka_env = services["kafka"]["environment"]
    # The services connect to kafka:19092, so that listener must exist and be advertised so.
    assert "INTERNAL://:19092" in kafka_env["KAFKA_LISTENERS"]
    assert "INTERNAL://kafka:19092" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]


def _jaeger_v2_tag(v1_version: str) -> str:
    # Jaeger tags v1.x and v2.x releases together, from v1.63.0 / v2.0.0 on (v1.76.0 / v2.13.0).
    major, minor, patch = (int(part) for part in v1_version.removeprefix("v").split("."))
    assert major == 1 and minor >= 63
    return f"2.{minor - 63}.{patch}"


def test_jaeger_runs_the_local_stacks_release_with_in_memory_storage(
    compose: dict[str, Any],
) -> None:
    jaeger = _services(compose)["jaeger"]
    assert _jaeger_v2_tag("v1.76.0") == "2.13.0"
    tag = _jaeger_v2_tag(JAEGER_VERSION)
    assert jaeger["image"] == f"${{JAEGER_IMAGE:-jaegertracing/jaeger:{tag}}}"
    assert jaeger["command"] == ["--config", "/etc/jaeger/config.yaml"]
    assert jaeger["volumes"] == ["./deploy/compose/jaeger.yaml:/etc/jaeger/config.yaml:ro"]
    assert jaeger["ports"] == [
        "127.0.0.1:${JAEGER_OTLP_GRPC_PORT:-4317}:4317",
        "127.0.0.1:${JAEGER_OTLP_HTTP_PORT:-4318}:4318",
        "127.0.0.1:${JAEGER_UI_PORT:-16686}:16686",
    ]
    assert ":16686/api/services" in " ".join(jaeger["healthcheck"]["test"])

    config = yaml.safe_load((ROOT / "deploy/compose/jaeger.yaml").read_text())
    backends = config["extensions"]["jaeger_storage"]["backends"]
    assert {name: set(backend) for name, backend in backends.items()} == {"memstore": {"memory"}}
    assert config["extensions"]["jaeger_query"]["storage"]["traces"] == "memstore"
    assert config["exporters"]["jaeger_storage_exporter"]["trace_storage"] == "memstore"
    assert config["extensions"]["jaeger_query"]["http"]["endpoint"] == "0.0.0.0:16686"
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    assert config["service"]["pipelines"]["traces"]["receivers"] == ["otlp"]
    assert config["service"]["telemetry"]["traces"]["level"] == "none"


@pytest.mark.parametrize("name", sorted(APP_PORTS))
def test_services_send_their_traces_to_jaeger_over_otlp_http(
    compose: dict[str, Any], name: str
) -> None:
    env = _services(compose)[name]["environment"]
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"
    assert env["OTEL_SDK_DISABLED"] == "${OTEL_SDK_DISABLED:-false}"
    assert "OTEL_SERVICE_NAME" not in env  # the code names each service
    migrate_env = _services(compose)[f"{name}-migrate"]["environment"]
    assert not any(key.startswith("OTEL_") for key in migrate_env)


_PUBLISHED = re.compile(r"^127\.0\.0\.1:\$\{[A-Z][A-Z0-9_]*_PORT:-(\d+)\}:(\d+)$")


def test_every_published_port_binds_loopback_and_is_overridable(compose: dict[str, Any]) -> None:
    published: list[str] = []
    for name, service in _services(compose).items():
        for port in service.get("ports", []):
            assert isinstance(port, str), (name, port)  # the long syntax could hide host_ip
            match = _PUBLISHED.match(port)
            assert match is not None, (name, port)
            published.append(match.group(1))
    assert len(published) == len(set(published)), f"host port defaults collide: {published}"


def _bind_mounts(compose: dict[str, Any]) -> list[tuple[str, str, str]]:
    mounts: list[tuple[str, str, str]] = []
    for name, service in _services(compose).items():
        for volume in service.get("volumes", []):
            source, _, rest = volume.partition(":")
            if source.startswith("./"):
                mounts.append((name, source, rest))
    return mounts


def test_bind_mounts_are_read_only_files_of_the_repository(compose: dict[str, Any]) -> None:
    mounts = _bind_mounts(compose)
    assert mounts
    for name, source, rest in mounts:
        assert rest.endswith(":ro"), (name, source)
        if source != ALERT_RULES:
            assert (ROOT / source).exists(), (name, source)


def _prometheus_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((ROOT / "deploy/compose/prometheus.yml").read_text())
    return config


def test_prometheus_runs_its_compose_config_and_the_local_alert_rules(
    compose: dict[str, Any],
) -> None:
    prometheus = _services(compose)["prometheus"]
    assert prometheus["image"] == "${PROMETHEUS_IMAGE:-prom/prometheus:v2.53.0}"
    assert prometheus["ports"] == ["127.0.0.1:${PROMETHEUS_PORT:-9090}:9090"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    assert "--storage.tsdb.path=/prometheus" in prometheus["command"]
    assert prometheus["volumes"] == [
        "./deploy/compose/prometheus.yml:/etc/prometheus/prometheus.yml:ro",
        f"{ALERT_RULES}:/etc/prometheus/rules/alerts.yml:ro",
        "prometheus-data:/prometheus",
    ]
    assert "prometheus-data" in compose["volumes"]
    assert ":9090/-/ready" in " ".join(prometheus["healthcheck"]["test"])
    assert _prometheus_config()["rule_files"] == ["/etc/prometheus/rules/alerts.yml"]


def test_prometheus_scrapes_every_replica_of_each_service_as_job_saga(
    compose: dict[str, Any],
) -> None:
    jobs = {job["job_name"]: job for job in _prometheus_config()["scrape_configs"]}
    assert set(jobs) == {"saga"}
    saga = jobs["saga"]
    assert saga.get("metrics_path", "/metrics") == "/metrics"
    # A static target would resolve to one replica per scrape; DNS SD lists all of them.
    assert "static_configs" not in saga
    scraped = {name: sd["port"] for sd in saga["dns_sd_configs"] for name in sd["names"]}
    assert all(sd["type"] == "A" for sd in saga["dns_sd_configs"])
    assert scraped == APP_PORTS
    for name, port in scraped.items():
        env = _services(compose)[name]["environment"]
        assert env[f"{name.upper()}_HTTP_PORT"] == str(port)
    # The services label their series with `service`; a target label would clash with it.
    for sd in saga["dns_sd_configs"]:
        assert "labels" not in sd
    assert "relabel_configs" not in saga


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_prometheus_compose_config_passes_promtool() -> None:
    done = subprocess.run(
        ["promtool", "check", "config", "--syntax-only", "deploy/compose/prometheus.yml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_prometheus_mounts_the_local_stacks_alert_rules() -> None:
    rules = ROOT / ALERT_RULES
    if not rules.is_file():
        pytest.skip(f"{ALERT_RULES} not written yet")
    groups = yaml.safe_load(rules.read_text())["groups"]
    assert groups and all(group["rules"] for group in groups)
    if shutil.which("promtool") is not None:
        done = subprocess.run(
            ["promtool", "check", "rules", str(rules)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr


def _mounts_of(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path of a service's bind mounts."""
    mounts: dict[str, Path] = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("./"):
            mounts[target] = ROOT / source
    return mounts


def _in_container(mounts: dict[str, Path], path: str) -> Path:
    """The repository file a container sees at `path`, through its bind mounts."""
    for target, source in mounts.items():
        if path == target or path.startswith(target.rstrip("/") + "/"):
            return source / path[len(target) :].lstrip("/")
    raise AssertionError(f"{path} is not mounted from the repository")


def test_grafana_is_published_on_loopback_with_anonymous_viewers(compose: dict[str, Any]) -> None:
    grafana = _services(compose)["grafana"]
    assert grafana["image"] == "${GRAFANA_IMAGE:-grafana/grafana:11.6.0}"
    assert grafana["ports"] == ["127.0.0.1:${GRAFANA_PORT:-3000}:3000"]
    env = grafana["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert env["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:-")
    assert grafana["depends_on"] == {
        "prometheus": {"condition": "service_healthy"},
        "jaeger": {"condition": "service_healthy"},
    }
    assert ":3000/api/health" in " ".join(grafana["healthcheck"]["test"])
    mounts = _mounts_of(grafana)
    assert set(mounts) == {"/etc/grafana/provisioning", "/var/lib/grafana/dashboards"}
    home = _in_container(mounts, env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert home == ROOT / "deploy/grafana/dashboards/saga.json" and home.is_file()


def _provisioning(compose: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    mounts = _mounts_of(_services(compose)["grafana"])
    folder = _in_container(mounts, f"/etc/grafana/provisioning/{kind}")
    files = sorted(folder.glob("*.yml")) + sorted(folder.glob("*.yaml"))
    assert files, folder
    return [yaml.safe_load(path.read_text()) for path in files]


def test_grafana_provisions_prometheus_and_jaeger_by_the_uids_the_dashboard_uses(
    compose: dict[str, Any],
) -> None:
    (provisioned,) = _provisioning(compose, "datasources")
    assert provisioned["apiVersion"] == 1
    sources = {source["uid"]: source for source in provisioned["datasources"]}
    assert set(sources) == {"prometheus", "jaeger"}
    assert sources["prometheus"]["type"] == "prometheus"
    assert sources["jaeger"]["type"] == "jaeger"
    assert [uid for uid, source in sources.items() if source.get("isDefault")] == ["prometheus"]
    # Each URL names a compose service and the port it listens on inside the network.
    assert sources["prometheus"]["url"] == "http://prometheus:9090"
    assert _services(compose)["prometheus"]["ports"][0].endswith(":9090")
    assert sources["jaeger"]["url"] == "http://jaeger:16686"
    assert _services(compose)["jaeger"]["ports"][-1].endswith(":16686")
    # $__rate_interval is computed from the scrape interval Grafana is told.
    scrape = _prometheus_config()["global"]["scrape_interval"]
    assert sources["prometheus"]["jsonData"]["timeInterval"] == scrape

    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/saga.json").read_text())
    used: set[str] = set()
    for panel in dashboard["panels"]:
        for item in [panel, *panel.get("targets", [])]:
            source = item.get("datasource")
            if isinstance(source, dict):
                used.add(source["uid"])
    assert used == {"prometheus", "jaeger"}


def test_grafana_loads_the_committed_dashboards(compose: dict[str, Any]) -> None:
    mounts = _mounts_of(_services(compose)["grafana"])
    (provisioned,) = _provisioning(compose, "dashboards")
    (provider,) = provisioned["providers"]
    assert provider["type"] == "file"
    folder = _in_container(mounts, provider["options"]["path"])
    assert folder == ROOT / "deploy/grafana/dashboards"
    dashboards = sorted(folder.glob("*.json"))
    assert [path.name for path in dashboards] == ["saga.json"]
    for path in dashboards:
        assert json.loads(path.read_text())["uid"]


# -- the real compose CLI -----------------------------------------------------------------


def _compose_cli() -> dict[str, str] | None:
    """An environment in which `docker compose` runs: as it is, or with the project's plugin
    (`make docker-install` / `make compose-e2e` build it into .local/docker/config)."""
    if shutil.which("docker") is None:
        return None
    env = {key: value for key, value in os.environ.items() if not key.endswith("_IMAGE")}
    for candidate in (env, {**env, "DOCKER_CONFIG": str(ROOT / ".local/docker/config")}):
        done = subprocess.run(
            ["docker", "compose", "version"], env=candidate, capture_output=True, timeout=60
        )
        if done.returncode == 0:
            return candidate
    return None


def _wait_for_a_running_prepare() -> None:
    """`.ci/run` prepares the compose path (its CLI among it) in the background: wait for it."""
    lock = ROOT / ".local" / "compose-prepare.lock"
    if not lock.exists():
        return
    with lock.open() as held:
        try:
            fcntl.flock(held, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            print("compose: waiting for the compose path's prepare (.ci/run) to finish")
            fcntl.flock(held, fcntl.LOCK_SH)


@pytest.fixture(scope="module")
def compose_cli() -> dict[str, str]:
    env = _compose_cli()
    if env is None:
        _wait_for_a_running_prepare()
        env = _compose_cli()
    if env is None:
        pytest.skip("no compose CLI (`make docker-install` builds one; .ci/run always does)")
    return env


def _config(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "compose", "-f", "docker-compose.yml", "config", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


# Its fixture may wait for .ci/run's background prepare (a cold Go build of the CLI).
@pytest.mark.timeout(1800)
def test_the_compose_cli_accepts_the_file(compose_cli: dict[str, str]) -> None:
    done = _config(compose_cli, "--quiet")
    assert done.returncode == 0, done.stderr


# Its fixture may wait for .ci/run's background prepare (a cold Go build of the CLI).
@pytest.mark.timeout(1800)
def test_the_resolved_model_publishes_on_loopback_and_takes_the_image_variables(
    compose_cli: dict[str, str],
) -> None:
    done = _config(
        {**compose_cli, "KAFKA_IMAGE": "example/kafka:1", "PYTHON_BASE": "x/py:3"},
        "--format",
        "json",
    )
    assert done.returncode == 0, done.stderr
    model = json.loads(done.stdout)
    services = model["services"]
    assert services["kafka"]["image"] == "example/kafka:1"
    assert services["postgres"]["image"] == "postgres:15"
    assert services["order"]["build"]["args"]["PYTHON_BASE"] == "x/py:3"
    # Each service's context resolves to its own directory; the init job's to the repository.
    for name in APP_PORTS:
        assert Path(services[name]["build"]["context"]) == ROOT / "services" / name
    assert Path(services["init"]["build"]["context"]) == ROOT
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", (name, port)
    # Containers reach each other by service name on the project's network.
    assert services["order"]["environment"]["ORDER_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:19092"
    assert services["order"]["environment"]["ORDER_PAYMENT_URL"] == "http://payment:8002"
