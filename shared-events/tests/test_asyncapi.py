"""The AsyncAPI document: generated deterministically from the contracts, committed, current."""

import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared_events import EVENT_REGISTRY, EventRegistry
from shared_events.asyncapi import ASYNCAPI_FILE, DEAD_LETTER, build, message_id, render
from shared_events.asyncapi.__main__ import main
from shared_events.asyncapi.yaml_text import dump
from shared_events.contracts.orders import upcast_order_created_v1
from shared_events.kafka import codec
from shared_events.kafka.tracing import TRACE_HEADERS
from shared_events.schemas import SCHEMAS_DIR
from shared_events.topics import EVENT_TOPICS
from shared_events.topology import SERVICES

Node = dict[str, Any]


@pytest.fixture(scope="module")
def document() -> Node:
    return build(EVENT_REGISTRY, SERVICES)


def versions() -> list[tuple[str, int]]:
    return [(t, v) for t in EVENT_REGISTRY.event_types() for v in EVENT_REGISTRY.versions(t)]


def ids(refs: list[Node]) -> list[str]:
    return [ref["$ref"].rsplit("/", 1)[1] for ref in refs]


def test_the_committed_document_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert ASYNCAPI_FILE.read_text(encoding="utf-8") == render()


def test_generation_is_deterministic_whatever_order_the_models_come_in() -> None:
    models = [EVENT_REGISTRY.model(t, v) for t, v in versions()]
    random.Random(7).shuffle(models)
    shuffled = EventRegistry(models, {("OrderCreated", 1): upcast_order_created_v1})
    assert render(shuffled, tuple(reversed(SERVICES))) == render() == render()


def test_the_text_reads_back_as_the_document(document: Node) -> None:
    assert yaml.safe_load(render()) == document


def test_every_registered_event_version_is_a_message(document: Node) -> None:
    messages = document["components"]["messages"]
    assert sorted(messages) == sorted([DEAD_LETTER, *(message_id(t, v) for t, v in versions())])
    for event_type, version in versions():
        message = messages[message_id(event_type, version)]
        assert (message["name"], message["x-event-version"]) == (event_type, version)
        headers = message["headers"]["properties"]
        assert headers[codec.EVENT_TYPE_HEADER]["const"] == event_type
        assert headers[codec.EVENT_VERSION_HEADER]["const"] == str(version)
        envelope, narrowed = message["payload"]["allOf"]
        assert envelope == {"$ref": "#/components/schemas/Envelope"}
        assert narrowed["properties"]["payload"] == {
            "$ref": f"#/components/schemas/{message_id(event_type, version)}"
        }


def test_payload_schemas_are_the_committed_files(document: Node) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["Envelope"] == {"$ref": "./schemas/envelope.json"}
    for event_type, version in versions():
        ref = schemas[message_id(event_type, version)]["$ref"]
        assert ref == f"./schemas/{event_type}/v{version}.json"
    for schema in schemas.values():
        assert (ASYNCAPI_FILE.parent / schema["$ref"]).resolve().is_file()
    assert (ASYNCAPI_FILE.parent / "schemas").resolve() == SCHEMAS_DIR


def test_each_channel_carries_exactly_its_topics_events(document: Node) -> None:
    channels = document["channels"]
    dead_letters = {s.dead_letter_topic for s in SERVICES}
    assert set(channels) == set(EVENT_TOPICS) | dead_letters
    for topic in EVENT_TOPICS:
        expected = [
            message_id(t, v)
            for t, v in versions()
            if topic
            in (EVENT_REGISTRY.model(t, v).topic, *EVENT_REGISTRY.model(t, v).former_topics)
        ]
        assert channels[topic]["address"] == topic
        assert sorted(channels[topic]["messages"]) == sorted(expected)
        assert expected, topic
    for topic in dead_letters:
        assert list(channels[topic]["messages"]) == [DEAD_LETTER]


def test_the_producer_sends_and_each_group_receives_what_it_handles(document: Node) -> None:
    operations = document["operations"]
    for one in SERVICES:
        for topic in one.writes:
            sent = operations[f"{one.name}.send.{topic}"]
            assert sent["action"] == "send"
            assert sent["channel"] == {"$ref": f"#/channels/{topic}"}
            # What it writes now: not the events earlier releases wrote there.
            expected = [
                message_id(t, v) for t, v in versions() if EVENT_REGISTRY.model(t, v).topic == topic
            ]
            assert sorted(ids(sent["messages"])) == sorted(expected)
        letters = operations[f"{one.name}.send.{one.dead_letter_topic}"]
        assert ids(letters["messages"]) == [DEAD_LETTER]
        for topic, handled in one.handles.items():
            received = operations[f"{one.name}.receive.{topic}"]
            assert received["action"] == "receive"
            assert received["bindings"]["kafka"]["groupId"]["enum"] == [one.consumer_group]
            expected = [message_id(t, v) for t in handled for v in EVENT_REGISTRY.versions(t)]
            assert sorted(ids(received["messages"])) == sorted(expected)
            for ref in received["messages"]:
                assert ref["$ref"].startswith(f"#/channels/{topic}/messages/")
    assert len(operations) == sum(len(s.writes) + 1 + len(s.handles) for s in SERVICES)


def test_the_catalog_channel_is_compacted_and_its_old_topic_still_read(document: Node) -> None:
    channels, operations = document["channels"], document["operations"]
    catalog = channels["product-catalog"]
    assert catalog["bindings"]["kafka"]["topicConfiguration"] == {"cleanup.policy": ["compact"]}
    assert catalog["bindings"]["kafka"]["topic"] == "product-catalog"
    assert list(catalog["messages"]) == ["ProductUpserted.v1"]
    assert "bindings" not in channels["inventory-events"]
    # Records earlier releases wrote to inventory-events: listed there, read, no longer sent.
    assert "ProductUpserted.v1" in channels["inventory-events"]["messages"]
    assert "now on product-catalog" in channels["inventory-events"]["description"]
    sent = ids(operations["inventory.send.inventory-events"]["messages"])
    assert "ProductUpserted.v1" not in sent
    assert "ProductUpserted.v1" in ids(operations["order.receive.inventory-events"]["messages"])
    assert "no inbox row" in operations["order.receive.product-catalog"]["summary"]


def test_messages_carry_the_codecs_headers_and_the_events_key(document: Node) -> None:
    messages = document["components"]["messages"]
    written = {
        codec.EVENT_ID_HEADER,
        codec.EVENT_TYPE_HEADER,
        codec.EVENT_VERSION_HEADER,
        codec.CONTENT_TYPE_HEADER,
        codec.CORRELATION_ID_HEADER,
        codec.CONTRACTS_VERSION_HEADER,
    }
    for event_type, version in versions():
        message = messages[message_id(event_type, version)]
        headers = message["headers"]
        assert set(headers["properties"]) == written | set(TRACE_HEADERS)
        assert set(headers["required"]) == written
        key = message["bindings"]["kafka"]["key"]
        field = "sku" if event_type == "ProductUpserted" else "order_id"
        assert key["description"] == f"The record key: the payload's {field}."
        assert message["correlationId"]["location"] == "$message.header#/correlation_id"
    assert messages["OrderCreated.v2"]["bindings"]["kafka"]["key"]["format"] == "uuid"


def test_a_stale_file_fails_the_check_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "asyncapi.yaml"
    lines = render().splitlines(keepends=True)
    lines[5] = lines[5].replace("version:", "version: 0 #")
    stale.write_text("".join(lines), encoding="utf-8")
    assert main(["check", "--file", str(stale)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{stale} is stale" in err
    assert "from line 6" in err
    assert "python -m shared_events.asyncapi generate" in err


def test_a_missing_file_fails_the_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--file", str(tmp_path / "asyncapi.yaml")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "is missing" in err


def test_generate_writes_what_check_then_accepts(tmp_path: Path) -> None:
    path = tmp_path / "asyncapi.yaml"
    assert main(["generate", "--file", str(path)]) == 0
    assert main(["check", "--file", str(path)]) == 0
    assert path.read_text(encoding="utf-8") == render()


def test_the_command_exits_non_zero_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "asyncapi.yaml"
    stale.write_text(render() + "# edited\n", encoding="utf-8")
    command = [sys.executable, "-m", "shared_events.asyncapi", "check", "--file", str(stale)]
    done = subprocess.run(
        command, capture_output=True, text=True, env=dict(os.environ), check=False
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert f"{stale} is stale (differs from the contracts from line " in done.stderr


@pytest.mark.parametrize(
    "value",
    [
        "plain words",
        "yes",
        "No",
        "null",
        "3.0.0",
        "42",
        "",
        " leading",
        "trailing ",
        "a: b",
        "#/components/messages/x",
        "$ref",
        "- dash",
        'quote " and backslash \\',
        "tab\there",
        "line\nbreak",
        "ünïcode ✓",
        "word " * 40,
        ("word " * 40).strip(),
        "double  spaces " * 10,
        "x" * 150,
    ],
)
def test_any_string_reads_back_as_written(value: str) -> None:
    document = {"key": value, "list": [value, {"nested": value}], value or "k": 1}
    assert yaml.safe_load(dump(document)) == document


def test_scalars_and_empty_containers_read_back() -> None:
    document: Node = {"n": 1, "t": True, "f": False, "none": None, "e": {}, "l": [], "ll": [[1]]}
    assert yaml.safe_load(dump(document)) == document
