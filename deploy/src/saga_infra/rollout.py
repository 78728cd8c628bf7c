"""The safe order of deployment between two contracts releases, read off the wheels themselves.

`python -m saga_infra.rollout OLD NEW` (`make compat` prints it first): each release's own
registry, run from its own wheel (`uv run --no-project --with <wheel>`), says which event
versions it can decode and the topic each travels on (its models' `topic`, which its committed
schemas were generated from). Then, for every (event type, version):

- known to NEW only: a consumer still on OLD dead-letters it (`unsupported_event_version`), so
  every service consuming that type goes first, and its producers write it only after;
- known to OLD only (a version NEW dropped: a major release): a consumer on NEW cannot read
  what an OLD producer still writes, so the producers go first, and the consumers only once
  no record of it is left to read;
- on another topic in NEW (the same version moved): the consumers first, reading both
  topics, then the producers, which write only the new one;
- known to both, on the same topic: any order.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from saga_infra.contracts import PACKAGE, Refused, Repository, StepFailed, uv
from saga_infra.settings import find_repo_root
from shared_events.topology import SERVICES

Key = tuple[str, int]

# Run by the release's own interpreter: what its registry decodes, and on which topic
# (2.x named the registry CATALOG).
_KNOWN_SCRIPT = """
import json, shared_events as s
registry = getattr(s, "EVENT_REGISTRY", None) or getattr(s, "CATALOG")
print(json.dumps([
    [t, v, registry.model(t, v).topic]
    for t in registry.event_types() for v in registry.versions(t)
]))
"""


@dataclass(frozen=True)
class Step:
    """One event version that constrains the order, and what to deploy first."""

    key: Key
    first: tuple[str, ...]
    then: tuple[str, ...]
    why: str


def producers_of(event_type: str, topics: Mapping[Key, str]) -> tuple[str, ...]:
    """The services whose relays publish to the topics this type travels on."""
    used = {topic for (t, _), topic in topics.items() if t == event_type}
    return tuple(sorted(s.name for s in SERVICES if used & set(s.writes)))


def consumers_of(event_type: str) -> tuple[str, ...]:
    """The services whose consumers apply this type."""
    return tuple(
        sorted(s.name for s in SERVICES if any(event_type in types for types in s.handles.values()))
    )


def plan(old: Mapping[Key, str], new: Mapping[Key, str]) -> list[Step]:
    """The steps between two releases, each given as (type, version) -> topic of every version
    it decodes; [] when any order is safe."""
    topics = {**old, **new}  # a version both know: where NEW puts it
    steps = []
    for key, topic in sorted(old.items()):
        if key in new and new[key] != topic:
            steps.append(
                Step(
                    key,
                    consumers_of(key[0]),
                    producers_of(key[0], topics),
                    f"moved from {topic} to {new[key]}: consumers first",
                )
            )
    for key in sorted(new.keys() - old.keys()):
        consumers = consumers_of(key[0])
        if consumers:
            steps.append(
                Step(key, consumers, producers_of(key[0], topics), "new version: consumers first")
            )
    for key in sorted(old.keys() - new.keys()):
        consumers = consumers_of(key[0])
        if consumers:
            steps.append(
                Step(
                    key,
                    producers_of(key[0], topics),
                    consumers,
                    "dropped version: producers first, consumers once none is left to read",
                )
            )
    return steps


def describe(old: Version, new: Version, steps: Sequence[Step]) -> list[str]:
    """The lines `make compat` prints."""
    if not steps:
        return [
            f"rollout {old} -> {new}: every event version is readable by both releases; "
            "any order of deployment is safe"
        ]
    lines = [f"rollout {old} -> {new}: deploy in this order"]
    for step in steps:
        event_type, version = step.key
        lines.append(
            f"  {event_type} v{version} ({step.why}): {', '.join(step.first) or '-'} "
            f"before {', '.join(step.then) or '-'}"
        )
    return lines


def known_versions(repo: Repository, version: Version) -> dict[Key, str]:
    """(type, version) -> topic of everything the release's own registry decodes, read from
    its wheel by its own interpreter."""
    wheel = repo.wheel_path(version)
    if not wheel.is_file():
        raise Refused(f"no wheel of {PACKAGE} {version} in contracts-index")
    done = subprocess.run(
        [
            uv(),
            "run",
            "--quiet",
            "--no-project",
            "--with",
            str(wheel),
            "python",
            "-c",
            _KNOWN_SCRIPT,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise StepFailed(f"reading {PACKAGE} {version}'s registry: {last[0]}")
    return {(t, int(v)): topic for t, v, topic in json.loads(done.stdout)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m saga_infra.rollout",
        description="The safe order of deployment between two released contracts versions.",
    )
    parser.add_argument("old", help="the release deployed now, e.g. 3.0.0")
    parser.add_argument("new", help="the release rolling out, e.g. 3.1.0")
    args = parser.parse_args(argv)
    repo = Repository(find_repo_root())
    try:
        old, new = Version(args.old), Version(args.new)
        released = {r.version for r in repo.releases() if r.commit and r.wheel}
        for version in (old, new):
            if version not in released:
                raise Refused(
                    f"{PACKAGE} {version} was never released here (make contracts-release)"
                )
        steps = plan(known_versions(repo, old), known_versions(repo, new))
    except (Refused, InvalidVersion) as exc:
        print(f"rollout: refused: {exc}", file=sys.stderr)
        return 2
    except StepFailed as exc:
        print(f"rollout: failed: {exc}", file=sys.stderr)
        return 1
    for line in describe(old, new, steps):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
