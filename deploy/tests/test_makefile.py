"""The Makefile's `help` lists every entry point the README and CI rely on."""

import re
import subprocess

from saga_infra.settings import find_repo_root

REQUIRED = {
    "install", "infra-up", "infra-down", "infra-reset", "lint", "test", "e2e",
    "dev", "dev-down", "up", "chaos", "fuzz", "schemas", "schemas-check", "bench", "bench-smoke",
    "alerts-check",
}  # fmt: skip


def test_help_lists_every_entry_point_with_a_description() -> None:
    done = subprocess.run(
        ["make", "--no-print-directory", "help"],
        cwd=find_repo_root(),
        capture_output=True,
        text=True,
        check=True,
    )
    plain = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout)
    listed = {m[0]: m[1] for m in re.findall(r"^\s+(\S+)\s+(\S.*)$", plain, re.MULTILINE)}

    assert REQUIRED <= set(listed), f"missing from make help: {REQUIRED - set(listed)}"
    assert all(listed[name] for name in REQUIRED)
