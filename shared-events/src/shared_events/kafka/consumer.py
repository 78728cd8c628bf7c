"""The idempotent consumer: decode, apply once in a DB transaction, then commit the offset."""

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from sqlalchemy import Table
from sqlalchemy.orm import Session, sessionmaker

from shared_events.catalog import CATALOG
from shared_events.errors import DecodeError
from shared_events.kafka.backoff import Backoff, delay_for
from shared_events.kafka.codec import decode
from shared_events.kafka.consumed import ConsumedRecord
from shared_events.kafka.dead_letter import (
    HANDLER_FAILED,
    UNDECODABLE,
    UNREADABLE_RECORD,
    DeadLetterFailed,
    DeadLetterQueue,
)
from shared_events.kafka.failures import Failure, classify
from shared_events.kafka.inbox import Handler, apply_once
from shared_events.kafka.partitions import PartitionProgress
from shared_events.registry import EventRegistry

log = structlog.get_logger(__name__)


class RetryLater(Exception):
    """The message was not handled; its partition pauses and re-reads it after `delay_s`.

    `database_down`: it waits for the database, and is retried as soon as another message
    shows the database is back, instead of sitting out its (growing) delay.
    """

    def __init__(self, delay_s: float, *, database_down: bool = False) -> None:
        super().__init__(f"retry in {delay_s:.2f}s")
        self.delay_s = delay_s
        self.database_down = database_down


class EventConsumer:
    """Consumes saga events at least once and applies each one exactly once per group."""

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        group_id: str,
        topics: Sequence[str],
        handlers: Mapping[str, Handler],
        session_factory: sessionmaker[Session],
        processed_table: Table,
        dead_letter_topic: str,
        max_attempts: int = 5,
        retry_backoff: Backoff | None = None,
        outage_backoff: Backoff | None = None,
        batch_size: int = 100,
        poll_timeout_s: float = 0.5,
        registry: EventRegistry = CATALOG,
        config_overrides: Mapping[str, Any] | None = None,
    ) -> None:
        self.group_id = group_id
        self.topics = list(topics)
        self.handlers = dict(handlers)
        self.session_factory = session_factory
        self.processed_table = processed_table
        self.max_attempts = max_attempts
        self.batch_size = batch_size
        self.poll_timeout_s = poll_timeout_s
        self.registry = registry
        self.retry_backoff = retry_backoff or Backoff(initial_s=0.2, max_s=5.0)
        self._outage = outage_backoff or Backoff(initial_s=0.5, max_s=15.0)
        self.processed = 0
        self.duplicates = 0
        self.skipped = 0
        self.dead_lettered = 0
        self.last_error: str | None = None
        self._config = {
            "bootstrap.servers": bootstrap_servers,
            "group.id": group_id,
            "enable.auto.commit": False,
            # We commit explicit offsets, and only of messages whose transaction committed.
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "cooperative-sticky",
            # A crashed member keeps its partitions until the broker stops hearing from it;
            # librdkafka's 45 s default stalled a restarted service for that long (chaos run).
            "session.timeout.ms": 10_000,
            "heartbeat.interval.ms": 2_000,
            **(config_overrides or {}),
        }
        self._dlq = DeadLetterQueue(dead_letter_topic, group_id, bootstrap_servers)
        self._consumer: Consumer | None = None
        self._progress = PartitionProgress()
        self._attempts: dict[tuple[str, int, int], int] = {}
        self._joined = False
        self._running = False
        self._database_down = False
        self._dead_letters_failing = False

    @property
    def assigned(self) -> bool:
        """Whether the consumer has joined its group (its assignment may be empty)."""
        return self._joined

    @property
    def healthy(self) -> bool:
        """Running, not waiting for the database, and able to write dead letters."""
        return self._running and not self._database_down and not self._dead_letters_failing

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set, then commit offsets, leave the group and flush."""
        consumer = self._consumer = Consumer(self._config)
        consumer.subscribe(
            self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )
        self._running = True
        log.info("consumer started", consumer=self.group_id, topics=self.topics)
        clean = False
        try:
            while not stop.is_set():
                self.poll_once(consumer)
            clean = True
        finally:
            self._running = False
            self._close(consumer, commit=clean)

    def poll_once(self, consumer: Consumer) -> None:
        """Handle one batch of messages, commit what it processed, resume due partitions."""
        # consume() blocks until the batch is full or the timeout passes, which would add up to
        # poll_timeout_s of latency per hop when idle: wait for one message, then drain the rest.
        first = consumer.poll(self.poll_timeout_s)
        if first is not None:
            rest = consumer.consume(self.batch_size - 1, 0) if self.batch_size > 1 else []
            for message in (first, *rest):
                self._on_message(consumer, message)
        self._progress.commit(consumer)
        self._progress.release_due(consumer, self.retry_backoff.initial_s)

    def _on_message(self, consumer: Consumer, message: Message) -> None:
        error = message.error()
        if error is not None:
            if error.fatal():
                raise KafkaException(error)
            log.warning("consumer error", consumer=self.group_id, error=str(error))
            return
        try:
            record, unreadable = ConsumedRecord.from_message(message), None
        except Exception as error:
            # E.g. a header name that is not UTF-8: poison, not a reason to stop consuming.
            record, unreadable = ConsumedRecord.salvage(message), error
        topic, partition, offset = record.topic, record.partition, record.offset
        held = self._progress.held_offset(topic, partition)
        if held is not None:
            # Fetched before the pause took effect (or a rebalance resumed it): re-read later.
            self._progress.hold(
                consumer, topic, partition, held, self._progress.remaining(topic, partition)
            )
            return
        try:
            if unreadable is None:
                self._handle(record)
            else:
                fields = record.log_fields(self.group_id)
                self._dead_letter(record, UNREADABLE_RECORD, _describe(unreadable), fields)
        except RetryLater as retry:
            self._progress.hold(
                consumer, topic, partition, offset, retry.delay_s, outage=retry.database_down
            )
            return
        self._attempts.pop((topic, partition, offset), None)
        self._progress.processed(topic, partition, offset)

    def _handle(self, message: ConsumedRecord) -> None:
        fields = message.log_fields(self.group_id)
        try:
            envelope = decode(message.value, message.headers, registry=self.registry)
        except DecodeError as error:
            self._dead_letter(message, error.reason, str(error), fields)
            return
        except Exception as error:
            # A decoder bug on odd input must not kill the loop (and with it every partition).
            self._dead_letter(message, UNDECODABLE, _describe(error), fields)
            return
        handler = self.handlers.get(envelope.event_type)
        if handler is None:
            self.skipped += 1
            log.debug("no handler, skipped", **fields)
            return
        try:
            applied = apply_once(
                self.session_factory, self.processed_table, self.group_id, envelope, handler
            )
        except Exception as error:
            self._on_failure(message, error, fields)
            return
        if self._database_down:
            # Back: the partitions held meanwhile retry now, not after their own delays
            # (which grew with every partition that failed, up to the outage maximum).
            self._database_down = False
            self._progress.end_outage()
        self._outage.reset()
        if applied:
            self.processed += 1
            log.info("event processed", **fields)
            self._after_commit(message)
        else:
            self.duplicates += 1
            log.info("duplicate event skipped", **fields)

    def _after_commit(self, message: ConsumedRecord) -> None:
        # Seam for tests: a crash here is "DB committed, offset not yet committed".
        pass

    def _on_failure(
        self, message: ConsumedRecord, error: Exception, fields: dict[str, Any]
    ) -> None:
        self.last_error = f"{type(error).__name__}: {error}"
        failure = classify(error)
        if failure is Failure.DATABASE_UNAVAILABLE:
            self._database_down = True
            delay = self._outage.next_delay()
            log.warning("database unavailable, waiting", error=self.last_error, **fields)
            raise RetryLater(delay, database_down=True) from error
        if failure is Failure.CONFLICT:
            log.info("transaction conflict, retrying", error=self.last_error, **fields)
            raise RetryLater(self.retry_backoff.initial_s) from error
        key = (message.topic, message.partition, message.offset)
        attempts = self._attempts[key] = self._attempts.get(key, 0) + 1
        if attempts < self.max_attempts:
            log.warning(
                "handler failed, will retry", attempt=attempts, error=self.last_error, **fields
            )
            backoff = self.retry_backoff
            raise RetryLater(delay_for(attempts, backoff.initial_s, backoff.max_s, backoff.factor))
        log.error("handler failed for good", attempt=attempts, error=self.last_error, **fields)
        self._dead_letter(message, HANDLER_FAILED, self.last_error, fields)

    def _dead_letter(
        self, message: ConsumedRecord, reason: str, error: str, fields: dict[str, Any]
    ) -> None:
        try:
            self._dlq.send(message, reason=reason, error=error)
        except (DeadLetterFailed, KafkaException, BufferError) as failed:
            self._dead_letters_failing = True
            self.last_error = f"dead-letter publish failed: {failed}"
            log.warning("dead-letter publish failed", error=str(failed), **fields)
            raise RetryLater(self._outage.next_delay()) from failed
        if self._dead_letters_failing:
            self._dead_letters_failing = False
            self._outage.reset()
        self.dead_lettered += 1
        log.error("event dead-lettered", reason=reason, error=error, **fields)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._joined = True
        log.info("partitions assigned", consumer=self.group_id, partitions=_names(partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        self._progress.commit(consumer, revoked)
        self._give_up(consumer, revoked)
        log.info("partitions revoked", consumer=self.group_id, partitions=_names(partitions))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Another member may own them already: committing now could move its offsets.
        lost = {(tp.topic, tp.partition) for tp in partitions}
        self._progress.take_pending(lost)
        self._give_up(consumer, lost)
        log.warning("partitions lost", consumer=self.group_id, partitions=_names(partitions))

    def _give_up(self, consumer: Consumer, partitions: set[tuple[str, int]]) -> None:
        self._progress.give_up(consumer, partitions)
        for key in [k for k in self._attempts if (k[0], k[1]) in partitions]:
            del self._attempts[key]

    def _close(self, consumer: Consumer, *, commit: bool) -> None:
        try:
            if commit:
                self._progress.commit(consumer)
            consumer.close()
        finally:
            self._consumer = None
            self._joined = False
            self._dlq.close()
            log.info("consumer stopped", consumer=self.group_id, clean=commit)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _names(partitions: list[TopicPartition]) -> list[str]:
    return [f"{tp.topic}[{tp.partition}]" for tp in partitions]
