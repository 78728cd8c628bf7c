"""The local Prometheus's settings, generated config, targets and port check (no server runs)."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from saga_infra import dev, prometheus_server, stack
from saga_infra.errors import MissingToolError, PortInUseError
from saga_infra.settings import Settings


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"STACK_DIR": str(tmp_path / "stack"), **env})


def _config(settings: Settings) -> Any:
    return yaml.safe_load(prometheus_server.render_config(settings))


def test_defaults_one_prometheus_on_loopback_9090_every_5s() -> None:
    settings = Settings.from_env({})
    assert settings.prometheus is True
    assert (settings.prometheus_host, settings.prometheus_port) == ("127.0.0.1", 9090)
    assert settings.prometheus_scrape_interval == "5s"
    assert (settings.prometheus_bin, settings.promtool_bin) == ("prometheus", "promtool")
    assert settings.prometheus_url == "http://127.0.0.1:9090"
    assert prometheus_server.ports(settings) == [("PROMETHEUS_PORT", 9090)]


@pytest.mark.parametrize("value", ["0", "false", "no", "off", " OFF "])
def test_prometheus_0_leaves_it_out(value: str) -> None:
    assert Settings.from_env({"PROMETHEUS": value}).prometheus is False


def test_every_setting_comes_from_the_environment(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        PROMETHEUS_BIN="/opt/prom/prometheus",
        PROMTOOL_BIN="/opt/prom/promtool",
        PROMETHEUS_HOST="127.0.0.2",
        PROMETHEUS_PORT="19090",
        PROMETHEUS_SCRAPE_INTERVAL="1s",
    )
    assert settings.prometheus_bin == "/opt/prom/prometheus"
    assert settings.promtool_bin == "/opt/prom/promtool"
    assert settings.prometheus_url == "http://127.0.0.2:19090"
    assert settings.prometheus_scrape_interval == "1s"
    assert settings.prometheus_dir == tmp_path / "stack" / "prometheus"


def test_config_scrapes_every_targets_file_and_loads_the_committed_rules(tmp_path: Path) -> None:
    settings = _settings(tmp_path, PROMETHEUS_SCRAPE_INTERVAL="1s")
    config = _config(settings)

    assert config["global"] == {"scrape_interval": "1s", "evaluation_interval": "1s"}
    rules = Path(config["rule_files"][0])
    assert config["rule_files"] == [str(settings.repo_root / "deploy/local/prometheus/alerts.yml")]
    assert rules.is_absolute() and rules.is_file()
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "saga" and job["metrics_path"] == "/metrics"
    (discovery,) = job["file_sd_configs"]
    targets = prometheus_server.targets_dir(settings)
    assert targets == tmp_path / "stack" / "prometheus" / "targets"
    assert discovery["files"] == [f"{targets}/*.json"]


def test_it_listens_on_the_configured_loopback_address_only(tmp_path: Path) -> None:
    settings = _settings(tmp_path, PROMETHEUS_PORT="19090")
    argv = prometheus_server.argv(settings)
    assert "--web.listen-address=127.0.0.1:19090" in argv
    assert f"--config.file={prometheus_server.config_file(settings)}" in argv
    assert f"--storage.tsdb.path={tmp_path / 'stack' / 'prometheus' / 'data'}" in argv
    assert prometheus_server.pid_file(settings) == settings.run_dir / "prometheus.pid"
    assert prometheus_server.log_file(settings) == settings.log_dir / "prometheus.log"


def test_promtool_accepts_the_generated_config_with_the_service_targets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("ORDER_HTTP_PORT", "PAYMENT_HTTP_PORT", "INVENTORY_HTTP_PORT"):
        monkeypatch.delenv(var, raising=False)
    settings = _settings(tmp_path)
    config = prometheus_server.write_config(settings)
    prometheus_server.write_service_targets(settings)
    try:
        promtool = prometheus_server.promtool(settings)
    except MissingToolError as exc:
        pytest.fail(f"{exc} (CI installs it in .ci/run)", pytrace=False)

    done = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 5 rules found" in done.stdout


def test_services_json_names_each_service_at_its_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDER_HTTP_PORT", "48001")
    monkeypatch.delenv("PAYMENT_HTTP_PORT", raising=False)
    monkeypatch.setenv("INVENTORY_HTTP_PORT", "48003")
    settings = _settings(tmp_path)

    path = prometheus_server.write_service_targets(settings)

    assert path == prometheus_server.targets_dir(settings) / "services.json"
    assert json.loads(path.read_text()) == [
        {"targets": ["127.0.0.1:48001"], "labels": {"service": "order"}},
        {"targets": ["127.0.0.1:8002"], "labels": {"service": "payment"}},
        {"targets": ["127.0.0.1:48003"], "labels": {"service": "inventory"}},
    ]
    assert [p.name for p in path.parent.iterdir()] == ["services.json"]  # no partial left


def test_more_instances_are_one_more_targets_file(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    replica = {"service": "payment", "replica": "2"}

    path = prometheus_server.write_targets(settings, "payment-2", [("127.0.0.1:48102", replica)])

    assert path.name == "payment-2.json" and path.parent == prometheus_server.targets_dir(settings)
    assert json.loads(path.read_text()) == [{"targets": ["127.0.0.1:48102"], "labels": replica}]


def test_up_refuses_a_taken_prometheus_port(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        settings = _settings(tmp_path, PROMETHEUS_PORT=str(port))
        wanted = {"kafka": False, "postgres": False, "jaeger": False}
        with pytest.raises(PortInUseError, match=rf"port {port} is already in use \(PROMETHEUS_"):
            stack._check_ports(settings, **wanted, prometheus=True)
        stack._check_ports(settings, **wanted, prometheus=False)  # PROMETHEUS=0: not checked


def test_a_missing_prometheus_binary_says_what_to_do(tmp_path: Path) -> None:
    settings = _settings(tmp_path, PROMETHEUS_BIN=str(tmp_path / "no-such-prometheus"))
    with pytest.raises(MissingToolError, match="PROMETHEUS_BIN.*PROMETHEUS=0"):
        prometheus_server.binary(settings)


def test_stop_without_a_running_prometheus_is_a_noop(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert prometheus_server.running_pid(settings) is None
    assert prometheus_server.stop(settings) is None


def test_make_dev_prints_the_prometheus_and_jaeger_urls(tmp_path: Path) -> None:
    lines = "\n".join(dev.usage_lines(_settings(tmp_path, PROMETHEUS_PORT="19090")))
    assert "prometheus http://127.0.0.1:19090" in lines
    assert "jaeger     http://127.0.0.1:16686" in lines
    quiet = dev.usage_lines(_settings(tmp_path, PROMETHEUS="0", JAEGER="0"))
    assert not [line for line in quiet if line.startswith(("prometheus", "jaeger"))]
    assert dev.usage_lines() == quiet  # `demo` (docker compose) knows no local stack
