"""No credential is written into the code: only the local stack's documented defaults."""

import re
import subprocess

import pytest
from pydantic import ValidationError

from inventory_service.settings import Settings as InventorySettings
from order_service.settings import Settings as OrderSettings
from payment_service.settings import Settings as PaymentSettings
from saga_infra.settings import SERVICE_ROLES, find_repo_root

ROOT = find_repo_root()
SOURCES = re.compile(r"(\.(py|sh|sql|ya?ml|toml|ini|cfg)|Dockerfile)$")
LITERAL_SECRET = re.compile(
    r"(password|passwd|secret|token)\w*[\"']?\s*(:\s*[\w\[\] |.]+\s*)?(=|:(?=\s))\s*"
    r"[\"']([^\"'$:{][^\"']*)[\"']",
    re.I,
)
URL_WITH_PASSWORD = re.compile(r"://[^:/@\s\"']+:([^@/\s\"']+)@")
# psql's :'variable' is a placeholder, so a bare colon only counts when a space follows it.
# The local stack's role passwords are the role names (documented, refused elsewhere).
ALLOWED = {f"services/{role.split('_')[0]}/src/{role}/settings.py": role for role in SERVICE_ROLES}


def _tracked_sources() -> list[str]:
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [f for f in files if SOURCES.search(f) and "/tests/" not in f and "tests-e2e" not in f]


def test_no_source_file_holds_a_literal_credential() -> None:
    found = []
    for path in _tracked_sources():
        for number, line in enumerate((ROOT / path).read_text().splitlines(), 1):
            for match in LITERAL_SECRET.finditer(line):
                if ALLOWED.get(path) != match.group(4):
                    found.append(f"{path}:{number}: {line.strip()}")
            for match in URL_WITH_PASSWORD.finditer(line):
                if not match.group(1).startswith(("{", "$", "%")):
                    found.append(f"{path}:{number}: {line.strip()}")
    assert found == []


def test_the_scan_would_see_a_hard_coded_password() -> None:
    assert LITERAL_SECRET.search('db_password: str = "hunter2"')
    assert URL_WITH_PASSWORD.search("postgresql://app:hunter2@db/saga")


@pytest.mark.parametrize(
    ("settings", "prefix"),
    [(OrderSettings, "ORDER"), (PaymentSettings, "PAYMENT"), (InventorySettings, "INVENTORY")],
)
def test_each_service_refuses_its_local_password_outside_local(
    monkeypatch: pytest.MonkeyPatch, settings: type, prefix: str
) -> None:
    for var in ("DB_PASSWORD", "DB_USER"):
        monkeypatch.delenv(f"{prefix}_{var}", raising=False)
    monkeypatch.setenv(f"{prefix}_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match=f"{prefix}_DB_PASSWORD"):
        settings()
    monkeypatch.setenv(f"{prefix}_DB_PASSWORD", "a-real-secret")
    configured = settings()
    assert configured.db_user == f"{prefix.lower()}_service"
