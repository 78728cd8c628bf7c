"""How the saga's consumer groups spread their partitions over their members (`make dev`)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from confluent_kafka import ConsumerGroupState, KafkaException
from confluent_kafka.admin import AdminClient


@dataclass(frozen=True)
class Member:
    """One member of a group and the partitions it holds (`topic[p]`)."""

    member_id: str
    client_id: str
    partitions: tuple[str, ...]


def describe(bootstrap: str, groups: list[str], timeout_s: float = 10.0) -> dict[str, list[Member]]:
    """The members of each (existing) group with their assignments, as the broker has them."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    found: dict[str, list[Member]] = {}
    futures = admin.describe_consumer_groups(groups, request_timeout=timeout_s)
    for group, future in futures.items():
        description = future.result(timeout_s)
        if description.state != ConsumerGroupState.STABLE:
            continue
        found[group] = sorted(
            (
                Member(
                    m.member_id,
                    m.client_id,
                    tuple(
                        f"{tp.topic}[{tp.partition}]"
                        for tp in sorted(
                            m.assignment.topic_partitions, key=lambda t: (t.topic, t.partition)
                        )
                    ),
                )
                for m in description.members
            ),
            key=lambda m: m.partitions,
        )
    return found


def wait_spread(
    bootstrap: str, expected: Mapping[str, int], timeout_s: float = 45.0
) -> dict[str, list[Member]]:
    """Wait until each group is stable with its expected member count; what it last saw."""
    deadline = time.monotonic() + timeout_s
    seen: dict[str, list[Member]] = {}
    while True:
        try:
            seen = describe(bootstrap, list(expected))
        except KafkaException:
            seen = {}
        if all(len(seen.get(group, [])) == count for group, count in expected.items()):
            return seen
        if time.monotonic() > deadline:
            return seen
        time.sleep(1.0)


def lines(spread: Mapping[str, list[Member]], names: Mapping[int, str]) -> list[str]:
    """`group: N members`, then a line per member: its process (`names`: PID -> instance,
    from the client id `group@host:pid`) and its partitions."""
    out = []
    for group, members in spread.items():
        out.append(f"{group}: {len(members)} member{'s' if len(members) != 1 else ''}")
        for member in members:
            pid = member.client_id.rsplit(":", 1)[-1]
            who = names.get(int(pid), member.client_id) if pid.isdigit() else member.client_id
            out.append(f"  {who} (pid {pid}): {', '.join(member.partitions) or '-'}")
    return out
