"""What becomes of a record that could not be applied: wait for the database, retry, or
dead-letter it, and whether the consumer is healthy meanwhile."""

from collections.abc import Callable, Iterable
from typing import Any

import structlog
from confluent_kafka import KafkaException

from shared_events.kafka.consuming.backoff import Backoff
from shared_events.kafka.consuming.failures import Failure, classify
from shared_events.kafka.consuming.intake import describe
from shared_events.kafka.consuming.records import ConsumedRecord
from shared_events.kafka.dead_letters.writer import (
    HANDLER_FAILED,
    DeadLetterFailed,
    DeadLetterQueue,
)

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


class Retries:
    """Attempts per record, the backoffs between them, and the dead-letter topic after them."""

    def __init__(
        self,
        dead_letters: DeadLetterQueue,
        *,
        max_attempts: int,
        retry_backoff: Backoff,
        outage_backoff: Backoff,
        on_dead_letter: Callable[[ConsumedRecord], None] = lambda _record: None,
    ) -> None:
        self.dlq = dead_letters
        self.on_dead_letter = on_dead_letter
        self.max_attempts = max_attempts
        self.retry_backoff = retry_backoff
        self.outage = outage_backoff
        self.attempts: dict[tuple[str, int, int], int] = {}
        self.dead_lettered = 0
        self.database_down = False
        self.dead_letters_failing = False
        self.last_error: str | None = None

    def outage_delay(self, error: BaseException) -> float:
        """The database is unreachable: how long to wait before trying again."""
        self.last_error = describe(error)
        self.database_down = True
        return self.outage.next_delay()

    def database_back(self) -> bool:
        """A transaction committed; True when that ends an outage."""
        was_down, self.database_down = self.database_down, False
        self.outage.reset()
        return was_down

    def failed(self, record: ConsumedRecord, error: Exception, fields: dict[str, Any]) -> None:
        """Applying `record` alone failed: raise RetryLater, or dead-letter it for good."""
        self.last_error = describe(error)
        failure = classify(error)
        if failure is Failure.DATABASE_UNAVAILABLE:
            delay = self.outage_delay(error)
            log.warning("database unavailable, waiting", error=self.last_error, **fields)
            raise RetryLater(delay, database_down=True) from error
        if failure is Failure.CONFLICT:
            log.info("transaction conflict, retrying", error=self.last_error, **fields)
            raise RetryLater(self.retry_backoff.initial_s) from error
        key = (record.topic, record.partition, record.offset)
        attempts = self.attempts[key] = self.attempts.get(key, 0) + 1
        if attempts < self.max_attempts:
            log.warning(
                "handler failed, will retry", attempt=attempts, error=self.last_error, **fields
            )
            raise RetryLater(self.retry_backoff.delay(attempts))
        log.error("handler failed for good", attempt=attempts, error=self.last_error, **fields)
        self.dead_letter(record, HANDLER_FAILED, self.last_error, fields)

    def dead_letter(
        self, record: ConsumedRecord, reason: str, error: str, fields: dict[str, Any]
    ) -> None:
        """Send `record` to the dead-letter topic (RetryLater while that topic refuses it)."""
        try:
            self.dlq.send(record, reason=reason, error=error)
        except (DeadLetterFailed, KafkaException, BufferError) as failed:
            self.dead_letters_failing = True
            self.last_error = f"dead-letter publish failed: {failed}"
            log.warning("dead-letter publish failed", error=str(failed), **fields)
            raise RetryLater(self.outage.next_delay()) from failed
        if self.dead_letters_failing:
            self.dead_letters_failing = False
            self.outage.reset()
        self.dead_lettered += 1
        self.on_dead_letter(record)
        log.error("event dead-lettered", reason=reason, error=error, **fields)

    def done(self, record: ConsumedRecord) -> None:
        """`record` is settled: forget its attempts."""
        self.attempts.pop((record.topic, record.partition, record.offset), None)

    def forget(self, partitions: Iterable[tuple[str, int]]) -> None:
        """Partitions leaving this consumer: their next owner starts the attempts afresh."""
        gone = set(partitions)
        for key in [k for k in self.attempts if (k[0], k[1]) in gone]:
            del self.attempts[key]
