"""saga_infra.rollout: the deployment order between releases, from the released wheels."""

import pytest
from packaging.version import Version

from saga_infra import rollout
from saga_infra.contracts import Repository
from saga_infra.rollout import Step, describe, known_versions, plan
from saga_infra.settings import find_repo_root

REPO = Repository(find_repo_root())


def _plan(old: str, new: str) -> list[Step]:
    return plan(known_versions(REPO, Version(old)), known_versions(REPO, Version(new)))


def test_a_new_event_version_deploys_its_consumers_before_its_producer() -> None:
    """2.1.0 added OrderCancelled v2: payment and inventory on 2.0.0 dead-letter it."""
    (step,) = _plan("2.0.0", "2.1.0")
    assert step.key == ("OrderCancelled", 2)
    assert (step.first, step.then) == (("inventory", "payment"), ("order",))


def test_a_moved_topic_deploys_its_consumers_first() -> None:
    """2.4.0 moved ProductUpserted to product-catalog: order reads both before inventory moves."""
    (step,) = _plan("2.3.0", "2.4.0")
    assert step.key == ("ProductUpserted", 1)
    assert (step.first, step.then) == (("order",), ("inventory",))
    assert "moved from inventory-events to product-catalog" in step.why


def test_the_latest_release_allows_any_order() -> None:
    previous = REPO.previous()
    assert previous is not None
    newest = REPO.releases()[-1].version
    assert _plan(str(previous), str(newest)) == []
    assert "any order of deployment is safe" in describe(previous, newest, [])[0]


def test_a_dropped_version_deploys_its_producers_first() -> None:
    old = {("OrderCreated", 1): "order-events", ("OrderCreated", 2): "order-events"}
    (step,) = plan(old, {("OrderCreated", 2): "order-events"})
    assert (step.first, step.then) == (("order",), ("inventory", "payment"))
    assert step.why.startswith("dropped version: producers first")


def test_an_unknown_release_or_a_bad_version_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert rollout.main(["x", "3.1.0"]) == 2
    assert rollout.main(["9.9.8", "9.9.9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert all(line.startswith("rollout: ") for line in err) and len(err) == 2
