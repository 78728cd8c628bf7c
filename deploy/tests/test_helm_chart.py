"""The Helm chart (deploy/k8s/saga), rendered offline: no cluster, only helm and the schemas.

Renders the chart with its default values and with each variant in deploy/k8s/saga/ci/
(helm from deploy/k8s/helm_check.py: cached, or built once from its Go module), validates every
document against its schema, and pins what the chart must say about the saga: probes, migration
hooks, PDBs, lag autoscaling within the partition count, topics, ACLs, roles, non-root pods.
Skipped only when helm can be neither found nor built (no Go).
"""

from __future__ import annotations

import base64
import importlib.util
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from inventory_service.consumer import TOPICS as INVENTORY_CONSUMES
from inventory_service.settings import Settings as InventorySettings
from order_service.consumer import TOPICS as ORDER_CONSUMES
from order_service.settings import Settings as OrderSettings
from payment_service.consumer import TOPICS as PAYMENT_CONSUMES
from payment_service.settings import Settings as PaymentSettings
from shared_events.kafka.provisioning import saga_topics
from shared_events.topics import PRODUCT_CATALOG, dead_letter_topic, topic_config
from shared_events.topology import CONSUMER_GROUPS
from shared_events.topology import service as saga_service

# Building helm on a busy machine takes minutes (once; cached afterwards).
pytestmark = pytest.mark.timeout(1800)

REPO = Path(__file__).resolve().parents[2]
PARTITIONS = 6

Doc = dict[str, Any]


def _load_checker() -> ModuleType:
    path = REPO / "deploy" / "k8s" / "helm_check.py"
    spec = importlib.util.spec_from_file_location("saga_helm_check", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


hc = _load_checker()

# What the code says each service is: its settings' port, consumer group and consumed topics,
# and the topics its events go to (the contracts' topology).
SERVICES: dict[str, dict[str, Any]] = {
    "order": {
        "module": "order_service",
        "prefix": "ORDER",
        "settings": OrderSettings,
        "consumes": ORDER_CONSUMES,
        "produces": saga_service("order").writes,
        "role": "order_service",
        "schema": "orders",
    },
    "payment": {
        "module": "payment_service",
        "prefix": "PAYMENT",
        "settings": PaymentSettings,
        "consumes": PAYMENT_CONSUMES,
        "produces": saga_service("payment").writes,
        "role": "payment_service",
        "schema": "payments",
    },
    "inventory": {
        "module": "inventory_service",
        "prefix": "INVENTORY",
        "settings": InventorySettings,
        "consumes": INVENTORY_CONSUMES,
        "produces": saga_service("inventory").writes,
        "role": "inventory_service",
        "schema": "inventory",
    },
}


def default(settings: type, name: str) -> Any:
    return settings.model_fields[name].default


def group_of(name: str) -> str:
    group = default(SERVICES[name]["settings"], "consumer_group")
    assert group in CONSUMER_GROUPS
    return str(group)


@pytest.fixture(scope="module")
def helm() -> Path:
    try:
        return Path(hc.helm_binary(progress=lambda line: print(line, file=sys.stderr)))
    except hc.HelmUnavailableError as error:
        pytest.skip(f"helm cannot be built here: {error}")


@pytest.fixture(scope="module")
def schemas() -> Any:
    found, _lines = hc.load_schemas(progress=lambda line: print(line, file=sys.stderr))
    return found


@pytest.fixture(scope="module")
def renders(helm: Path) -> dict[str, list[Doc]]:
    return {name: hc.render(helm, values) for name, values in hc.variants().items()}


@pytest.fixture(scope="module")
def docs(renders: dict[str, list[Doc]]) -> list[Doc]:
    return renders["default"]


@pytest.fixture(scope="module")
def external(renders: dict[str, list[Doc]]) -> list[Doc]:
    return renders["external"]


def of_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def named(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


def component(doc: Doc) -> str:
    return str(doc["metadata"]["labels"]["app.kubernetes.io/component"])


def env_of(container: Doc) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def pod_specs(docs: list[Doc]) -> Iterator[tuple[str, Doc]]:
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]


# ---- helm and the schemas -----------------------------------------------------------------


def test_the_variants_are_the_defaults_and_the_ci_files() -> None:
    assert set(hc.variants()) == {"default", "external", "shared-strimzi"}


@pytest.mark.parametrize("variant", ["default", "external", "shared-strimzi"])
def test_helm_lint_passes(helm: Path, variant: str) -> None:
    assert hc.lint(helm, hc.variants()[variant]).endswith("0 chart(s) failed")


@pytest.mark.parametrize("variant", ["default", "external", "shared-strimzi"])
def test_every_rendered_document_validates_against_its_schema(
    renders: dict[str, list[Doc]], schemas: Any, variant: str
) -> None:
    docs = renders[variant]
    assert docs
    assert hc.validate_documents(docs, schemas) == []
    against = {hc.validate_document(d, schemas)[0] for d in docs}
    assert "nothing" not in against


def test_core_kinds_are_checked_against_both_kubernetes_ends(docs: list[Doc], schemas: Any) -> None:
    deployment = of_kind(docs, "Deployment")[0]
    assert hc.validate_document(deployment, schemas)[0] == "Kubernetes 1.29 and 1.37"


def test_custom_resources_are_checked_against_their_operators_crds(
    renders: dict[str, list[Doc]], schemas: Any
) -> None:
    sources = {
        d["kind"]: hc.validate_document(d, schemas)[0]
        for docs in renders.values()
        for d in docs
        if not d["apiVersion"].startswith(("v1", "apps/", "batch/", "policy/"))
    }
    assert sources == {
        "Kafka": "CRD strimzi 1.2.0",
        "KafkaNodePool": "CRD strimzi 1.2.0",
        "KafkaTopic": "CRD strimzi 1.2.0",
        "KafkaUser": "CRD strimzi 1.2.0",
        "Cluster": "CRD cloudnative-pg v1.30.1",
        "ScaledObject": "CRD keda v2.21.0",
        "TriggerAuthentication": "CRD keda v2.21.0",
        "ServiceMonitor": "CRD prometheus-operator v0.85.0",
    }


def test_the_validation_refuses_what_an_api_server_would(docs: list[Doc], schemas: Any) -> None:
    topic = {**named(docs, "KafkaTopic", "saga-order-events")}
    topic["spec"] = {**topic["spec"], "replica": 3}
    assert "'replica' was unexpected" in hc.validate_document(topic, schemas)[1][0]
    deployment = dict(of_kind(docs, "Deployment")[0])
    deployment["spec"] = {**deployment["spec"], "replicas": "two"}
    assert any("'two' is not of type" in p for p in hc.validate_document(deployment, schemas)[1])
    deployment["metadata"] = {"name": "Not_A_Name"}
    assert any("DNS subdomain" in p for p in hc.validate_document(deployment, schemas)[1])


def test_crd_schemas_become_strict_json_schemas() -> None:
    schema = hc.crd_to_json_schema(
        {
            "type": "object",
            "properties": {
                "port": {"x-kubernetes-int-or-string": True},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "note": {"type": "string", "nullable": True},
            },
        }
    )
    assert schema["additionalProperties"] is False
    assert schema["properties"]["port"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert schema["properties"]["free"] == {"type": "object"}
    assert schema["properties"]["note"] == {"type": ["string", "null"]}


# ---- the services -------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["default", "external", "shared-strimzi"])
def test_each_service_probes_its_own_health_endpoints_on_its_port(
    renders: dict[str, list[Doc]], variant: str
) -> None:
    deployments = {component(d): d for d in of_kind(renders[variant], "Deployment")}
    assert set(deployments) == set(SERVICES)
    for name, shape in SERVICES.items():
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        port = default(shape["settings"], "http_port")
        assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
        assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
        assert container["command"] == ["python", "-m", shape["module"], "serve"]
        env = env_of(container)
        assert env[f"{shape['prefix']}_HTTP_PORT"] == str(port)
        assert env[f"{shape['prefix']}_HTTP_HOST"] == "0.0.0.0"
        service = named(renders[variant], "Service", deployments[name]["metadata"]["name"])
        assert service["spec"]["ports"][0]["port"] == port


def test_services_get_their_database_kafka_and_otel_settings(
    docs: list[Doc], external: list[Doc]
) -> None:
    for name, shape in SERVICES.items():
        p = shape["prefix"]
        env = env_of(
            named(docs, "Deployment", f"saga-{name}")["spec"]["template"]["spec"]["containers"][0]
        )
        assert env[f"{p}_DB_HOST"] == "saga-pg-rw"
        assert env[f"{p}_DB_PORT"] == "5432"
        assert env[f"{p}_DB_NAME"] == "saga"
        assert env[f"{p}_DB_USER"] == shape["role"]
        assert env[f"{p}_DB_PASSWORD"] == {
            "secretKeyRef": {"name": f"saga-{name}-db", "key": "password"}
        }
        assert env[f"{p}_KAFKA_BOOTSTRAP_SERVERS"] == "saga-kafka-bootstrap:9092"
        assert env[f"{p}_KAFKA_SASL_USERNAME"]["secretKeyRef"]["name"] == f"saga-{name}-kafka"
        # Anything but environment=local refuses the local default passwords.
        assert env[f"{p}_ENVIRONMENT"] == "kubernetes"
        assert env["OTEL_SDK_DISABLED"] == "true"
        ext = env_of(
            named(external, "Deployment", f"saga-{name}")["spec"]["template"]["spec"]["containers"][
                0
            ]
        )
        assert ext[f"{p}_DB_HOST"] == "saga-db.databases.svc.cluster.local"
        assert ext[f"{p}_KAFKA_BOOTSTRAP_SERVERS"].startswith("kafka-0.kafka.example.internal:9092")
        assert ext["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.observability:4318"
    order = env_of(
        named(docs, "Deployment", "saga-order")["spec"]["template"]["spec"]["containers"][0]
    )
    assert order["ORDER_PAYMENT_URL"] == "http://saga-payment:8002"
    assert order["ORDER_INVENTORY_URL"] == "http://saga-inventory:8003"


# The Secret holding each service's SCRAM credentials (keys username, password), per variant.
KAFKA_SECRETS: dict[str, dict[str, str]] = {
    "default": {name: f"saga-{name}-kafka" for name in SERVICES},
    "external": {
        "order": "saga-order-kafka-credentials",
        "payment": "saga-payment-kafka-credentials",
        "inventory": "saga-inventory-kafka",  # username and password given as values
    },
    "shared-strimzi": {},  # kafka.authentication: none
}


def service_containers(docs: list[Doc]) -> Iterator[tuple[str, str, Doc]]:
    """(what, service, container) of every Deployment and migration Job."""
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            (container,) = doc["spec"]["template"]["spec"]["containers"]
            yield f"{doc['kind']}/{doc['metadata']['name']}", component(doc), container


def settings_from_env(
    monkeypatch: pytest.MonkeyPatch, settings: type, prefix: str, env: dict[str, Any]
) -> Any:
    """The service's own Settings from a container's variables (a Secret's key as a stand-in
    value `<secret>/<key>`)."""
    for name in list(os.environ):
        if name.startswith(f"{prefix}_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith(f"{prefix}_"):
            if isinstance(value, dict):
                ref = value["secretKeyRef"]
                value = f"{ref['name']}/{ref['key']}"
            monkeypatch.setenv(name, value)
    return settings()


@pytest.mark.parametrize("variant", ["default", "external", "shared-strimzi"])
def test_pods_and_migrations_connect_to_kafka_as_their_user_with_settings_the_code_accepts(
    renders: dict[str, list[Doc]], variant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = set()
    for what, name, container in service_containers(renders[variant]):
        shape = SERVICES[name]
        p = shape["prefix"]
        env = env_of(container)
        kafka = settings_from_env(monkeypatch, shape["settings"], p, env).kafka.client_config()
        bootstrap = env[f"{p}_KAFKA_BOOTSTRAP_SERVERS"]
        secret = KAFKA_SECRETS[variant].get(name)
        if secret is None:
            assert not [k for k in env if k.startswith(f"{p}_KAFKA_S")], what
            assert kafka == {"bootstrap.servers": bootstrap}, what
        else:
            assert env[f"{p}_KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT", what
            assert env[f"{p}_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512", what
            for key in ("username", "password"):
                ref = {"secretKeyRef": {"name": secret, "key": key}}
                assert env[f"{p}_KAFKA_SASL_{key.upper()}"] == ref, what
            assert kafka == {
                "bootstrap.servers": bootstrap,
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": f"{secret}/username",
                "sasl.password": f"{secret}/password",
            }, what
        found.add(what.split("/")[0])
    assert found == {"Deployment", "Job"}


@pytest.mark.parametrize("variant", ["default", "external", "shared-strimzi"])
def test_every_referenced_secret_is_rendered_or_named_in_the_values(
    renders: dict[str, list[Doc]], variant: str
) -> None:
    rendered = {d["metadata"]["name"] for d in of_kind(renders[variant], "Secret")}
    given = {
        "default": set(),
        "shared-strimzi": set(),
        "external": {
            "saga-order-db-credentials",
            "saga-order-kafka-credentials",
            "saga-payment-kafka-credentials",
            "saga-inventory-db-credentials",
        },
    }[variant]
    referenced = set()
    for _what, spec in pod_specs(renders[variant]):
        for container in spec["containers"]:
            for value in env_of(container).values():
                if isinstance(value, dict) and "secretKeyRef" in value:
                    referenced.add(value["secretKeyRef"]["name"])
    assert referenced <= rendered | given
    assert given <= referenced


@pytest.mark.parametrize("variant", ["default", "external", "shared-strimzi"])
def test_every_pod_runs_as_non_root_without_privileges(
    renders: dict[str, list[Doc]], variant: str
) -> None:
    specs = list(pod_specs(renders[variant]))
    assert len(specs) == 6  # three Deployments, three migration Jobs
    for what, spec in specs:
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, what
        assert pod["runAsUser"] != 0, what
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, what
        assert spec["automountServiceAccountToken"] is False, what
        for container in spec["containers"]:
            ctx = container["securityContext"]
            assert ctx["runAsNonRoot"] is True, what
            assert ctx["allowPrivilegeEscalation"] is False, what
            assert ctx["readOnlyRootFilesystem"] is True, what
            assert ctx["capabilities"] == {"drop": ["ALL"]}, what
            assert container["resources"]["requests"] and container["resources"]["limits"], what


# ---- migrations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "hook"),
    [
        # The chart's own CloudNativePG cluster does not exist before a first install's
        # pre-install hooks: the migrations run right after the install, before upgrades.
        ("default", "post-install,pre-upgrade"),
        ("shared-strimzi", "post-install,pre-upgrade"),
        ("external", "pre-install,pre-upgrade"),
    ],
)
def test_each_service_migrates_in_a_helm_hook_job(
    renders: dict[str, list[Doc]], variant: str, hook: str
) -> None:
    docs = renders[variant]
    jobs = {d["metadata"]["name"]: d for d in of_kind(docs, "Job")}
    assert set(jobs) == {f"saga-{name}-migrate" for name in SERVICES}
    for name, shape in SERVICES.items():
        job = jobs[f"saga-{name}-migrate"]
        annotations = job["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == hook
        assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
        spec = job["spec"]["template"]["spec"]
        assert spec["restartPolicy"] == "Never"
        # The release's ServiceAccount is not there yet during a pre-install hook.
        assert "serviceAccountName" not in spec
        (container,) = spec["containers"]
        assert container["command"] == ["python", "-m", shape["module"], "migrate", "--wait", "120"]
        env = env_of(container)
        for key in ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD", "ENVIRONMENT"):
            assert f"{shape['prefix']}_{key}" in env
        # Not the service's pods: its Service and PDB must not select the migration.
        pod_labels = job["spec"]["template"]["metadata"]["labels"]
        selector = named(docs, "Service", f"saga-{name}")["spec"]["selector"]
        assert not selector.items() <= pod_labels.items()


@pytest.mark.parametrize("secret", ["saga-payment-db", "saga-inventory-kafka"])
def test_a_secret_a_pre_install_migration_reads_is_created_before_it(
    external: list[Doc], secret: str
) -> None:
    annotations = named(external, "Secret", secret)["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(annotations["helm.sh/hook-weight"]) < 0


def test_secrets_are_ordinary_resources_when_the_migrations_run_after_the_install(
    docs: list[Doc],
) -> None:
    for secret in of_kind(docs, "Secret"):
        assert "helm.sh/hook" not in secret["metadata"].get("annotations", {})


# ---- disruption budgets and autoscaling ---------------------------------------------------


@pytest.mark.parametrize("variant", ["default", "external", "shared-strimzi"])
def test_each_deployment_has_a_disruption_budget_selecting_its_pods(
    renders: dict[str, list[Doc]], variant: str
) -> None:
    docs = renders[variant]
    for deployment in of_kind(docs, "Deployment"):
        name = deployment["metadata"]["name"]
        pdb = named(docs, "PodDisruptionBudget", name)
        assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
        assert ("maxUnavailable" in pdb["spec"]) != ("minAvailable" in pdb["spec"])
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert (
            named(docs, "Service", name)["spec"]["selector"]
            == deployment["spec"]["selector"]["matchLabels"]
        )


@pytest.mark.parametrize("variant", ["default", "external"])
def test_keda_scales_each_service_on_its_groups_lag_within_the_partitions(
    renders: dict[str, list[Doc]], variant: str
) -> None:
    docs = renders[variant]
    scaled = {d["metadata"]["name"]: d for d in of_kind(docs, "ScaledObject")}
    assert set(scaled) == {f"saga-{name}" for name in SERVICES}
    for name, shape in SERVICES.items():
        spec = scaled[f"saga-{name}"]["spec"]
        assert spec["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": f"saga-{name}",
        }
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= PARTITIONS
        triggers = spec["triggers"]
        assert {t["type"] for t in triggers} == {"kafka"}
        assert {t["metadata"]["consumerGroup"] for t in triggers} == {group_of(name)}
        assert sorted(t["metadata"]["topic"] for t in triggers) == sorted(shape["consumes"])
        for trigger in triggers:
            assert trigger["metadata"]["offsetResetPolicy"] == "earliest"
            assert trigger["metadata"]["sasl"] == "scram_sha512"
            auth = named(docs, "TriggerAuthentication", trigger["authenticationRef"]["name"])
            assert {r["parameter"] for r in auth["spec"]["secretTargetRef"]} == {
                "username",
                "password",
            }
        # KEDA owns the replica count.
        assert "replicas" not in named(docs, "Deployment", f"saga-{name}")["spec"]
    assert scaled["saga-inventory"]["spec"]["maxReplicaCount"] == (
        3 if variant == "external" else 6
    )


def test_without_autoscaling_the_deployments_have_fixed_replicas(
    renders: dict[str, list[Doc]],
) -> None:
    docs = renders["shared-strimzi"]
    assert of_kind(docs, "ScaledObject") == []
    assert {d["spec"]["replicas"] for d in of_kind(docs, "Deployment")} == {3}
    assert {d["spec"]["minAvailable"] for d in of_kind(docs, "PodDisruptionBudget")} == {2}


def test_more_replicas_than_partitions_is_refused(helm: Path) -> None:
    with pytest.raises(
        hc.CheckError, match=r"maxReplicas \(7\) cannot exceed kafka.topics.partitions \(6\)"
    ):
        hc.render(helm, sets={"services.payment.maxReplicas": "7"})
    with pytest.raises(hc.CheckError, match="cannot exceed kafka.topics.partitions"):
        hc.render(helm, sets={"kafka.topics.partitions": "3"})


# ---- Kafka (Strimzi) ----------------------------------------------------------------------


def test_kafka_is_a_kraft_cluster_of_dual_role_node_pools(docs: list[Doc]) -> None:
    (kafka,) = of_kind(docs, "Kafka")
    (pool,) = of_kind(docs, "KafkaNodePool")
    assert kafka["apiVersion"] == pool["apiVersion"] == "kafka.strimzi.io/v1"
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"] == "saga"
    assert sorted(pool["spec"]["roles"]) == ["broker", "controller"]
    assert pool["spec"]["replicas"] == 3
    config = kafka["spec"]["kafka"]["config"]
    assert config["min.insync.replicas"] == 2
    assert config["auto.create.topics.enable"] is False
    assert kafka["spec"]["kafka"]["authorization"] == {"type": "simple"}
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    assert listener["authentication"] == {"type": "scram-sha-512"}
    assert set(kafka["spec"]["entityOperator"]) == {"topicOperator", "userOperator"}


@pytest.mark.parametrize("variant", ["default", "shared-strimzi"])
def test_a_kafka_topic_for_every_event_and_dead_letter_topic(
    renders: dict[str, list[Doc]], variant: str
) -> None:
    topics = of_kind(renders[variant], "KafkaTopic")
    assert sorted(t["spec"]["topicName"] for t in topics) == sorted(saga_topics())
    cluster = "saga" if variant == "default" else "shared-kafka"
    for topic in topics:
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == cluster
        assert topic["spec"]["partitions"] == PARTITIONS
        assert topic["spec"]["replicas"] == 3
        assert topic["spec"]["config"]["min.insync.replicas"] == 2
        required = topic_config(topic["spec"]["topicName"])
        assert required.items() <= topic["spec"]["config"].items()
        if not required:
            assert "cleanup.policy" not in topic["spec"]["config"]
    (catalog,) = (t for t in topics if t["spec"]["topicName"] == PRODUCT_CATALOG)
    assert catalog["spec"]["config"]["cleanup.policy"] == "compact"


def test_topic_settings_apply_to_every_topic_but_never_undo_the_catalogs_compaction(
    helm: Path,
) -> None:
    docs = hc.render(
        helm,
        sets={
            "kafka.topics.config.retention\\.ms": "1209600000",
            "kafka.topics.config.cleanup\\.policy": "delete",
        },
    )
    configs = {t["spec"]["topicName"]: t["spec"]["config"] for t in of_kind(docs, "KafkaTopic")}
    assert {c["retention.ms"] for c in configs.values()} == {1209600000}
    assert configs[PRODUCT_CATALOG]["cleanup.policy"] == "compact"
    assert {c["cleanup.policy"] for n, c in configs.items() if n != PRODUCT_CATALOG} == {"delete"}


def _acls(user: Doc) -> dict[tuple[str, str, str], set[str]]:
    found: dict[tuple[str, str, str], set[str]] = {}
    for acl in user["spec"]["authorization"]["acls"]:
        res = acl["resource"]
        key = (res["type"], res["name"], res.get("patternType", "literal"))
        found.setdefault(key, set()).update(acl["operations"])
    return found


def test_each_kafka_user_may_do_exactly_what_its_service_does(docs: list[Doc]) -> None:
    users = {component(u): u for u in of_kind(docs, "KafkaUser")}
    assert set(users) == set(SERVICES)
    for name, shape in SERVICES.items():
        user = users[name]
        secret = named(docs, "Secret", f"saga-{name}-kafka")
        ref = user["spec"]["authentication"]["password"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": secret["metadata"]["name"], "key": "password"}
        acls = _acls(user)
        group = group_of(name)
        writes = {res[1] for res, ops in acls.items() if "Write" in ops}
        reads = {res[1] for res, ops in acls.items() if res[0] == "topic" and "Read" in ops}
        groups = {res[1:] for res, ops in acls.items() if res[0] == "group"}
        assert writes == {*shape["produces"], dead_letter_topic(group)}
        expected_reads = set(shape["consumes"])
        expected_groups = {(group, "literal")}
        if name == "order":  # its operator pages read every group's dead letters
            expected_reads |= {dead_letter_topic(g) for g in CONSUMER_GROUPS}
            expected_groups.add(("dlq-tool-", "prefix"))
        assert reads == expected_reads
        assert groups == expected_groups
        assert all(res[2] == "literal" for res in acls if res[0] == "topic")
        assert not {op for ops in acls.values() for op in ops} & {
            "All",
            "Alter",
            "Delete",
            "Create",
        }


def test_without_authentication_no_users_and_no_credentials(renders: dict[str, list[Doc]]) -> None:
    docs = renders["shared-strimzi"]
    assert of_kind(docs, "KafkaUser") == []
    assert of_kind(docs, "Kafka") == []
    for _what, _name, container in service_containers(docs):
        env = env_of(container)
        assert not [k for k in env if "_KAFKA_SASL_" in k or "_KAFKA_SECURITY_" in k]
        assert env[next(k for k in env if k.endswith("_KAFKA_BOOTSTRAP_SERVERS"))] == (
            "shared-kafka-kafka-bootstrap:9092"
        )


def test_an_existing_kafka_and_postgres_get_no_operator_resources(external: list[Doc]) -> None:
    kinds = {d["kind"] for d in external}
    assert not kinds & {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "Cluster"}
    assert kinds >= {
        "Deployment",
        "Service",
        "Job",
        "PodDisruptionBudget",
        "ScaledObject",
        "ServiceMonitor",
    }


# ---- PostgreSQL (CloudNativePG) -----------------------------------------------------------


def test_postgres_cluster_has_a_managed_role_per_service_with_its_secret(docs: list[Doc]) -> None:
    (cluster,) = of_kind(docs, "Cluster")
    assert cluster["spec"]["instances"] == 3
    assert cluster["spec"]["bootstrap"]["initdb"]["database"] == "saga"
    roles = {r["name"]: r for r in cluster["spec"]["managed"]["roles"]}
    assert set(roles) == {shape["role"] for shape in SERVICES.values()}
    for name, shape in SERVICES.items():
        role = roles[shape["role"]]
        assert role["login"] is True and role["ensure"] == "present"
        assert not any(
            role[flag]
            for flag in ("superuser", "createdb", "createrole", "replication", "bypassrls")
        )
        secret = named(docs, "Secret", role["passwordSecret"]["name"])
        assert secret["type"] == "kubernetes.io/basic-auth"
        assert secret["metadata"]["name"] == f"saga-{name}-db"
        assert base64.b64decode(secret["data"]["username"]).decode() == shape["role"]
    (ref,) = cluster["spec"]["bootstrap"]["initdb"]["postInitApplicationSQLRefs"]["configMapRefs"]
    config_map = named(docs, "ConfigMap", ref["name"])
    chart_sql = (hc.CHART / "files" / "postgres-init.sql").read_text()
    assert config_map["data"][ref["key"]].strip() == chart_sql.strip()


def _privileges(sql: str) -> dict[str, set[tuple[str, ...]]]:
    return {
        "search_path": set(re.findall(r"ALTER ROLE (\w+) SET search_path = (\w+);", sql)),
        "schemas": set(re.findall(r"CREATE SCHEMA IF NOT EXISTS (\w+) AUTHORIZATION (\w+);", sql)),
        "revoked": set(re.findall(r"REVOKE ALL ON SCHEMA ([\w, ]+) FROM PUBLIC;", sql)),
        "public": set(re.findall(r"(REVOKE CREATE ON SCHEMA public FROM PUBLIC);", sql)),
    }


def test_the_chart_sql_makes_the_same_roles_and_schemas_as_deploy_sql() -> None:
    chart = _privileges((hc.CHART / "files" / "postgres-init.sql").read_text())
    local = _privileges((REPO / "deploy" / "sql" / "init.sql").read_text())
    assert chart == local
    assert chart["schemas"] == {(s["schema"], s["role"]) for s in SERVICES.values()}
    assert chart["search_path"] == {(s["role"], s["schema"]) for s in SERVICES.values()}


# ---- metrics ------------------------------------------------------------------------------


def test_pods_carry_scrape_annotations_or_a_service_monitor_selects_them(
    docs: list[Doc], external: list[Doc]
) -> None:
    for deployment in of_kind(docs, "Deployment"):
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        port = deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
        assert annotations == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(port),
            "prometheus.io/path": "/metrics",
        }
    assert of_kind(docs, "ServiceMonitor") == []
    for monitor in of_kind(external, "ServiceMonitor"):
        service = named(external, "Service", monitor["metadata"]["name"])
        assert monitor["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["port"] == "http" and endpoint["path"] == "/metrics"
        # The alert rules select job="saga" and the services' own `service` label.
        assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "saga"
        assert endpoint["honorLabels"] is True
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
