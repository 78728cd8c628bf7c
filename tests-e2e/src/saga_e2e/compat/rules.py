"""The pure rules of a compat run: a service's declared range, its requirements with the N-1
wheel swapped in, the version a process runs, a junit report's counts.
"""

from __future__ import annotations

import tomllib
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from saga_infra.contracts import PACKAGE, Refused

CONTRACTS = canonicalize_name(PACKAGE)


def contracts_dependency(service: str, pyproject: str) -> Requirement:
    """The service's declared shared-events dependency (its extras and version range)."""
    try:
        declared = tomllib.loads(pyproject)["project"]["dependencies"]
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise Refused(f"{service}: no [project] dependencies in its pyproject.toml") from exc
    for text in declared:
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            raise Refused(f"{service}: bad dependency {text!r} in its pyproject.toml") from exc
        if canonicalize_name(requirement.name) == CONTRACTS:
            return requirement
    raise Refused(f"{service}: its pyproject.toml declares no {PACKAGE} dependency")


def check_in_range(service: str, declared: Requirement, version: Version) -> None:
    """Refused unless `version` satisfies the service's declared range."""
    if not declared.specifier.contains(version, prereleases=True):
        raise Refused(
            f"{service} declares {declared.name}{declared.specifier}, so it cannot run on "
            f"N-1 = {version} (--previous VERSION takes another release as N-1)"
        )


def wheel_requirement(declared: Requirement, wheel: Path) -> str:
    """The requirement line of exactly that wheel, with the service's declared extras.

    A direct reference, not `==version` with --find-links: the resolver then never asks
    another index for a package of the same name.
    """
    extras = f"[{','.join(sorted(declared.extras))}]" if declared.extras else ""
    return f"{PACKAGE}{extras} @ {wheel.resolve().as_uri()}"


def swap_contracts(requirements: str, replacement: str) -> str:
    """`uv export`'s requirements with the one shared-events line replaced (its marker kept)."""
    lines, swapped = [], 0
    for line in requirements.splitlines():
        text = line.split(" #", 1)[0].strip()
        if not text or text.startswith(("#", "-")):
            lines.append(line)
            continue
        if text.endswith("\\"):
            raise Refused(f"continued requirement lines are not expected (use --no-hashes): {line}")
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            raise Refused(f"unexpected line in the exported requirements: {line!r}") from exc
        if canonicalize_name(requirement.name) != CONTRACTS:
            lines.append(line)
            continue
        swapped += 1
        marker = f" ; {requirement.marker}" if requirement.marker else ""
        lines.append(f"{replacement}{marker}")
    if swapped != 1:
        raise Refused(f"the exported requirements hold {swapped} {PACKAGE} lines, not one")
    return "\n".join(lines) + "\n"


def check_installed(where: str, found: str | None, wanted: Version) -> None:
    """Refused unless `where` (a virtualenv, a process) has shared-events `wanted`."""
    if found is None:
        raise Refused(f"{where}: {PACKAGE} is not installed; it should be {wanted}")
    try:
        version = Version(found)
    except InvalidVersion as exc:
        raise Refused(f"{where}: {PACKAGE} {found!r} is no version; it should be {wanted}") from exc
    if version != wanted:
        raise Refused(f"{where} runs {PACKAGE} {version}, not {wanted}")


def junit_counts(xml_text: str) -> tuple[int, int]:
    """(passed, failed) of a pytest junit XML report; errors count as failed, skips as neither."""
    root = ElementTree.fromstring(xml_text)
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = failed = skipped = 0
    for suite in suites:
        total += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    return total - failed - skipped, failed
