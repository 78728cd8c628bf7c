"""Releases of the contracts package: a git tag per version and its wheel in the local index.

`python -m saga_infra.contracts` (`make contracts-release`, ...):

    release           tag the tree's shared-events version and build its wheel into the index
    rebuild VERSION   build a released version's wheel again from its tag (when it is missing)
    list              every released version: its tag, its wheel
    previous          N-1: the newest release older than the tree's version (`make compat`'s)

The index is `contracts-index/` at the repository root: a flat directory of wheels, committed,
which each service's `pyproject.toml` names as the only source of `shared-events`. A release
never replaces a wheel: a version is released once, and the earlier ones stay beside it, so a
service locked on N-1 still installs after N is out. The tag `shared-events-v<version>` is
what the wheel was built from (`git archive` of the tag's `shared-events/`), so any release
can be rebuilt from history. Exit codes: 0 done, 1 a git or build step failed, 2 refused (a
version already released, not newer than the last, no CHANGELOG entry, uncommitted changes).
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
    tag: str | None  # None: a wheel without its tag (a clone without tags)
    wheel: Path | None  # None: a tag whose wheel is not in the index (rebuild it)


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

    def wheel_path(self, version: Version) -> Path:
        return self.index / f"shared_events-{version}-py3-none-any.whl"

    def releases(self) -> list[Release]:
        """Every version with a tag or a wheel, oldest first."""
        wheels = {}
        if self.index.is_dir():
            for path in self.index.iterdir():
                match = _WHEEL.match(path.name)
                version = _version(match["version"]) if match else None
                if version is not None:
                    wheels[version] = path
        tags = {}
        for name in self._git("tag", "--list", f"{TAG_PREFIX}*").split():
            version = _version(name.removeprefix(TAG_PREFIX))
            if version is not None:
                tags[version] = name
        return [
            Release(version, tags.get(version), wheels.get(version))
            for version in sorted({*wheels, *tags})
        ]

    def _git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(self.root), *args], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise StepFailed(f"git {' '.join(args)}: {last[0]}")
        return done.stdout

    def extract(self, tag: str, path: str, into: Path) -> Path:
        """`path` (a directory of the repository) as `tag` holds it, written under `into`."""
        archive = into / "tag.tar"
        self._git("archive", "--format=tar", f"--output={archive}", tag, path)
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")
        archive.unlink()
        return into / path

    def build_from_tag(self, tag: str, version: Version, into: Path | None = None) -> Path:
        """The wheel of `tag`'s shared-events, built in a scratch copy, written to the index
        (or to `into`)."""
        target = (into or self.index) / self.wheel_path(version).name
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="contracts-") as scratch:
            source = self.extract(tag, PACKAGE, Path(scratch))
            built = Path(scratch) / "dist"
            done = subprocess.run(
                [uv(), "build", "--wheel", "--quiet", "--out-dir", str(built), str(source)],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
                raise StepFailed(f"uv build of {tag}: {last[0]}")
            wheel = built / self.wheel_path(version).name
            if not wheel.is_file():
                found = ", ".join(p.name for p in built.iterdir()) or "nothing"
                raise StepFailed(f"uv build of {tag} made {found}, not {wheel.name}")
            target.write_bytes(wheel.read_bytes())
            return target

    def release(self) -> Path:
        """Tag the tree's version at HEAD and build its wheel from that tag."""
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
                "shared-events/ has uncommitted changes: commit them, so the tag holds "
                "what the wheel is built from"
            )
        tag = f"{TAG_PREFIX}{version}"
        self._git("tag", "--annotate", tag, "--message", f"{PACKAGE} {version}")
        try:
            wheel = self.build_from_tag(tag, version)
        except StepFailed:
            self._git("tag", "--delete", tag)
            raise
        with self.sums.open("a") as sums:
            sums.write(f"{_sha256(wheel)}  {wheel.name}\n")
        return wheel

    def rebuild(self, version: Version) -> Path:
        release = {r.version: r for r in self.releases()}.get(version)
        if release is None or release.tag is None:
            raise Refused(f"no tag {TAG_PREFIX}{version}: {version} was never released here")
        if release.wheel is not None:
            raise Refused(f"{release.wheel.relative_to(self.root)} is there already")
        wheel = self.build_from_tag(release.tag, version)
        recorded = self.recorded_sums().get(wheel.name)
        if recorded is not None and recorded != _sha256(wheel):
            wheel.unlink()
            raise StepFailed(f"{_tag_of(release)} builds a wheel other than the one released")
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


def _tag_of(release: Release) -> str:
    return release.tag or str(release.version)


def _where(release: Release) -> str:
    parts = [f"tag {release.tag}"] if release.tag else []
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
    commands.add_parser("release", help="tag the tree's version, build its wheel into the index")
    rebuild = commands.add_parser("rebuild", help="build a released version's wheel from its tag")
    rebuild.add_argument("version")
    commands.add_parser("list", help="every released version, its tag and wheel")
    commands.add_parser("previous", help="print N-1: the newest release older than the tree's")
    args = parser.parse_args(argv)
    repo = Repository(find_repo_root(), checks=GATES)
    try:
        if args.command == "release":
            wheel = repo.release()
            version = repo.tree_version()
            print(f"released {PACKAGE} {version}: tag {TAG_PREFIX}{version}")
            print(f"  {wheel.relative_to(repo.root)} sha256 {_sha256(wheel)}")
            print("next: re-lock the services that should move (make -C services/<name> lock)")
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
