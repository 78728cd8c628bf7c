"""The alert rules (deploy/local/prometheus/alerts.yml): valid, unit-tested, every alert both ways.

promtool comes with Debian's prometheus package, which .ci/run installs: a missing promtool is
a failure here, never a skip.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from saga_infra import prometheus_server
from saga_infra.errors import MissingToolError
from saga_infra.settings import Settings

SETTINGS = Settings.from_env()
RULES = SETTINGS.prometheus_rules
RULE_TESTS = RULES.with_name("alerts_test.yml")
EXPECTED_ALERTS = {
    "SagaStuckPastDeadline",
    "ConsumerLagHigh",
    "DeadLetterTopicNotEmpty",
    "OutboxOldestAgeHigh",
    "ServiceDown",
}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        promtool = prometheus_server.promtool(SETTINGS)
    except MissingToolError as exc:
        pytest.fail(f"{exc} (CI installs it in .ci/run)", pytrace=False)
    return subprocess.run(
        [promtool, *args], cwd=RULES.parent, capture_output=True, text=True, timeout=60
    )


def _load(path: Path) -> Any:
    with path.open() as file:
        return yaml.safe_load(file)


def _alerts() -> list[dict[str, Any]]:
    return [rule for group in _load(RULES)["groups"] for rule in group["rules"] if "alert" in rule]


def test_promtool_check_rules_accepts_the_rules() -> None:
    done = _promtool("check", "rules", RULES.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in done.stdout


def test_promtool_test_rules_passes_the_unit_tests() -> None:
    done = _promtool("test", "rules", RULE_TESTS.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_the_rules_are_the_saga_alerts_each_with_severity_summary_and_description() -> None:
    alerts = _alerts()
    assert {rule["alert"] for rule in alerts} == EXPECTED_ALERTS
    for rule in alerts:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]
        assert rule.get("for"), f"{rule['alert']} fires on a single evaluation"


def test_every_alert_has_a_case_that_fires_it_and_one_that_does_not() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in _load(RULE_TESTS)["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in _alerts()}
    assert names - firing == set(), "alerts without a case that fires them"
    assert names - quiet == set(), "alerts without a case that does not fire them"


def test_the_rule_tests_load_the_committed_rules() -> None:
    assert _load(RULE_TESTS)["rule_files"] == [RULES.name]
