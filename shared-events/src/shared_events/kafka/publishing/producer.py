"""An idempotent producer, and producing a batch that reports which records the broker took."""

import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import structlog
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from shared_events.kafka.connection import KafkaConnection, KafkaTarget, client_config

log = structlog.get_logger(__name__)

PRODUCER_DEFAULTS: Final[Mapping[str, Any]] = {
    # Idempotence: no duplicates or reordering from the producer's own retries.
    "enable.idempotence": True,
    "acks": "all",
    # The relay produces a whole claimed batch, then flush()es, which sends at once whatever
    # linger.ms says: so one round is one produce request per partition. linger.ms only
    # gathers records produced outside a flush (the dead-letter sender's).
    "linger.ms": 5,
    "batch.num.messages": 10_000,
    # A failed delivery surfaces within this bound instead of librdkafka's 5 minutes, so
    # the relay can retry (and a stop is not held up) while the broker is unreachable.
    "message.timeout.ms": 30_000,
    "compression.type": "lz4",
    # A record that fails for good after later ones of its partition were acked would leave
    # a gap (and those later records ahead of it on retry): librdkafka makes that fatal, and
    # the caller starts a new producer and republishes in order instead.
    "enable.gapless.guarantee": True,
}


def producer_config(target: KafkaTarget | Mapping[str, Any]) -> dict[str, Any]:
    """Full producer config from a connection (or bootstrap servers) or a config dict, with
    our safe defaults."""
    config = dict(PRODUCER_DEFAULTS)
    config.update(client_config(target) if isinstance(target, str | KafkaConnection) else target)
    return config


def delivery_timeout_s(config: Mapping[str, Any]) -> float:
    """How long a flush may take before every produced record has a delivery report."""
    return float(config.get("message.timeout.ms", 300_000)) / 1000 + 5.0


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """A record to produce, with a reference the caller uses to match its delivery report."""

    ref: Hashable
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


@dataclass(slots=True)
class ProduceOutcome:
    """What the broker acknowledged and what failed (with the error text)."""

    delivered: list[Hashable] = field(default_factory=list)
    failed: dict[Hashable, str] = field(default_factory=dict)
    codes: dict[Hashable, int] = field(default_factory=dict)
    """librdkafka error code of each failed record, when it had one (e.g. too large)."""
    positions: dict[Hashable, str] = field(default_factory=dict)
    """Where each delivered record landed: `topic[partition]@offset`."""
    fatal: bool = False
    """The producer hit a fatal error (e.g. a fenced idempotent epoch): make a new one."""


def produce_and_flush(
    producer: Producer, records: Sequence[OutgoingRecord], timeout_s: float
) -> ProduceOutcome:
    """Produce records in order, wait for every delivery report, and say which succeeded."""
    outcome = ProduceOutcome()
    reported: set[Hashable] = set()

    def on_delivery(ref: Hashable) -> Any:
        def report(error: KafkaError | None, message: Message) -> None:
            reported.add(ref)
            if error is None:
                outcome.delivered.append(ref)
                outcome.positions[ref] = (
                    f"{message.topic()}[{message.partition()}]@{message.offset()}"
                )
                return
            outcome.failed[ref] = str(error)
            outcome.codes[ref] = error.code()
            outcome.fatal = outcome.fatal or error.fatal()

        return report

    deadline = time.monotonic() + timeout_s
    # Once a record is refused, later records of its key wait: sending them would put them
    # ahead of it on the wire when it is retried.
    blocked: set[tuple[str, bytes | None]] = set()
    for record in records:
        if (record.topic, record.key) in blocked:
            reported.add(record.ref)
            outcome.failed[record.ref] = "held back: an earlier record of its key failed"
            continue
        refused = _produce(producer, record, on_delivery(record.ref), deadline)
        if refused is not None:
            reported.add(record.ref)
            outcome.failed[record.ref] = str(refused)
            outcome.codes[record.ref] = refused.code()
            if record.key is not None:
                blocked.add((record.topic, record.key))
    producer.flush(max(0.0, deadline - time.monotonic()))
    for record in records:
        if record.ref not in reported:
            outcome.failed[record.ref] = "no delivery report before the timeout"
    return outcome


def _produce(
    producer: Producer, record: OutgoingRecord, callback: Any, deadline: float
) -> KafkaError | None:
    while True:
        try:
            producer.produce(
                record.topic,
                value=record.value,
                key=record.key,
                headers=list(record.headers),
                on_delivery=callback,
            )
            return None
        except KafkaException as error:
            # Refused up front (e.g. too large): only this record fails, not the batch.
            cause = error.args[0] if error.args else None
            if isinstance(cause, KafkaError):
                return cause
            return KafkaError(KafkaError._FAIL, str(error))
        except BufferError:
            # The local queue is full: serve delivery reports to make room, then retry.
            if time.monotonic() > deadline:
                raise
            producer.poll(0.1)
