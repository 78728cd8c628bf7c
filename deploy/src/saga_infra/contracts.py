"""Releases of the contracts package: a git tag per version, its wheel in the local index, and
the commit it was built from, recorded beside the wheel.

`python -m saga_infra.contracts` (`make contracts-release`, ...):

    release           tag HEAD with the tree's shared-events version, build its wheel into the index
    rebuild VERSION   build a released version's wheel again from its commit (when it is missing)
    list              every released version: its commit, its tag, its wheel
    previous          N-1: the newest release older than the tree's version (`make compat`'s)

The index is `contracts-index/` at the repository root: a flat directory of wheels, committed,
which each service's `pyproject.toml` names as the only source of `shared-events`. A release
never replaces a wheel: a version is released once, and the earlier ones stay beside it, so a
service locked on N-1 still installs after N is out. The tag `shared-events-v<version>` marks
the commit whose `shared-events/` the wheel was built from (`git archive` of it), and
`contracts-index/RELEASES` records that commit too, as `SHA256SUMS` records the bytes: both
are committed with the wheel, so a clone without the tags (a branch pushed or cloned alone,
as CI's) still rebuilds every release from history. Exit codes: 0 done, 1 a git or build
step failed, 2 refused (a version already released, not newer than the last, no CHANGELOG
entry, uncommitted changes, a failing check).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

from saga_infra.settings import find_repo_root

PACKAGE = "shared-events"
TAG_PREFIX = "shared-events-v"
INDEX_DIR = "contracts-index"
SUMS_FILE = "SHA256SUMS"
"""In the index: `<sha256>  <wheel>` per release, appended by `release`, never rewritten."""
RECORD_FILE = "RELEASES"
"""In the index: `<version> <commit>` per release, appended by `release`, never rewritten."""
GATES: tuple[tuple[str, ...], ...] = (
    (sys.executable, "-m", "shared_events.schemas", "check"),
    (sys.executable, "-m", "shared_events.asyncapi", "check"),
)
_WHEEL = re.compile(r"^shared_events-(?P<version>[^-]+)-py3-none-any\.whl$")


class Refused(Exception):
    """A release the rules do not allow; the message says which rule (exit 2)."""


class StepFailed(Exception):
    """A git or build command failed; the message holds its last line (exit 1)."""


@dataclass(frozen=True)
class Release:
    version: Version
    commit: str | None  # None: a wheel RELEASES does not name (not built by `release`)
    tag: str | None  # None: not in this clone (tags travel only when pushed or fetched)
    wheel: Path | None  # None: a recorded release whose wheel is missing (rebuild it)


@dataclass(frozen=True)
class Repository:
    root: Path
    checks: tuple[tuple[str, ...], ...] = GATES
    """Commands (run at the root) that must pass before a release: the committed schemas and
    the AsyncAPI document up to date with the tree's contracts, its version included."""

    @property
    def index(self) -> Path:
        return self.root / INDEX_DIR

    @property
    def package_dir(self) -> Path:
        return self.root / PACKAGE

    def tree_version(self) -> Version:
        project = tomllib.loads((self.package_dir / "pyproject.toml").read_text())["project"]
        return Version(project["version"])

    @property
    def sums(self) -> Path:
        return self.index / SUMS_FILE

    def recorded_sums(self) -> dict[str, str]:
        """Wheel file name -> the sha256 its release recorded."""
        if not self.sums.is_file():
            return {}
        pairs = (line.split() for line in self.sums.read_text().splitlines() if line.strip())
        return {name: digest for digest, name in pairs}

    @property
    def record(self) -> Path:
        return self.index / RECORD_FILE

    def recorded_commits(self) -> dict[Version, str]:
        """Version -> the commit its wheel was built from."""
        if not self.record.is_file():
            return {}
        found = {}
        for line in self.record.read_text().splitlines():
            fields = line.split("#", 1)[0].split()
            version = _version(fields[0]) if len(fields) == 2 else None
            if version is not None:
                found[version] = fields[1]
        return found

    def wheel_path(self, version: Version) -> Path:
        return self.index / f"shared_events-{version}-py3-none-any.whl"

    def releases(self) -> list[Release]:
        """Every version with a recorded commit or a wheel, oldest first."""
        wheels = {}
        if self.index.is_dir():
            for path in self.index.iterdir():
                match = _WHEEL.match(path.name)
                version = _version(match["version"]) if match else None
                if version is not None:
                    wheels[version] = path
        commits = self.recorded_commits()
        tags = {}
        for name in self._git("tag", "--list", f"{TAG_PREFIX}*").split():
            version = _version(name.removeprefix(TAG_PREFIX))
            if version is not None:
                tags[version] = name
        return [
            Release(version, commits.get(version), tags.get(version), wheels.get(version))
            for version in sorted({*wheels, *commits})
        ]

    def tagged_commit(self, tag: str) -> str:
        return self._git("rev-parse", f"{tag}^{{commit}}").strip()

    def _git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(self.root), *args], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise StepFailed(f"git {' '.join(args)}: {last[0]}")
        return done.stdout

    def extract(self, commit: str, path: str, into: Path) -> Path:
        """`path` (a directory of the repository) as `commit` holds it, written under `into`."""
        try:
            self._git("cat-file", "-e", f"{commit}^{{commit}}")
        except StepFailed:
            raise StepFailed(
                f"commit {commit} is not in this clone (a shallow one? git fetch --unshallow)"
            ) from None
        archive = into / "source.tar"
        self._git("archive", "--format=tar", f"--output={archive}", commit, path)
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")
        archive.unlink()
        return into / path

    def build_from(self, commit: str, version: Version, into: Path | None = None) -> Path:
        """The wheel of `commit`'s shared-events, built in a scratch copy, written to the index
        (or to `into`)."""
        with tempfile.TemporaryDirectory(prefix="contracts-") as scratch:
            source = self.extract(commit, PACKAGE, Path(scratch))
            return self._build(source, version, into, f"{PACKAGE} {version} (commit {commit[:12]})")

    def build_tree(self, into: Path) -> Path:
        """The wheel of the working tree's shared-events (no git needed), written to `into`."""
        version = self.tree_version()
        return self._build(self.package_dir, version, into, f"the tree's {PACKAGE} {version}")

    def _build(self, source: Path, version: Version, into: Path | None, what: str) -> Path:
        target = (into or self.index) / self.wheel_path(version).name
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="contracts-dist-") as built:
            done = subprocess.run(
                [uv(), "build", "--wheel", "--quiet", "--out-dir", built, str(source)],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
                raise StepFailed(f"uv build of {what}: {last[0]}")
            wheel = Path(built) / self.wheel_path(version).name
            if not wheel.is_file():
                found = ", ".join(p.name for p in Path(built).iterdir()) or "nothing"
                raise StepFailed(f"uv build of {what} made {found}, not {wheel.name}")
            target.write_bytes(wheel.read_bytes())
            return target

    def release(self) -> Path:
        """Tag HEAD with the tree's version, build it into the index, record commit and hash."""
        version = self.tree_version()
        known = {r.version: r for r in self.releases()}
        if version in known:
            raise Refused(
                f"{PACKAGE} {version} is already released ({_where(known[version])}); "
                "bump [project] version in shared-events/pyproject.toml first"
            )
        newest = max(known, default=None)
        if newest is not None and version <= newest:
            raise Refused(f"{PACKAGE} {version} is not newer than the last release, {newest}")
        changelog = (self.package_dir / "CHANGELOG.md").read_text()
        if not re.search(rf"^## {re.escape(str(version))}\s*$", changelog, re.MULTILINE):
            raise Refused(f"shared-events/CHANGELOG.md has no '## {version}' entry")
        for command in self.checks:
            gate = subprocess.run(command, cwd=self.root, capture_output=True, text=True)
            if gate.returncode != 0:
                last = (gate.stdout + gate.stderr).strip().splitlines()[-1:] or ["no output"]
                raise Refused(f"{' '.join(command[1:])} failed: {last[0]} (make schemas first)")
        dirty = self._git("status", "--porcelain", "--", PACKAGE).strip()
        if dirty:
            raise Refused(
                "shared-events/ has uncommitted changes: commit them, so the tagged commit "
                "holds what the wheel is built from"
            )
        commit = self._git("rev-parse", "HEAD").strip()
        tag = f"{TAG_PREFIX}{version}"
        self._git("tag", "--annotate", tag, "--message", f"{PACKAGE} {version}", commit)
        try:
            wheel = self.build_from(commit, version)
        except StepFailed:
            self._git("tag", "--delete", tag)
            raise
        with self.sums.open("a") as sums:
            sums.write(f"{_sha256(wheel)}  {wheel.name}\n")
        with self.record.open("a") as record:
            record.write(f"{version} {commit}\n")
        return wheel

    def rebuild(self, version: Version) -> Path:
        release = {r.version: r for r in self.releases()}.get(version)
        if release is None or release.commit is None:
            raise Refused(f"{INDEX_DIR}/{RECORD_FILE} has no {version}: it was never released here")
        if release.wheel is not None:
            raise Refused(f"{release.wheel.relative_to(self.root)} is there already")
        wheel = self.build_from(release.commit, version)
        recorded = self.recorded_sums().get(wheel.name)
        if recorded is not None and recorded != _sha256(wheel):
            wheel.unlink()
            raise StepFailed(f"commit {release.commit} builds a wheel other than {version}'s")
        if recorded is None:
            with self.sums.open("a") as sums:
                sums.write(f"{_sha256(wheel)}  {wheel.name}\n")
        return wheel

    def previous(self) -> Version | None:
        """N-1: the newest release (with its wheel) older than the tree's version."""
        released = [r.version for r in self.releases() if r.wheel is not None]
        return previous_release(released, self.tree_version())


def previous_release(released: Iterable[Version], tree: Version) -> Version | None:
    """N-1: the newest release older than the tree's version.

    With the tree on the newest release (main) that is the release before it; a tree bumped
    ahead of its release has the newest release as its N-1.
    """
    return max((version for version in released if version < tree), default=None)


def uv() -> str:
    """The uv to run: `UV` (the Makefile passes its own), else the one on PATH."""
    return os.environ.get("UV") or "uv"


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _where(release: Release) -> str:
    parts = [f"commit {release.commit[:12]}"] if release.commit else []
    if release.tag:
        parts.append(f"tag {release.tag}")
    if release.wheel is not None:
        parts.append(f"{INDEX_DIR}/{release.wheel.name}")
    return ", ".join(parts)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m saga_infra.contracts",
        description="Release the contracts package (shared-events) by version.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("release", help="tag HEAD with the tree's version, build its wheel")
    rebuild = commands.add_parser("rebuild", help="build a released version again from its commit")
    rebuild.add_argument("version")
    commands.add_parser("list", help="every released version, its commit, tag and wheel")
    commands.add_parser("previous", help="print N-1: the newest release older than the tree's")
    args = parser.parse_args(argv)
    repo = Repository(find_repo_root(), checks=GATES)
    try:
        if args.command == "release":
            wheel = repo.release()
            version = repo.tree_version()
            commit = repo.recorded_commits()[version]
            print(f"released {PACKAGE} {version}: tag {TAG_PREFIX}{version}, commit {commit}")
            print(f"  {wheel.relative_to(repo.root)} sha256 {_sha256(wheel)}")
            print(
                f"next: commit {INDEX_DIR}/ (the wheel, {SUMS_FILE}, {RECORD_FILE}) and push the "
                "tag; then re-lock the services that should move (make -C services/<name> lock)"
            )
        elif args.command == "rebuild":
            wanted = _version(args.version)
            if wanted is None:
                raise Refused(f"{args.version!r} is not a version (e.g. 3.0.0)")
            wheel = repo.rebuild(wanted)
            print(f"rebuilt {wheel.relative_to(repo.root)} sha256 {_sha256(wheel)}")
        elif args.command == "list":
            releases = repo.releases()
            if not releases:
                print(f"no release of {PACKAGE} yet (make contracts-release makes the first)")
            for release in releases:
                print(f"{release.version}\t{_where(release) or '-'}")
        else:
            previous = repo.previous()
            if previous is None:
                print("no earlier release", file=sys.stderr)
                return 3
            print(previous)
    except Refused as exc:
        print(f"contracts: refused: {exc}", file=sys.stderr)
        return 2
    except StepFailed as exc:
        print(f"contracts: failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
