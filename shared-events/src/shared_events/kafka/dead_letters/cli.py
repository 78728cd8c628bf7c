"""List, show and replay dead letters: `python -m shared_events.kafka.dead_letters ...`.

python -m shared_events.kafka.dead_letters list --group payment-service --reason invalid_payload
python -m shared_events.kafka.dead_letters show --group payment-service 0@12
python -m shared_events.kafka.dead_letters replay --group payment-service 0@12 3@4
python -m shared_events.kafka.dead_letters replay --group payment-service --reason handler_failed

The connection's security comes from KAFKA_* variables (KAFKA_SECURITY_PROTOCOL, ...), or a
service's own with --env-prefix PAYMENT_ (PAYMENT_KAFKA_*, e.g. in the service's pod).

Exit codes: 0 done, 1 failed (one line on stderr says why), 2 bad usage or settings.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from confluent_kafka import KafkaException

from shared_events.kafka.connection import (
    KafkaConnection,
    KafkaSettingsError,
    add_connection_arguments,
    connection_from_arguments,
)
from shared_events.kafka.dead_letters.reader import (
    DeadLetter,
    DeadLetterError,
    read_dead_letters,
    read_record,
    replay,
)
from shared_events.topics import dead_letter_topic

PROG = "python -m shared_events.kafka.dead_letters"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line and exit code 2, like the services' own command lines.
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def parser(prog: str = PROG, group: str | None = None) -> argparse.ArgumentParser:
    """The command line; `group` presets `--group` (a service's own `dlq` subcommand)."""
    root = _Parser(prog=prog, description="Inspect and replay a consumer group's dead letters.")
    commands = root.add_subparsers(dest="command", required=True, metavar="{list,show,replay}")
    common = _Parser(add_help=False)
    add_connection_arguments(common)
    where = common.add_mutually_exclusive_group(required=group is None)
    where.add_argument("--group", default=group, help="consumer group, e.g. payment-service")
    where.add_argument("--topic", help="dead-letter topic, e.g. payment-service.dlq")

    listing = commands.add_parser("list", parents=[common], help="one line per dead letter")
    listing.add_argument("--reason", help="only letters with this dlq.reason")
    listing.add_argument("--limit", type=_positive, help="print at most this many (oldest first)")

    show = commands.add_parser("show", parents=[common], help="headers and value of a letter")
    show.add_argument("position", type=_position, help="partition@offset in the dead-letter topic")

    again = commands.add_parser(
        "replay", parents=[common], help="re-produce original records onto their original topic"
    )
    again.add_argument("positions", nargs="*", type=_position, help="partition@offset ...")
    pick = again.add_mutually_exclusive_group()
    pick.add_argument("--reason", help="every letter with this dlq.reason")
    pick.add_argument("--all", action="store_true", help="every letter of the topic")
    return root


def main(argv: Sequence[str] | None = None, *, prog: str = PROG, group: str | None = None) -> int:
    """Run one command; returns the exit code."""
    cli = parser(prog, group)
    args = cli.parse_args(argv)
    topic = args.topic or dead_letter_topic(args.group)
    if args.command == "replay":
        chosen = bool(args.positions) + bool(args.reason) + bool(args.all)
        if chosen != 1:
            cli.error("replay takes positions, --reason or --all (exactly one)")
    try:
        kafka = connection_from_arguments(args)
    except KafkaSettingsError as error:
        cli.error(str(error))
    try:
        if args.command == "list":
            return _list(kafka, topic, args.reason, args.limit)
        if args.command == "show":
            return _show(kafka, topic, args.position)
        return _replay(kafka, args, topic)
    except (DeadLetterError, KafkaException) as error:
        print(f"{prog}: {topic}: {error}", file=sys.stderr)
        return 1


def _list(kafka: KafkaConnection, topic: str, reason: str | None, limit: int | None) -> int:
    letters = read_dead_letters(kafka, topic)
    matching = [letter for letter in letters if reason is None or letter.reason == reason]
    shown = matching[:limit] if limit is not None else matching
    for letter in shown:
        print(letter.summary())
    print(
        f"{topic}: {len(letters)} dead letters, {len(matching)} matching, {len(shown)} shown",
        file=sys.stderr,
    )
    return 0


def _show(kafka: KafkaConnection, topic: str, position: tuple[int, int]) -> int:
    record = read_record(kafka, topic, *position)
    print(f"{topic}[{record.partition}]@{record.offset}")
    print(f"key: {_text(record.key)}")
    for name, value in record.headers:
        print(f"header {name}: {_text(value)}")
    print(f"value: {_text(record.value)}")
    return 0


def _replay(kafka: KafkaConnection, args: argparse.Namespace, topic: str) -> int:
    if args.positions:
        letters = [DeadLetter(read_record(kafka, topic, *p)) for p in args.positions]
    else:
        letters = [
            letter
            for letter in read_dead_letters(kafka, topic)
            if args.all or letter.reason == args.reason
        ]
    if not letters:
        raise DeadLetterError("no dead letters match")
    for letter, landed in replay(kafka, letters):
        origin = "{}[{}]@{}".format(*letter.origin)
        print(
            f"replayed {letter.position} (reason={letter.reason}, "
            f"event_type={letter.event_type or '-'}, event_id={letter.event_id or '-'}, "
            f"from {origin}) -> {landed}"
        )
    return 0


def _text(raw: bytes | None) -> str:
    return "<none>" if raw is None else raw.decode("utf-8", errors="backslashreplace")


def _position(text: str) -> tuple[int, int]:
    partition, at, offset = text.partition("@")
    if not at or not partition.isdigit() or not offset.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not partition@offset (e.g. 0@12)")
    return int(partition), int(offset)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)
