"""The idempotent consumer: decode a batch, apply it in one DB transaction, commit the offsets."""

import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from sqlalchemy import Table
from sqlalchemy.orm import Session, sessionmaker

from shared_events.catalog import CATALOG
from shared_events.kafka.backoff import Backoff, delay_for
from shared_events.kafka.consumed import ConsumedRecord
from shared_events.kafka.dead_letter import HANDLER_FAILED, DeadLetterFailed, DeadLetterQueue
from shared_events.kafka.failures import Failure, classify
from shared_events.kafka.inbox import BatchHandler, apply_batch
from shared_events.kafka.intake import Intake, describe, take_in
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
    """Consumes saga events at least once and applies each one exactly once per group.

    Up to `batch_max` fetched events are applied in one transaction (`batch_max=1`: one
    event per transaction). When a batch fails, its events are applied one at a time, so
    the one that fails is retried or dead-lettered alone and its neighbours go through.
    """

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        group_id: str,
        topics: Sequence[str],
        handlers: Mapping[str, BatchHandler],
        session_factory: sessionmaker[Session],
        processed_table: Table,
        dead_letter_topic: str,
        max_attempts: int = 5,
        retry_backoff: Backoff | None = None,
        outage_backoff: Backoff | None = None,
        batch_max: int = 500,
        batch_wait_s: float = 0.005,
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
        if batch_max < 1:
            raise ValueError("batch_max must be at least 1")
        self.batch_max = batch_max
        self.batch_wait_s = batch_wait_s
        self.poll_timeout_s = poll_timeout_s
        self.registry = registry
        self.retry_backoff = retry_backoff or Backoff(initial_s=0.2, max_s=5.0)
        self._outage = outage_backoff or Backoff(initial_s=0.5, max_s=15.0)
        self.processed = 0
        self.duplicates = 0
        self.skipped = 0
        self.dead_lettered = 0
        self.batches = 0
        self.applied_by_type: Counter[str] = Counter()
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
        self._retrying: set[tuple[str, int]] = set()
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
        # consume() blocks until the batch is full or the wait ends: wait for one message
        # first (an idle hop costs no extra latency), then take what comes within the wait.
        first = consumer.poll(self.poll_timeout_s)
        if first is not None:
            rest = (
                consumer.consume(self.batch_max - 1, self.batch_wait_s)
                if self.batch_max > 1
                else []
            )
            self._on_batch(consumer, [first, *rest])
        self._progress.commit(consumer)
        self._retrying.update(self._progress.release_due(consumer, self.retry_backoff.initial_s))

    def _on_batch(self, consumer: Consumer, messages: list[Message]) -> None:
        began = time.monotonic()
        intakes = [i for i in (self._take_in(consumer, m) for m in messages) if i is not None]
        # A partition back from a hold retries its first events alone, so a failing event
        # costs its neighbours nothing and its attempts are counted exactly.
        to_apply = [i for i in intakes if i.applies and i.partition not in self._retrying]
        if len(to_apply) > 1:
            try:
                applied = apply_batch(
                    self.session_factory,
                    self.processed_table,
                    self.group_id,
                    [i.envelope for i in to_apply if i.envelope is not None],
                    self.handlers,
                )
            except Exception as error:
                self._on_batch_failure(consumer, intakes, error)
                return
            self._applied(to_apply, applied)
            self._after_commit([i.record for i in to_apply])
            batched = {id(intake) for intake in to_apply}
            for intake in intakes:
                self._finish(consumer, intake, applied=id(intake) in batched)
        else:
            for intake in intakes:
                self._finish(consumer, intake, applied=False)
        self.batches += 1
        log.info(
            "batch done",
            consumer=self.group_id,
            records=len(messages),
            applied=len(to_apply),
            ms=round((time.monotonic() - began) * 1000, 1),
        )

    def _take_in(self, consumer: Consumer, message: Message) -> Intake | None:
        error = message.error()
        if error is not None:
            if error.fatal():
                raise KafkaException(error)
            log.warning("consumer error", consumer=self.group_id, error=str(error))
            return None
        try:
            record, unreadable = ConsumedRecord.from_message(message), None
        except Exception as error:
            record, unreadable = ConsumedRecord.salvage(message), error
        held = self._progress.held_offset(record.topic, record.partition)
        if held is not None:
            # Fetched before the pause took effect (or a rebalance resumed it): re-read later.
            remaining = self._progress.remaining(record.topic, record.partition)
            self._progress.hold(consumer, record.topic, record.partition, held, remaining)
            return None
        return take_in(record, unreadable, self.registry, frozenset(self.handlers))

    def _finish(self, consumer: Consumer, intake: Intake, *, applied: bool) -> None:
        """Settle one record in fetch order; `applied`: its batch already committed it."""
        record = intake.record
        if self._progress.held_offset(record.topic, record.partition) is not None:
            return  # an earlier record of its partition is held: this one is read again
        try:
            if intake.poison is not None:
                reason, error = intake.poison
                self._dead_letter(record, reason, error, record.log_fields(self.group_id))
            elif intake.applies and not applied:
                self._apply_alone(intake)
            elif not intake.applies:
                self.skipped += 1
                log.debug("no handler, skipped", **record.log_fields(self.group_id))
        except RetryLater as retry:
            self._progress.hold(
                consumer,
                record.topic,
                record.partition,
                record.offset,
                retry.delay_s,
                outage=retry.database_down,
            )
            return
        self._attempts.pop((record.topic, record.partition, record.offset), None)
        self._retrying.discard(intake.partition)
        self._progress.processed(record.topic, record.partition, record.offset)

    def _apply_alone(self, intake: Intake) -> None:
        try:
            applied = apply_batch(
                self.session_factory,
                self.processed_table,
                self.group_id,
                [] if intake.envelope is None else [intake.envelope],
                self.handlers,
            )
        except Exception as error:
            self._on_failure(intake.record, error, intake.record.log_fields(self.group_id))
            return
        self._applied([intake], applied)
        self._after_commit([intake.record])

    def _applied(self, intakes: Sequence[Intake], applied: Sequence[Any]) -> None:
        if self._database_down:
            # Back: the partitions held meanwhile retry now, not after their own delays
            # (which grew with every partition that failed, up to the outage maximum).
            self._database_down = False
            self._progress.end_outage()
        self._outage.reset()
        self.processed += len(applied)
        self.duplicates += len(intakes) - len(applied)
        self.applied_by_type.update(envelope.event_type for envelope in applied)
        for intake in intakes:
            log.debug("event applied", **intake.record.log_fields(self.group_id))

    def _on_batch_failure(
        self, consumer: Consumer, intakes: list[Intake], error: Exception
    ) -> None:
        self.last_error = describe(error)
        if classify(error) is Failure.DATABASE_UNAVAILABLE:
            # Every event of the batch would fail alike: hold each partition at its first.
            self._database_down = True
            delay = self._outage.next_delay()
            log.warning(
                "database unavailable, waiting", consumer=self.group_id, error=self.last_error
            )
            firsts: dict[tuple[str, int], int] = {}
            for intake in intakes:
                firsts.setdefault(intake.partition, intake.record.offset)
            for (topic, partition), offset in firsts.items():
                self._progress.hold(consumer, topic, partition, offset, delay, outage=True)
            return
        log.info(
            "batch failed, applying its events one at a time",
            consumer=self.group_id,
            records=len(intakes),
            error=self.last_error,
        )
        for intake in intakes:
            self._finish(consumer, intake, applied=False)

    def _after_commit(self, records: list[ConsumedRecord]) -> None:
        # Seam for tests: a crash here is "DB committed, offsets not yet committed".
        pass

    def _on_failure(
        self, message: ConsumedRecord, error: Exception, fields: dict[str, Any]
    ) -> None:
        self.last_error = describe(error)
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
        self._retrying -= partitions
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


def _names(partitions: list[TopicPartition]) -> list[str]:
    return [f"{tp.topic}[{tp.partition}]" for tp in partitions]
