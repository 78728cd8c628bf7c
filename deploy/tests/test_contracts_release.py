"""saga_infra.contracts: releases (a tag, a wheel, the recorded commit), refusals, rebuilds."""

import hashlib
import subprocess
from pathlib import Path

import pytest
from packaging.version import Version

from saga_infra import contracts
from saga_infra.contracts import Refused, Repository
from saga_infra.settings import find_repo_root

PYPROJECT = """[project]
name = "shared-events"
version = "{version}"
requires-python = ">=3.11"
dependencies = []

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["src/shared_events"]
"""


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True
    ).stdout


def _set_version(root: Path, version: str, *, changelog: bool = True) -> None:
    package = root / "shared-events"
    (package / "pyproject.toml").write_text(PYPROJECT.format(version=version))
    log = package / "CHANGELOG.md"
    entries = log.read_text() if log.exists() else "# Changelog\n"
    if changelog:
        entries += f"\n## {version}\n\nA change.\n"
    log.write_text(entries)
    (package / "src/shared_events/__init__.py").write_text(f'VERSION = "{version}"\n')
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", f"shared-events {version}")


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    root = tmp_path / "repo"
    (root / "shared-events/src/shared_events").mkdir(parents=True)
    (root / "uv.lock").write_text("")
    _git(root, "init", "-q")
    _git(root, "config", "user.email", "test@example.invalid")
    _git(root, "config", "user.name", "test")
    _set_version(root, "1.0.0")
    return Repository(root, checks=())


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_release_tags_head_builds_its_wheel_and_records_its_commit(repo: Repository) -> None:
    wheel = repo.release()
    assert wheel == repo.index / "shared_events-1.0.0-py3-none-any.whl" and wheel.is_file()
    head = _git(repo.root, "rev-parse", "HEAD").strip()
    assert repo.tagged_commit("shared-events-v1.0.0") == head
    assert (repo.index / "RELEASES").read_text() == f"1.0.0 {head}\n"
    assert repo.recorded_sums() == {wheel.name: _sha(wheel)}
    (release,) = repo.releases()
    assert (release.version, release.commit, release.tag, release.wheel) == (
        Version("1.0.0"),
        head,
        "shared-events-v1.0.0",
        wheel,
    )


def test_a_clone_without_tags_has_every_release_and_rebuilds_it(
    repo: Repository, tmp_path: Path
) -> None:
    """What CI checks out: the branch, without its tags. The record travels in the index."""
    wheel = repo.release()
    _git(repo.root, "add", "-A")
    _git(repo.root, "commit", "-qm", "release 1.0.0")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--no-tags", str(repo.root), str(clone)], check=True)
    assert _git(clone, "tag") == ""
    cloned = Repository(clone, checks=())
    (release,) = cloned.releases()
    assert release.tag is None
    assert release.commit == repo.tagged_commit("shared-events-v1.0.0")
    rebuilt = cloned.build_from(release.commit, release.version, into=tmp_path / "out")
    assert _sha(rebuilt) == _sha(wheel)


def test_a_second_release_keeps_the_first_and_previous_is_n_minus_1(repo: Repository) -> None:
    first = repo.release()
    assert repo.previous() is None
    _set_version(repo.root, "1.1.0")
    second = repo.release()
    assert first.is_file() and second.is_file()
    assert [str(r.version) for r in repo.releases()] == ["1.0.0", "1.1.0"]
    assert repo.previous() == Version("1.0.0")


def test_releasing_a_released_version_again_is_refused(repo: Repository) -> None:
    wheel = repo.release()
    before = _sha(wheel)
    with pytest.raises(Refused, match="1.0.0 is already released"):
        repo.release()
    assert _sha(wheel) == before


def test_a_version_not_newer_than_the_last_release_is_refused(repo: Repository) -> None:
    _set_version(repo.root, "2.0.0")
    repo.release()
    _set_version(repo.root, "1.5.0")
    with pytest.raises(Refused, match="not newer than the last release, 2.0.0"):
        repo.release()
    assert list(repo.recorded_commits()) == [Version("2.0.0")]
    assert "shared-events-v1.5.0" not in _git(repo.root, "tag")


def test_a_version_without_its_changelog_entry_is_refused(repo: Repository) -> None:
    _set_version(repo.root, "1.1.0", changelog=False)
    with pytest.raises(Refused, match="no '## 1.1.0' entry"):
        repo.release()
    assert not repo.index.exists()


def test_a_failing_gate_refuses_the_release(repo: Repository) -> None:
    gated = Repository(repo.root, checks=(("sh", "-c", "echo stale asyncapi.yaml; exit 1"),))
    with pytest.raises(Refused, match="stale asyncapi.yaml .make schemas first"):
        gated.release()
    assert _git(repo.root, "tag") == "" and not repo.index.exists()


def test_the_gates_are_the_schema_and_asyncapi_checks_and_pass_on_the_tree() -> None:
    assert [gate[1:] for gate in contracts.GATES] == [
        ("-m", "shared_events.schemas", "check"),
        ("-m", "shared_events.asyncapi", "check"),
    ]
    for gate in contracts.GATES:
        done = subprocess.run(gate, cwd=find_repo_root(), capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_uncommitted_changes_are_refused(repo: Repository) -> None:
    (repo.root / "shared-events/src/shared_events/new.py").write_text("X = 1\n")
    with pytest.raises(Refused, match="uncommitted changes"):
        repo.release()
    assert _git(repo.root, "tag") == "" and not repo.index.exists()


def test_a_lost_wheel_is_rebuilt_from_its_commit_byte_for_byte(repo: Repository) -> None:
    wheel = repo.release()
    released = _sha(wheel)
    _set_version(repo.root, "1.1.0")  # the tree moved on; the release's commit did not
    wheel.unlink()
    assert repo.rebuild(Version("1.0.0")) == wheel
    assert _sha(wheel) == released
    with pytest.raises(Refused, match="is there already"):
        repo.rebuild(Version("1.0.0"))
    with pytest.raises(Refused, match="never released"):
        repo.rebuild(Version("9.9.9"))


def test_the_cli_exits_2_with_one_line_on_a_refusal(
    repo: Repository, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(contracts, "find_repo_root", lambda: repo.root)
    monkeypatch.setattr(contracts, "GATES", ())
    assert contracts.main(["release"]) == 0
    assert contracts.main(["release"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("contracts: refused: shared-events 1.0.0")
    assert contracts.main(["previous"]) == 3
    assert contracts.main(["rebuild", "not-a-version"]) == 2


def test_every_committed_wheel_is_what_its_commit_builds(tmp_path: Path) -> None:
    """N-1 can always be rebuilt: each wheel in contracts-index is its recorded commit's
    build, exactly; that commit is in main's history, and its tag, where this clone has it,
    marks it."""
    real = Repository(find_repo_root())
    releases = real.releases()
    assert releases, "contracts-index holds no release"
    unrecorded = [str(r.version) for r in releases if r.commit is None]
    assert not unrecorded, f"wheels contracts-index/RELEASES does not name: {unrecorded}"
    if _is_shallow(real.root):  # .ci/run unshallows a clone that has its origin
        pytest.skip("a shallow clone without its history: git fetch --unshallow")
    for release in releases:
        assert release.commit is not None
        assert release.wheel is not None, f"{release.version} has no wheel in contracts-index"
        ancestor = subprocess.run(
            ["git", "-C", str(real.root), "merge-base", "--is-ancestor", release.commit, "HEAD"]
        )
        assert ancestor.returncode == 0, f"{release.version}'s {release.commit} is not in HEAD"
        if release.tag is not None:
            assert real.tagged_commit(release.tag) == release.commit, f"{release.tag} moved"
        rebuilt = real.build_from(release.commit, release.version, into=tmp_path)
        assert _sha(rebuilt) == _sha(release.wheel), f"{release.commit} builds another wheel"


def _is_shallow(root: Path) -> bool:
    return _git(root, "rev-parse", "--is-shallow-repository").strip() == "true"


def test_no_released_wheel_was_replaced_or_removed() -> None:
    """contracts-index/SHA256SUMS holds what each release built; the wheels are those bytes."""
    real = Repository(find_repo_root())
    wheels = {r.wheel.name: _sha(r.wheel) for r in real.releases() if r.wheel is not None}
    assert wheels == real.recorded_sums()


def test_the_tree_changes_the_contracts_only_under_a_new_version(tmp_path: Path) -> None:
    """A released version is never changed: the tree's shared-events (its code, its committed
    schemas, its metadata) builds that version's wheel byte for byte, or the tree carries a
    newer version. No git history needed."""
    real = Repository(find_repo_root())
    version = real.tree_version()
    released = {r.version: r for r in real.releases()}
    if version not in released:
        assert version > max(released), f"the tree's {version} is older than a release"
        return
    wheel = released[version].wheel
    assert wheel is not None, f"{version} has no wheel in contracts-index"
    assert _sha(real.build_tree(tmp_path)) == _sha(wheel), (
        f"shared-events/ changed since {version} was released, without a new version: bump "
        "shared-events' version, write its CHANGELOG entry, make contracts-release"
    )
