"""Finding Go: PATH first, then where the machine image keeps it."""

from pathlib import Path

import pytest

from saga_infra import golang


def test_go_on_path_comes_first_then_the_machine_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_path = tmp_path / "bin" / "go"
    on_path.parent.mkdir()
    on_path.write_text("#!/bin/sh\n")
    on_path.chmod(0o755)
    fallback = tmp_path / "usr-local-go" / "go"
    monkeypatch.setattr(golang, "FALLBACK", fallback)

    monkeypatch.setenv("PATH", str(on_path.parent))
    assert golang.find_go() == str(on_path)

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert golang.find_go() is None
    fallback.parent.mkdir()
    fallback.write_text("#!/bin/sh\n")
    assert golang.find_go() == str(fallback)
