import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar, Literal
from uuid import UUID

import pytest

from shared_events import EVENT_REGISTRY, Envelope, Event, EventRegistry, Upcaster
from shared_events.contracts.orders import upcast_order_created_v1
from shared_events.schemas import (
    ENVELOPE_FILE,
    SCHEMAS_DIR,
    check,
    envelope_schema,
    generate,
    render,
)
from shared_events.schemas.__main__ import main
from shared_events.schemas.compatibility import reader_problems
from shared_events.topics import ORDER_EVENTS, PAYMENT_EVENTS


def catalog_with(
    *replacements: type[Event], upcasters: dict[tuple[str, int], Upcaster] | None = None
) -> EventRegistry:
    """The real catalog with some (type, version) models replaced or added."""
    models = {
        (t, v): EVENT_REGISTRY.model(t, v)
        for t in EVENT_REGISTRY.event_types()
        for v in EVENT_REGISTRY.versions(t)
    }
    models |= {(m.event_type, m.event_version): m for m in replacements}
    if upcasters is None:
        upcasters = {("OrderCreated", 1): upcast_order_created_v1}
    return EventRegistry(models.values(), upcasters)


@pytest.fixture
def schemas_dir(tmp_path: Path) -> Path:
    copy = tmp_path / "schemas"
    shutil.copytree(SCHEMAS_DIR, copy)
    return copy


def problems_of(registry: EventRegistry, schemas_dir: Path) -> str:
    return "\n".join(check(registry, schemas_dir).problems)


class OrderCancelledWithoutReason(Event):
    event_type: ClassVar[str] = "OrderCancelled"
    event_version: ClassVar[int] = 1
    topic: ClassVar[str] = ORDER_EVENTS
    order_id: UUID


class OrderCancelledRenamed(OrderCancelledWithoutReason):
    cancel_reason: Literal["payment_failed", "out_of_stock", "customer_cancelled"]


class OrderCancelledNarrowed(OrderCancelledWithoutReason):
    reason: Literal["payment_failed", "out_of_stock"]


class PaymentProcessedAsText(Event):
    event_type: ClassVar[str] = "PaymentProcessed"
    event_version: ClassVar[int] = 1
    topic: ClassVar[str] = PAYMENT_EVENTS
    order_id: UUID
    payment_id: UUID
    amount_cents: str


class PaymentFailedMoreDetailed(OrderCancelledWithoutReason):
    event_type: ClassVar[str] = "PaymentFailed"
    event_version: ClassVar[int] = 1
    topic: ClassVar[str] = PAYMENT_EVENTS
    reason: Literal["insufficient_funds", "unknown_customer"]
    attempt: int


class PaymentFailedV2(PaymentFailedMoreDetailed):
    event_version: ClassVar[int] = 2


def test_the_committed_schemas_are_current_and_compatible() -> None:
    report = check(EVENT_REGISTRY, SCHEMAS_DIR)
    assert report.problems == []
    assert report.checked == 12


def test_committed_schemas_are_stable_json_with_a_trailing_newline() -> None:
    for path in [*SCHEMAS_DIR.glob("*/v*.json"), SCHEMAS_DIR / ENVELOPE_FILE]:
        text = path.read_text(encoding="utf-8")
        assert text == render(json.loads(text)), path


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (
            OrderCancelledWithoutReason,
            "OrderCancelled v1: incompatible change: reason: property removed",
        ),
        (OrderCancelledRenamed, "OrderCancelled v1: incompatible change: reason: property removed"),
        (OrderCancelledRenamed, "cancel_reason: new required property"),
        (
            PaymentProcessedAsText,
            "PaymentProcessed v1: incompatible change: amount_cents: type changed",
        ),
        (PaymentFailedMoreDetailed, "PaymentFailed v1: incompatible change: attempt: new required"),
        (OrderCancelledNarrowed, "OrderCancelled v1: incompatible change: reason: enum narrowed"),
    ],
)
def test_an_incompatible_change_to_a_published_version_fails(
    schemas_dir: Path, model: type[Event], expected: str
) -> None:
    found = problems_of(catalog_with(model), schemas_dir)
    assert "committed schema is stale" in found
    assert expected in found


class OrderCancelledV1TimedOut(OrderCancelledWithoutReason):
    reason: Literal["payment_failed", "out_of_stock", "customer_cancelled", "timed_out"]


def test_a_reason_added_to_a_published_version_is_refused(schemas_dir: Path) -> None:
    # Readers of v1 validate `reason` against v1's enum: a new value would be dead-lettered.
    found = problems_of(catalog_with(OrderCancelledV1TimedOut), schemas_dir)
    assert (
        "OrderCancelled v1: incompatible change: reason: enum narrowed: ['timed_out'] no longer"
        " accepted (existing readers would reject new data)"
    ) in found
    assert generate(catalog_with(OrderCancelledV1TimedOut), schemas_dir).problems


def test_order_cancelled_v2_adds_timed_out_and_reads_v1_data_as_it_is() -> None:
    v1, v2 = (
        json.loads((SCHEMAS_DIR / "OrderCancelled" / f"v{n}.json").read_text()) for n in (1, 2)
    )
    assert v2["$defs"]["CancelReason"]["enum"] == [
        *v1["$defs"]["CancelReason"]["enum"],
        "timed_out",
    ]
    assert not EVENT_REGISTRY.has_upcaster("OrderCancelled", 1)
    assert reader_problems(v2, v1) == []
    assert check(EVENT_REGISTRY, SCHEMAS_DIR).problems == []


def test_an_added_optional_field_is_stale_but_compatible(schemas_dir: Path) -> None:
    class OrderConfirmedWithNote(OrderCancelledWithoutReason):
        event_type: ClassVar[str] = "OrderConfirmed"
        note: str | None = None

    found = check(catalog_with(OrderConfirmedWithNote), schemas_dir).problems
    assert found == ["OrderConfirmed v1: committed schema is stale (run generate)"]
    assert generate(catalog_with(OrderConfirmedWithNote), schemas_dir).problems == []
    assert check(catalog_with(OrderConfirmedWithNote), schemas_dir).problems == []


def test_a_new_version_with_a_required_field_needs_an_upcaster(schemas_dir: Path) -> None:
    registry = catalog_with(PaymentFailedV2)
    assert generate(registry, schemas_dir).problems == []
    assert (
        "PaymentFailed v2: readers of v2 cannot read v1 data: attempt: new required property"
        in (problems_of(registry, schemas_dir))
    )


def test_a_new_version_with_an_upcaster_passes(schemas_dir: Path) -> None:
    upcasters: dict[tuple[str, int], Upcaster] = {
        ("OrderCreated", 1): upcast_order_created_v1,
        ("PaymentFailed", 1): lambda payload: {**payload, "attempt": 1},
    }
    registry = catalog_with(PaymentFailedV2, upcasters=upcasters)
    assert "PaymentFailed v2: no committed schema" in problems_of(registry, schemas_dir)
    assert generate(registry, schemas_dir).problems == []
    assert check(registry, schemas_dir).problems == []
    assert (schemas_dir / "PaymentFailed" / "v2.json").is_file()


class PaymentFailedV2WithOptionalDetail(OrderCancelledWithoutReason):
    event_type: ClassVar[str] = "PaymentFailed"
    event_version: ClassVar[int] = 2
    topic: ClassVar[str] = PAYMENT_EVENTS
    reason: Literal["insufficient_funds", "unknown_customer"]
    detail: str | None = None


def test_an_additive_new_version_passes_without_an_upcaster(schemas_dir: Path) -> None:
    registry = catalog_with(PaymentFailedV2WithOptionalDetail)
    assert "PaymentFailed v2: no committed schema" in problems_of(registry, schemas_dir)
    assert generate(registry, schemas_dir).problems == []
    assert check(registry, schemas_dir).problems == []


def test_order_created_v2_without_its_upcaster_would_break_v1_data() -> None:
    found = problems_of(catalog_with(upcasters={}), SCHEMAS_DIR)
    assert "OrderCreated v2: readers of v2 cannot read v1 data: currency: new required" in found


def test_a_published_version_cannot_disappear(schemas_dir: Path) -> None:
    registry = EventRegistry(
        [
            EVENT_REGISTRY.model(t, v)
            for t in EVENT_REGISTRY.event_types()
            if t != "ProductUpserted"
            for v in EVENT_REGISTRY.versions(t)
        ],
        {("OrderCreated", 1): upcast_order_created_v1},
    )
    assert problems_of(registry, schemas_dir) == (
        "ProductUpserted v1: committed, but no model reads it any more"
    )


def test_generate_refuses_to_rewrite_a_version_incompatibly(
    schemas_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = schemas_dir / "OrderCancelled" / "v1.json"
    before = path.read_text()
    broken = catalog_with(OrderCancelledWithoutReason)
    monkeypatch.setattr(sys.modules[__name__], "BROKEN", broken, raising=False)
    args = ["--schemas-dir", str(schemas_dir), "--registry", f"{__name__}:BROKEN"]
    assert main(["generate", *args]) == 1
    assert "refused to rewrite 1 problem(s)" in capsys.readouterr().err
    assert path.read_text() == before
    assert main(["generate", "--force", *args]) == 0
    assert path.read_text() != before


def run_cli(*args: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "shared_events.schemas", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False)


def test_cli_check_passes_on_the_committed_schemas() -> None:
    done = run_cli("check")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        "OK: the envelope and 12 schemas of 10 event types up to date and compatible"
    )
    assert done.stdout.count("\n") == 1


def test_cli_check_fails_on_a_stale_copy(schemas_dir: Path) -> None:
    (schemas_dir / "ItemsReleased" / "v1.json").unlink()
    reserved = schemas_dir / "ItemsReserved" / "v1.json"
    schema: dict[str, Any] = json.loads(reserved.read_text())
    schema["description"] = "edited by hand"
    reserved.write_text(render(schema))
    done = run_cli("check", "--schemas-dir", str(schemas_dir))
    assert done.returncode == 1
    assert "- ItemsReleased v1: no committed schema" in done.stderr
    assert "- ItemsReserved v1: committed schema is stale" in done.stderr
    assert "found 2 problem(s)" in done.stderr


def test_cli_checks_another_model_set(schemas_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "narrowed_models.py").write_text(
        "from typing import ClassVar, Literal\n"
        "from uuid import UUID\n"
        "from shared_events import EVENT_REGISTRY, Event, EventRegistry\n"
        "from shared_events.contracts.orders import upcast_order_created_v1\n\n"
        "class OrderCancelled(Event):\n"
        "    event_type: ClassVar[str] = 'OrderCancelled'\n"
        "    event_version: ClassVar[int] = 1\n"
        "    topic: ClassVar[str] = 'order-events'\n"
        "    order_id: UUID\n"
        "    reason: Literal['payment_failed']\n\n"
        "MODELS = [EVENT_REGISTRY.model(t, v) for t in EVENT_REGISTRY.event_types()\n"
        "          for v in EVENT_REGISTRY.versions(t) if t != 'OrderCancelled']\n"
        "REGISTRY = EventRegistry([*MODELS, OrderCancelled],\n"
        "                         {('OrderCreated', 1): upcast_order_created_v1})\n"
    )
    done = run_cli(
        "check",
        "--schemas-dir",
        str(schemas_dir),
        "--registry",
        "narrowed_models:REGISTRY",
        pythonpath=tmp_path,
    )
    assert done.returncode == 1
    assert (
        "- OrderCancelled v1: incompatible change: reason: enum narrowed: "
        "['out_of_stock', 'customer_cancelled'] no longer accepted"
    ) in done.stderr


class EnvelopeWithTenant(Envelope[Event]):
    tenant: str


class EnvelopeWithSource(Envelope[Event]):
    source: str | None = None


def test_the_committed_envelope_schema_is_the_envelope_models() -> None:
    committed = json.loads((SCHEMAS_DIR / ENVELOPE_FILE).read_text(encoding="utf-8"))
    assert committed == envelope_schema()
    assert committed["title"] == "Envelope"
    assert "default" not in committed["$defs"]["Producer"]["properties"]["contracts_version"]
    assert set(committed["required"]) == {
        "event_id",
        "event_type",
        "event_version",
        "occurred_at",
        "producer",
        "correlation_id",
        "payload",
    }


def test_a_stale_or_missing_envelope_schema_fails(schemas_dir: Path) -> None:
    path = schemas_dir / ENVELOPE_FILE
    schema = json.loads(path.read_text(encoding="utf-8"))
    schema["description"] = "edited by hand"
    path.write_text(render(schema))
    assert (
        problems_of(EVENT_REGISTRY, schemas_dir)
        == "envelope: committed schema is stale (run generate)"
    )
    path.unlink()
    assert (
        problems_of(EVENT_REGISTRY, schemas_dir)
        == "envelope: no committed schema (stale: run generate)"
    )


def test_an_added_optional_envelope_field_is_stale_but_compatible(schemas_dir: Path) -> None:
    report = check(EVENT_REGISTRY, schemas_dir, envelope=EnvelopeWithSource)
    assert report.problems == ["envelope: committed schema is stale (run generate)"]


def test_an_incompatible_envelope_change_fails_and_is_not_written(schemas_dir: Path) -> None:
    report = check(EVENT_REGISTRY, schemas_dir, envelope=EnvelopeWithTenant)
    assert "envelope: committed schema is stale (run generate)" in report.problems
    assert (
        "envelope: incompatible change: tenant: new required property "
        "(data already written would be rejected)"
    ) in report.problems
    before = (schemas_dir / ENVELOPE_FILE).read_text()
    refused = generate(EVENT_REGISTRY, schemas_dir, envelope=EnvelopeWithTenant)
    assert refused.problems and all(p.startswith("envelope: ") for p in refused.problems)
    assert (schemas_dir / ENVELOPE_FILE).read_text() == before
    assert (
        generate(EVENT_REGISTRY, schemas_dir, envelope=EnvelopeWithTenant, force=True).problems
        == []
    )
    assert "tenant" in json.loads((schemas_dir / ENVELOPE_FILE).read_text())["required"]
