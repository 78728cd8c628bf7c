"""The DLQ tool against a real broker: letters written by the real consumer, listed, replayed."""

import os
import re

import orjson
import pytest

from shared_events.kafka.codec import encode, header
from shared_events.kafka.consuming.consumer import EventConsumer
from shared_events.kafka.dead_letters.cli import main as dlq
from shared_events.kafka.dead_letters.reader import original_record, read_dead_letters

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def tool_lines(out: str, prefix: str = "") -> list[str]:
    """The tool's own output lines (structlog also prints the consumer's logs to stdout)."""
    pattern = re.compile(rf"^{prefix}\d+@\d+ ")
    return [line for line in out.splitlines() if pattern.match(line)]


def run_until(kit, consumer: EventConsumer, done) -> None:
    loop = kit.loop(consumer.run)
    try:
        kit.wait_for(done)
    finally:
        loop.stop()


def test_dead_letters_are_listed_shown_and_replayed_once_fixed(db, kit, new_topic, capsys) -> None:
    topic = new_topic(partitions=2)
    dead_letters = new_topic("dlq", partitions=2)
    probe, late = kit.probe_model(topic), kit.probe_model(topic, "ProbeLate")
    [broken] = kit.envelopes(probe, ["broken"])
    [unknown] = kit.envelopes(late, ["late"])
    kit.produce(topic, [(b"x", b"{not json", []), kit.record(unknown)])
    kit.produce(topic, [kit.record(broken)])

    def failing(envelope, session) -> None:
        raise RuntimeError("bug in the handler")

    # First deployment: ProbeLate unknown, the Probe handler buggy.
    first = kit.consumer(
        db,
        topic,
        dead_letters,
        {"Probe": kit.each(failing)},
        registry=kit.registry(probe),
        max_attempts=2,
    )
    run_until(kit, first, lambda: first.dead_lettered == 3)

    assert dlq(["list", "--topic", dead_letters, "--bootstrap-servers", kit.bootstrap]) == 0
    out, err = capsys.readouterr()
    lines = tool_lines(out)
    assert len(lines) == 3 and f"{dead_letters}: 3 dead letters, 3 matching, 3 shown" in err
    assert sorted(line.split("reason=")[1].split()[0] for line in lines) == [
        "handler_failed",
        "not_json",
        "unknown_event_type",
    ]
    handler_failed = next(line for line in lines if "reason=handler_failed" in line)
    assert "event_type=Probe " in handler_failed
    assert "error=RuntimeError: bug in the handler" in handler_failed
    assert f" {topic}[" in handler_failed and "failed_at=20" in handler_failed
    position = handler_failed.split()[0]

    args = ["--topic", dead_letters, "--bootstrap-servers", kit.bootstrap]
    assert dlq(["list", *args, "--reason", "not_json", "--limit", "1"]) == 0
    out, _ = capsys.readouterr()
    assert len(tool_lines(out)) == 1 and "reason=not_json" in out

    assert dlq(["show", *args, position]) == 0
    out, _ = capsys.readouterr()
    assert f"header event_id: {broken.event_id}" in out
    assert "header dlq.reason: handler_failed" in out
    assert "header dlq.original_topic: " + topic in out
    assert '"ref":"broken"' in out

    # The fix ships: ProbeLate known, the Probe handler works. Replay what it fixes.
    fixed = kit.consumer(
        db,
        topic,
        dead_letters,
        {"Probe": db.record_effects, "ProbeLate": db.record_effects},
        registry=kit.registry(probe, late),
    )
    loop = kit.loop(fixed.run)
    try:
        assert dlq(["replay", *args, position]) == 0
        assert dlq(["replay", *args, "--reason", "unknown_event_type"]) == 0
        kit.wait_for(lambda: fixed.processed == 2)
    finally:
        loop.stop()
    out, _ = capsys.readouterr()
    replayed = tool_lines(out, "replayed ")
    assert len(replayed) == 2 and all(f"-> {topic}[" in line for line in replayed)
    assert f"event_id={broken.event_id}" in replayed[0]
    effects = db.scalar("SELECT string_agg(event_id, ',' ORDER BY event_id) FROM {s}.effects")
    assert sorted(effects.split(",")) == sorted([str(broken.event_id), str(unknown.event_id)])
    # Replays are the originals again: same values, no dlq.* header back on the topic.
    on_topic = kit.read_topic(topic, 5)
    assert len(on_topic) == 5
    values = [message.value() for message in on_topic]
    assert values.count(encode(broken).value) == 2 and values.count(encode(unknown).value) == 2
    for message in on_topic:
        assert not any(name.startswith("dlq.") for name, _ in message.headers() or [])
    assert fixed.dead_lettered == 0


def test_the_tool_says_why_it_fails_in_one_line_and_refuses_bad_usage(
    kit, new_topic, capsys
) -> None:
    dead_letters = new_topic("dlq", partitions=1)
    args = ["--topic", dead_letters, "--bootstrap-servers", kit.bootstrap]
    assert dlq(["show", *args, "0@5"]) == 1
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and "has no offset 5 (holds no records)" in err
    assert dlq(["replay", *args, "--all"]) == 1
    assert "no dead letters match" in capsys.readouterr().err
    assert dlq(["list", "--topic", "no-such-topic-x1", "--bootstrap-servers", kit.bootstrap]) == 1
    assert "does not exist" in capsys.readouterr().err
    usage_errors = (
        ["show", *args, "zero@1"],
        ["replay", *args],
        ["list"],
        ["replay", *args, "0@1", "--all"],
    )
    for bad in usage_errors:
        with pytest.raises(SystemExit) as exit_:
            dlq(bad)
        assert exit_.value.code == 2
        assert capsys.readouterr().err.count("\n") == 1


def test_an_oversized_poison_record_is_dead_lettered_without_its_value_and_replayable(
    db, kit, new_topic
) -> None:
    topic = new_topic(partitions=1)
    dead_letters = new_topic("dlq", partitions=1)
    probe = kit.probe_model(topic)
    [good] = kit.envelopes(probe, ["after"])
    huge = os.urandom(1_040_000)  # incompressible; the broker takes it, a default producer won't
    kit.produce(topic, [(b"big", huge, [("why", b"test")])], **{"message.max.bytes": 1_048_000})
    kit.produce(topic, [kit.record(good)])

    consumer = kit.consumer(
        db, topic, dead_letters, {"Probe": db.record_effects}, registry=kit.registry(probe)
    )
    run_until(kit, consumer, lambda: consumer.processed == 1)

    assert consumer.dead_lettered == 1
    [letter] = read_dead_letters(kit.bootstrap, dead_letters)
    assert letter.record.value is None and letter.reason == "not_json"
    assert letter.dlq("dlq.value_omitted") == str(len(huge))
    original = original_record(kit.bootstrap, letter)
    assert (original.topic, original.key, original.value) == (topic, b"big", huge)
    assert header(original.headers, "why") == "test"
    assert orjson.loads(kit.read_topic(topic, 2)[1].value())["event_id"] == str(good.event_id)
