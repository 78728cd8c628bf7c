"""The outbox relay: publishes committed outbox rows to Kafka, marking them sent once acked."""

import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import structlog
from confluent_kafka import Producer
from opentelemetry import trace
from opentelemetry.trace import Span, StatusCode
from sqlalchemy import Table
from sqlalchemy.engine import Engine

from shared_events.kafka.codec import CORRELATION_ID_HEADER, EVENT_TYPE_HEADER, header
from shared_events.kafka.connection import KafkaTarget
from shared_events.kafka.consuming.backoff import Backoff
from shared_events.kafka.observer import NoObserver, Observer
from shared_events.kafka.publishing.claim import (
    OutboxRow,
    claim_batch,
    mark_sent,
    prune_sent,
    release,
)
from shared_events.kafka.publishing.outbox import notify_channel
from shared_events.kafka.publishing.producer import (
    OutgoingRecord,
    delivery_timeout_s,
    produce_and_flush,
    producer_config,
)
from shared_events.kafka.tracing import publish_span, with_trace_headers

log = structlog.get_logger(__name__)

_WAIT_SLICE_S = 0.5


class OutboxRelay:
    """Moves rows from one outbox table to Kafka: at least once, in per-key order."""

    def __init__(
        self,
        engine: Engine,
        table: Table,
        producer: KafkaTarget | Mapping[str, Any],
        *,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
        retention: timedelta | None = timedelta(days=7),
        prune_interval_s: float = 600.0,
        backoff: Backoff | None = None,
        min_round_interval_s: float = 0.02,
        lease: timedelta | None = None,
        duplicate_every_event: bool = False,
        observer: Observer | None = None,
    ) -> None:
        self.engine = engine
        self.observer: Observer = observer or NoObserver()
        self.table = table
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.retention = retention
        self.prune_interval_s = prune_interval_s
        # Under load every commit NOTIFYs; rounds this close together would each carry a row
        # or two and spend the CPU the consumers need. When idle, a wake-up is served at once.
        self.min_round_interval_s = min_round_interval_s
        self.rounds = 0
        # Test switch (the duplicate storm): publish each batch twice, same event ids.
        self.duplicate_every_event = duplicate_every_event
        self.channel = notify_channel(table)
        self.published = 0
        self.last_error: str | None = None
        self._producer_config = producer_config(producer)
        # A round waits for its delivery reports at most this long: past it, the rows go
        # back (their lease lifted) and are retried. The lease outlives the wait, so no
        # other relay takes rows this one may still be producing.
        self._flush_timeout_s = delivery_timeout_s(self._producer_config)
        self.lease = lease or timedelta(seconds=self._flush_timeout_s + 5.0)
        self._producer: Producer | None = None
        self._backoff = backoff or Backoff(initial_s=0.2, max_s=15.0)
        self._listener: psycopg.Connection[Any] | None = None
        self._running = False
        self._healthy = False
        self._last_prune = 0.0
        self._last_round = 0.0

    @property
    def running(self) -> bool:
        """Whether `run` is looping (it may be waiting out an error)."""
        return self._running

    @property
    def healthy(self) -> bool:
        """Whether the last round reached the database and the broker without error."""
        return self._running and self._healthy

    def publish_pending(self) -> int:
        """Publish one batch; return how many rows were acked (`PublishFailed` if not all)."""
        delivered, _more = self._publish_batch()
        return delivered

    def run(self, stop: threading.Event) -> None:
        """Publish until `stop` is set, woken by NOTIFY or every `poll_interval_s`."""
        self._running = True
        log.info("outbox relay started", outbox=str(self.table.fullname))
        if self.duplicate_every_event:
            log.warning("duplicate storm: every event is published twice", outbox=self.channel)
        try:
            while not stop.is_set():
                try:
                    delivered, more = self._publish_batch()
                    self._prune_if_due()
                except Exception as error:
                    self._close_listener()
                    self._note_failure(error)
                    stop.wait(self._backoff.next_delay())
                    continue
                if more and delivered:
                    continue
                self._wait_for_rows(stop)
        finally:
            self._running = False
            self._close_listener()
            self.close()
            log.info("outbox relay stopped", outbox=str(self.table.fullname))

    def close(self) -> None:
        """Flush and drop the producer (it is recreated on next use)."""
        if self._producer is not None:
            self._producer.flush(5.0)
            self._producer = None

    def _publish_batch(self) -> tuple[int, bool]:
        self._last_round = time.monotonic()
        self.rounds += 1
        # Three steps, no transaction open across the broker round trip: lease, produce and
        # flush, then mark the acked rows sent and lift the lease of the rest.
        with self.engine.begin() as conn:
            rows, held_back = claim_batch(conn, self.table, self.batch_size, self.lease)
        if not rows:
            self._note_success()
            return 0, held_back > 0
        spans = {r.id: publish_span(r.topic, r.headers, r.event_id, r.created_at) for r in rows}
        records = [
            OutgoingRecord(
                r.id,
                r.topic,
                r.key,
                r.value,
                with_trace_headers(r.headers, trace.set_span_in_context(spans[r.id])),
            )
            for r in rows
        ]
        if self.duplicate_every_event:
            # The copies follow the whole batch, so a key's copy of event 1 can arrive after
            # its event 2, as when a relay dies before mark-sent and republishes a batch.
            records += [
                OutgoingRecord(("copy", r.ref), r.topic, r.key, r.value, r.headers) for r in records
            ]
        try:
            outcome = produce_and_flush(self._ensure_producer(), records, self._flush_timeout_s)
        except BaseException as error:
            self._release([row.id for row in rows])
            _end_spans(spans, {id_: f"{type(error).__name__}: {error}" for id_ in spans})
            raise
        _end_spans(spans, outcome.failed, outcome.positions)
        delivered = [ref for ref in outcome.delivered if isinstance(ref, int)]
        with self.engine.begin() as conn:
            mark_sent(conn, self.table, delivered)
            release(conn, self.table, [row.id for row in rows if row.id in outcome.failed])
        # Counted after the commit: only rows the outbox now shows as sent.
        self.published += len(delivered)
        self.observer.published(_latencies(rows, set(delivered)))
        if outcome.fatal:
            self._producer = None
        if outcome.failed:
            self._log_failures(rows, outcome.failed)
            raise PublishFailed(f"{len(outcome.failed)} of {len(rows)} records not delivered")
        self._note_success()
        return len(delivered), held_back > 0 or len(rows) == self.batch_size

    def _release(self, ids: list[int]) -> None:
        # Best effort: when even this fails, the lease runs out by itself.
        try:
            with self.engine.begin() as conn:
                release(conn, self.table, ids)
        except Exception as error:
            log.warning("outbox lease not lifted", outbox=self.channel, error=str(error))

    def _ensure_producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(self._producer_config)
        return self._producer

    def _wait_for_rows(self, stop: threading.Event) -> None:
        deadline = time.monotonic() + self.poll_interval_s
        try:
            listener = self._ensure_listener()
            # Short slices keep `stop` responsive; a NOTIFY (a commit that wrote outbox
            # rows) ends the wait at once. Unread notifications wait in the socket.
            while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
                wake_ups = listener.notifies(timeout=min(left, _WAIT_SLICE_S), stop_after=1)
                woken = next(wake_ups, None) is not None
                wake_ups.close()  # it holds the connection's lock while open
                if woken:
                    self._settle(listener, stop)
                    return
        except psycopg.Error as error:
            # Polling still works without LISTEN; reconnect on the next wait.
            self._close_listener()
            log.warning("outbox listen failed, polling", error=str(error), channel=self.channel)
            stop.wait(max(0.0, deadline - time.monotonic()))

    def _settle(self, listener: psycopg.Connection[Any], stop: threading.Event) -> None:
        # Let commits close behind this one join the round, then drop the wake-ups they
        # queued: the next claim sees all of their rows at once.
        stop.wait(max(0.0, self._last_round + self.min_round_interval_s - time.monotonic()))
        for _ in listener.notifies(timeout=0):
            pass

    def _ensure_listener(self) -> psycopg.Connection[Any]:
        if self._listener is None or self._listener.closed:
            url = self.engine.url.set(drivername="postgresql")
            conninfo = url.render_as_string(hide_password=False)
            self._listener = psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
            self._listener.execute(f'LISTEN "{self.channel}"')
        return self._listener

    def _close_listener(self) -> None:
        if self._listener is not None:
            try:
                self._listener.close()
            finally:
                self._listener = None

    def _prune_if_due(self) -> None:
        if self.retention is None:
            return
        now = time.monotonic()
        if now - self._last_prune < self.prune_interval_s:
            return
        self._last_prune = now
        with self.engine.begin() as conn:
            pruned = prune_sent(conn, self.table, self.retention)
        if pruned:
            log.info("pruned sent outbox rows", outbox=str(self.table.fullname), rows=pruned)

    def _note_success(self) -> None:
        self._healthy = True
        self._backoff.reset()

    def _note_failure(self, error: Exception) -> None:
        self._healthy = False
        self.last_error = f"{type(error).__name__}: {error}"
        log.warning(
            "outbox relay round failed, retrying",
            outbox=str(self.table.fullname),
            error=self.last_error,
            failures=self._backoff.failures + 1,
        )

    def _log_failures(self, rows: list[OutboxRow], failed: Mapping[Any, str]) -> None:
        for row in rows:
            if row.id in failed:
                log.warning(
                    "outbox record not delivered",
                    event_id=str(row.event_id),
                    event_type=header(row.headers, EVENT_TYPE_HEADER),
                    correlation_id=header(row.headers, CORRELATION_ID_HEADER),
                    topic=row.topic,
                    outbox_id=row.id,
                    error=failed[row.id],
                )


def _latencies(rows: list[OutboxRow], delivered: set[int]) -> list[float]:
    """Seconds from staged to acknowledged, of each delivered row that knows when it was staged."""
    now = datetime.now(UTC)
    return [
        (now - row.created_at).total_seconds()
        for row in rows
        if row.id in delivered and row.created_at is not None
    ]


def _end_spans(
    spans: Mapping[int, Span],
    failed: Mapping[Any, str],
    positions: Mapping[Any, str] | None = None,
) -> None:
    for id_, span in spans.items():
        if id_ in failed:
            span.set_status(StatusCode.ERROR, failed[id_])
        elif positions and id_ in positions:
            span.set_attribute("messaging.kafka.position", positions[id_])
        span.end()


class PublishFailed(Exception):
    """Some records of a batch got no successful delivery report; they stay unsent."""
