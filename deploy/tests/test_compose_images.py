"""The compose path's images and engine, without an engine: which image each variable gets,
the stand-in recipes, and the Kafka stand-in's environment contract (its bash, run here)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from saga_infra.compose import engine as engines
from saga_infra.compose import images, recipes
from saga_infra.compose.engine import Engine
from saga_infra.errors import StackError
from saga_infra.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
KAFKA_DOCKER = ROOT / "deploy/docker/standins/kafka/rootfs/etc/kafka/docker"


# -- the Kafka stand-in's environment contract (apache/kafka's) ---------------------------


def _properties(env: dict[str, str]) -> dict[str, str]:
    done = subprocess.run(
        ["bash", str(KAFKA_DOCKER / "env-to-properties")],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert lines == sorted(lines)
    return dict(line.split("=", 1) for line in lines)


def test_kafka_variables_become_broker_properties_the_way_apache_kafka_renders_them() -> None:
    props = _properties(
        {
            "KAFKA_NODE_ID": "1",
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "A:PLAINTEXT,B:PLAINTEXT",
            "KAFKA_LOG_DIRS": "/var/lib/kafka/data",
            "KAFKA_CONFLUENT__SUPPORT___METRICS": "x",  # __ -> _, ___ -> -
            "KAFKA_HEAP_OPTS": "-Xmx1G",  # the JVM's, not a property
            "KAFKA_OPTS": "-Dx=y",
            "CLUSTER_ID": "Wm8cfjstTI6fECo7TF1ufw",
            "OTHER": "1",
        }
    )
    assert props == {
        "node.id": "1",
        "listener.security.protocol.map": "A:PLAINTEXT,B:PLAINTEXT",
        "log.dirs": "/var/lib/kafka/data",
        "confluent_support-metrics": "x",
    }


def test_compose_gives_the_stand_in_a_complete_kraft_config() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = {
        key: str(value)
        .replace("${KAFKA_PORT:-9092}", "9092")
        .replace("${TOPIC_PARTITIONS:-6}", "6")
        for key, value in compose["services"]["kafka"]["environment"].items()
    }
    props = _properties(env)
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@kafka:9093"
    assert props["listeners"] == "INTERNAL://:19092,EXTERNAL://:9092,CONTROLLER://:9093"
    assert props["advertised.listeners"] == "INTERNAL://kafka:19092,EXTERNAL://localhost:9092"
    assert props["log.dirs"] == "/var/lib/kafka/data"
    assert props["auto.create.topics.enable"] == "false"
    assert "cluster.id" not in props  # CLUSTER_ID formats the storage, it is no property


def test_the_stand_in_has_the_scripts_the_healthcheck_and_the_entry_point_call() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    healthcheck = " ".join(compose["services"]["kafka"]["healthcheck"]["test"])
    script = healthcheck.split()[1]
    rootfs = ROOT / "deploy/docker/standins/kafka/rootfs"
    for path in (
        script,
        "/opt/kafka/bin/kafka-storage.sh",
        "/opt/kafka/bin/kafka-server-start.sh",
        "/etc/kafka/docker/run",
        "/etc/kafka/docker/env-to-properties",
    ):
        assert os.access(rootfs / path.lstrip("/"), os.X_OK), path
    catalog = {image.name: image for image in recipes.catalog(ROOT)}
    assert catalog["kafka"].recipe is not None
    assert 'CMD ["/etc/kafka/docker/run"]' in catalog["kafka"].recipe.changes


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash")
def test_stand_in_scripts_parse() -> None:
    for script in (ROOT / "deploy/docker/standins").rglob("*"):
        if script.is_file() and script.read_text().startswith("#!/usr/bin/env bash"):
            done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
            assert done.returncode == 0, (script, done.stderr)


# -- which image each variable gets -------------------------------------------------------


class FakeDocker:
    """The engine as `resolve` sees it: images it has, images a registry would give."""

    def __init__(self, have: set[str], pullable: set[str]) -> None:
        self.have, self.pullable = have, pullable
        self.pulled: list[str] = []
        self.built: list[str] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(images, "present", lambda engine, ref: ref in self.have)
        monkeypatch.setattr(images, "pull", self.pull)
        monkeypatch.setattr(images, "build_standin", self.build)

    def pull(self, engine: Engine, reference: str) -> tuple[bool, str]:
        self.pulled.append(reference)
        return reference in self.pullable, "no such host"

    def build(self, engine: Engine, image: images.Image, context: Any) -> images.Resolved:
        self.built.append(image.name)
        return images.Resolved(image, f"saga-standin/{image.name}:x", "stand-in (built)")


def _resolve(monkeypatch: pytest.MonkeyPatch, docker: FakeDocker, **env: str) -> dict[str, Any]:
    docker.install(monkeypatch)
    context = images.Context(ROOT, Settings.from_env({}), lambda line: None)
    resolved = images.resolve(Engine(host="unix:///x", origin="test"), context, env)
    return {item.image.name: item for item in resolved}


def test_official_images_are_used_when_the_engine_has_or_can_pull_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    docker = FakeDocker(have={"postgres:15"}, pullable={"apache/kafka:4.3.1"})
    found = _resolve(monkeypatch, docker, KAFKA_IMAGE="", JAEGER_IMAGE="my/jaeger:1")
    assert found["postgres"].source == "official (in the engine already)"
    assert found["kafka"].source == "official (pulled)"
    assert (found["jaeger"].reference, found["jaeger"].source) == (
        "my/jaeger:1",
        "given by JAEGER_IMAGE",
    )
    assert found["python"].standin and found["prometheus"].standin
    assert set(docker.built) == {"python", "uv", "prometheus"}
    # Grafana has no stand-in: left out, with the services that need it.
    assert found["grafana"].reference is None
    assert images.unavailable_services(list(found.values())) == ["grafana"]
    env = images.compose_environment(list(found.values()))
    assert env["KAFKA_IMAGE"] == "apache/kafka:4.3.1" and "GRAFANA_IMAGE" not in env


def test_standin_mode_builds_without_asking_a_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    docker = FakeDocker(have={"postgres:15"}, pullable=set())
    found = _resolve(monkeypatch, docker, SAGA_IMAGES="standin")
    assert docker.pulled == ["grafana/grafana:11.6.0"]  # only what has no stand-in
    assert all(found[name].standin for name in ("python", "uv", "kafka", "postgres"))


def test_official_mode_never_builds_a_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    docker = FakeDocker(have=set(), pullable=set())
    found = _resolve(monkeypatch, docker, SAGA_IMAGES="official")
    assert docker.built == [] and all(item.reference is None for item in found.values())
    with pytest.raises(StackError):
        _resolve(monkeypatch, docker, SAGA_IMAGES="sometimes")


def test_a_stand_in_is_named_by_its_recipe(tmp_path: Path) -> None:
    context = images.Context(ROOT, Settings.from_env({}), lambda line: None)
    (postgres,) = [image for image in recipes.catalog(ROOT) if image.name == "postgres"]
    first = images.recipe_hash(postgres, context, [])
    assert first == images.recipe_hash(postgres, context, [])
    extra = tmp_path / "input.txt"
    extra.write_text("one")
    with_input = images.recipe_hash(postgres, context, [(extra, "/opt/")])
    extra.write_text("two")
    assert len({first, with_input, images.recipe_hash(postgres, context, [(extra, "/opt/")])}) == 3
    assert images.standin_reference(postgres, first) == f"saga-standin/postgres:15-bookworm-{first}"


def test_mmdebstrap_builds_from_bookworm_packages_with_the_overlay_and_inputs(
    tmp_path: Path,
) -> None:
    context = images.Context(ROOT, Settings.from_env({}), lambda line: None)
    (kafka,) = [image for image in recipes.catalog(ROOT) if image.name == "kafka"]
    libs = tmp_path / "libs"
    libs.mkdir()
    argv = images.mmdebstrap_argv(kafka, context, [(libs, "/opt/kafka/libs")], tmp_path / "o.tar")
    assert argv[0] == "mmdebstrap" and "--variant=minbase" in argv
    assert argv[-2:] == ["bookworm", str(tmp_path / "o.tar")]
    assert "--include=openjdk-17-jre-headless,bash,procps" in argv
    overlay = ROOT / "deploy/docker/standins/kafka/rootfs"
    assert f"--customize-hook=sync-in {overlay} /" in argv
    assert f"--customize-hook=sync-in {libs} /opt/kafka/libs" in argv
    # The user and directories of the official image come after the files are in.
    hooks = [arg for arg in argv if arg.startswith("--customize-hook=")]
    assert hooks.index(f"--customize-hook=sync-in {overlay} /") < len(hooks) - len(
        kafka.recipe.hooks if kafka.recipe else ()
    )


def test_builds_side_by_side_share_downloaded_packages_under_a_lock_and_only_the_debs(
    tmp_path: Path,
) -> None:
    context = images.Context(ROOT, Settings.from_env({}), lambda line: None)
    (python,) = [image for image in recipes.catalog(ROOT) if image.name == "python"]
    argv = images.mmdebstrap_argv(python, context, [], tmp_path / "o.tar")
    shared = context.cache / "apt-archives"
    # Two runs copying the whole directory (apt's lock, partial/) into it at once could collide.
    assert not [arg for arg in argv if "sync-out" in arg or f"sync-in {shared}" in arg]
    hooks = [arg for arg in argv if str(shared) in arg]
    assert len(hooks) == 2, hooks
    for hook in hooks:
        assert f"flock {shared}/.lock find " in hook and '-name "*.deb"' in hook, hook
    assert hooks[0].startswith("--setup-hook=") and hooks[1].startswith("--customize-hook=")
    assert f"cp -n -t {shared} {{}} +" in hooks[1]


def test_jaeger_stand_in_pairs_with_the_local_stacks_release() -> None:
    assert recipes.jaeger_v2_tag("v1.76.0") == "2.13.0"
    with pytest.raises(StackError):
        recipes.jaeger_v2_tag("v1.62.0")


# -- the engine ---------------------------------------------------------------------------


def test_the_projects_engine_lives_in_the_checkout(tmp_path: Path) -> None:
    where = engines.paths(tmp_path, {})
    assert where.root == (tmp_path / ".local/docker").resolve()
    assert where.host == f"unix://{where.root}/docker.sock"
    # containerd's socket paths must stay short: the exec root is under /run.
    assert str(where.exec_root).startswith("/run/saga-docker-") and len(str(where.exec_root)) < 40
    assert engines.paths(tmp_path, {"SAGA_DOCKER_DIR": str(tmp_path / "d")}).root == tmp_path / "d"


def test_a_running_dockerds_sockets_are_read_from_its_command_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines = {
        1: "dockerd --data-root /x -H unix:///a.sock --host=tcp://127.0.0.1:2375",
        2: "dockerd --host unix:///b.sock",
        3: "dockerd",
    }
    monkeypatch.setattr(engines.processes, "cmdline", lambda pid: lines[pid])
    assert engines.dockerd_hosts(1) == ["unix:///a.sock", "tcp://127.0.0.1:2375"]
    assert engines.dockerd_hosts(2) == ["unix:///b.sock"]
    assert engines.dockerd_hosts(3) == ["unix:///var/run/docker.sock"]


def test_a_docker_host_that_does_not_answer_is_an_error_not_replaced(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(engines, "server_version", lambda host, timeout=15.0: None)
    with pytest.raises(StackError, match="does not answer"):
        engines.find(engines.paths(tmp_path, {}), {"DOCKER_HOST": "unix:///nowhere.sock"})


def test_the_engine_environment_names_the_engine_and_our_compose_plugin(tmp_path: Path) -> None:
    engine = Engine(host="unix:///e.sock", origin="test", config_dir=tmp_path)
    env = engine.env({"PATH": "/bin"})
    assert env == {"PATH": "/bin", "DOCKER_HOST": "unix:///e.sock", "DOCKER_CONFIG": str(tmp_path)}
    assert engine.export_lines() == [
        "export DOCKER_HOST=unix:///e.sock",
        f"export DOCKER_CONFIG={tmp_path}",
    ]
