"""The idempotent consumer: decode a batch, apply it in one DB transaction, commit the offsets."""

import threading
import time
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import structlog
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from sqlalchemy import Table
from sqlalchemy.orm import Session, sessionmaker

from shared_events.envelope import Envelope
from shared_events.event_registry import EVENT_REGISTRY
from shared_events.kafka.codec import EVENT_TYPE_HEADER, header
from shared_events.kafka.connection import KafkaTarget
from shared_events.kafka.consuming.backoff import Backoff
from shared_events.kafka.consuming.failures import Failure, classify
from shared_events.kafka.consuming.group import group_config
from shared_events.kafka.consuming.inbox import BatchHandler, apply_batch
from shared_events.kafka.consuming.intake import Intake, take_in
from shared_events.kafka.consuming.partitions import PartitionProgress
from shared_events.kafka.consuming.partitions import partition_names as _names
from shared_events.kafka.consuming.records import ConsumedRecord
from shared_events.kafka.consuming.retries import Retries, RetryLater
from shared_events.kafka.dead_letters.writer import DeadLetterQueue
from shared_events.kafka.observer import UNKNOWN_TYPE, NoObserver, Observer
from shared_events.kafka.tracing import handling
from shared_events.registry import EventRegistry

log = structlog.get_logger(__name__)


class EventConsumer:
    """Consumes saga events at least once and applies each one exactly once per group.

    Up to `batch_max` fetched events are applied in one transaction (1: one per transaction);
    a batch that fails is applied one event at a time, so only the culprit is retried.
    Events of the `replayable_types` are applied on every delivery, never recorded in the
    inbox (their handlers are idempotent by themselves): re-reading their topic rebuilds.
    """

    def __init__(
        self,
        *,
        bootstrap_servers: KafkaTarget,
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
        commit_interval_s: float = 0.2,
        registry: EventRegistry = EVENT_REGISTRY,
        config_overrides: Mapping[str, Any] | None = None,
        observer: Observer | None = None,
        replayable_types: Collection[str] = (),
    ) -> None:
        self.group_id = group_id
        self.observer: Observer = observer or NoObserver()
        self.topics = list(topics)
        self.handlers = dict(handlers)
        self.session_factory = session_factory
        self.processed_table = processed_table
        if batch_max < 1:
            raise ValueError("batch_max must be at least 1")
        self.batch_max = batch_max
        self.batch_wait_s = batch_wait_s
        self.poll_timeout_s = poll_timeout_s
        # Offsets are committed on an interval (and on revoke and stop), not per batch: a
        # crash re-reads at most that much, and the inbox skips it.
        self.commit_interval_s = commit_interval_s
        self._last_commit = 0.0
        self.registry = registry
        self._handled_types = frozenset(self.handlers)
        self.replayable_types = frozenset(replayable_types)
        self.retry_backoff = retry_backoff or Backoff(initial_s=0.2, max_s=5.0)
        self.processed = 0
        self.duplicates = 0
        self.skipped = 0
        self.batches = 0
        self.applied_by_type: Counter[str] = Counter()
        self._config = group_config(bootstrap_servers, group_id, config_overrides)
        self._retries = Retries(
            DeadLetterQueue(dead_letter_topic, group_id, bootstrap_servers),
            max_attempts=max_attempts,
            retry_backoff=self.retry_backoff,
            outage_backoff=outage_backoff or Backoff(initial_s=0.5, max_s=15.0),
            on_dead_letter=lambda record: self.observer.handled(
                group_id, _event_type(record), "dead_lettered"
            ),
        )
        self._consumer: Consumer | None = None
        self._progress = PartitionProgress()
        self._retrying: set[tuple[str, int]] = set()
        self._joined = False
        self._running = False

    @property
    def assigned(self) -> bool:
        """Whether the consumer has joined its group (its assignment may be empty)."""
        return self._joined

    @property
    def healthy(self) -> bool:
        """Running, not waiting for the database, and able to write dead letters."""
        retries = self._retries
        return self._running and not retries.database_down and not retries.dead_letters_failing

    @property
    def dead_lettered(self) -> int:
        """Records sent to the dead-letter topic since the consumer was made."""
        return self._retries.dead_lettered

    @property
    def last_error(self) -> str | None:
        """The last failure seen, as `Type: message`."""
        return self._retries.last_error

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
        """Handle one batch of messages, commit offsets when due, resume due partitions."""
        # consume() blocks until the batch is full or the wait ends: wait for one message
        # first (an idle hop costs no extra latency), then take what comes within the wait.
        first = consumer.poll(self.poll_timeout_s)
        if first is not None:
            wanted = self.batch_max - 1
            rest = consumer.consume(wanted, self.batch_wait_s) if wanted else []
            self._on_batch(consumer, [first, *rest])
        if time.monotonic() - self._last_commit >= self.commit_interval_s:
            self._progress.commit(consumer)
            self._last_commit = time.monotonic()
        self._retrying.update(self._progress.release_due(consumer, self.retry_backoff.initial_s))

    def _on_batch(self, consumer: Consumer, messages: list[Message]) -> None:
        began = time.monotonic()
        try:
            applied = self._settle(consumer, messages)
        finally:
            seconds = time.monotonic() - began
            self.observer.batch(self.group_id, len(messages), seconds)
        self.batches += 1
        log.info(
            "batch done",
            consumer=self.group_id,
            records=len(messages),
            applied=applied,
            ms=round(seconds * 1000, 1),
        )

    def _settle(self, consumer: Consumer, messages: list[Message]) -> int | None:
        """Apply a fetched batch; how many it applied together (None: it failed)."""
        intakes = [i for i in (self._take_in(consumer, m) for m in messages) if i is not None]
        # A partition back from a hold retries its first events alone, so a failing event
        # costs its neighbours nothing and its attempts are counted exactly.
        to_apply = [i for i in intakes if i.applies and i.partition not in self._retrying]
        if len(to_apply) > 1:
            try:
                self._apply(to_apply)
            except Exception as error:
                self._on_batch_failure(consumer, intakes, error)
                return None
        batched = {id(intake) for intake in to_apply} if len(to_apply) > 1 else set()
        for intake in intakes:
            self._finish(consumer, intake, applied=id(intake) in batched)
        return len(to_apply)

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
        return take_in(record, unreadable, self.registry, self._handled_types)

    def _finish(self, consumer: Consumer, intake: Intake, *, applied: bool) -> None:
        """Settle one record in fetch order; `applied`: its batch already committed it."""
        record = intake.record
        if self._progress.held_offset(record.topic, record.partition) is not None:
            return  # an earlier record of its partition is held: this one is read again
        try:
            if intake.poison is not None:
                reason, error = intake.poison
                self._retries.dead_letter(record, reason, error, record.log_fields(self.group_id))
            elif intake.applies and not applied:
                self._apply_alone(intake)
            elif not intake.applies:
                self.skipped += 1
                self.observer.handled(self.group_id, _event_type(record), "skipped")
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
        self._retries.done(record)
        self._retrying.discard(intake.partition)
        self._progress.processed(record.topic, record.partition, record.offset)

    def _apply_alone(self, intake: Intake) -> None:
        try:
            self._apply([intake])
        except Exception as error:
            self.observer.handled(self.group_id, _event_type(intake.record), "failed")
            self._retries.failed(intake.record, error, intake.record.log_fields(self.group_id))
            return

    def _apply(self, intakes: Sequence[Intake]) -> None:
        """Apply in one transaction (raising when it fails), then count it."""
        events = [(i.record, i.envelope) for i in intakes if i.envelope is not None]
        seconds_by_type: dict[str, float] = {}
        with handling(self.group_id, events):
            applied = apply_batch(
                self.session_factory,
                self.processed_table,
                self.group_id,
                [envelope for _, envelope in events],
                self.handlers,
                seconds_by_type=seconds_by_type,
                replayable=self.replayable_types,
            )
        if self._retries.database_back():
            # The partitions held meanwhile retry now, not after their own delays (which
            # grew with every partition that failed, up to the outage maximum).
            self._progress.end_outage()
        self.processed += len(applied)
        self.duplicates += len(intakes) - len(applied)
        applied_types = Counter(envelope.event_type for envelope in applied)
        self.applied_by_type.update(applied_types)
        self._observe_applied(applied_types, [envelope for _, envelope in events])
        self.observer.handler_seconds(self.group_id, seconds_by_type)
        for intake in intakes:
            log.debug("event applied", **intake.record.log_fields(self.group_id))

    def _observe_applied(self, applied: Counter[str], events: Sequence[Envelope[Any]]) -> None:
        # Counted once the transaction committed: what it applied, and what the inbox
        # already held (every event of the batch not applied now).
        duplicates = Counter(envelope.event_type for envelope in events) - applied
        for event_type, count in applied.items():
            self.observer.handled(self.group_id, event_type, "applied", count)
        for event_type, count in duplicates.items():
            self.observer.handled(self.group_id, event_type, "duplicate", count)

    def _on_batch_failure(
        self, consumer: Consumer, intakes: list[Intake], error: Exception
    ) -> None:
        if classify(error) is Failure.DATABASE_UNAVAILABLE:
            # Every event of the batch would fail alike: hold each partition at its first.
            delay = self._retries.outage_delay(error)
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
            error=f"{type(error).__name__}: {error}",
        )
        for intake in intakes:
            self._finish(consumer, intake, applied=False)

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
        self._retries.forget(partitions)

    def _close(self, consumer: Consumer, *, commit: bool) -> None:
        try:
            if commit:
                self._progress.commit(consumer)
            consumer.close()
        finally:
            self._consumer = None
            self._joined = False
            self._retries.dlq.close()
            log.info("consumer stopped", consumer=self.group_id, clean=commit)


def _event_type(record: ConsumedRecord) -> str:
    return header(record.headers, EVENT_TYPE_HEADER) or UNKNOWN_TYPE
