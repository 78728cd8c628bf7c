"""The envelopes of the events this service writes: its name on them, and what caused them."""

from collections.abc import Iterable, Sequence

from shared_events import Envelope, Event, follow_up, new_envelope

SERVICE = "payment"
"""The producer name stamped on every event this service writes."""


class Causes:
    """The consumed events a unit of work applies, by the order (correlation id) each is about.

    An order's new events become follow-ups of its consumed event; events of an order with
    none (an HTTP command) start their own causation chain.
    """

    def __init__(self, consumed: Iterable[Envelope[Event]] = ()) -> None:
        self._by_order = {envelope.correlation_id: envelope for envelope in consumed}

    def envelopes(self, events: Sequence[Event]) -> list[Envelope[Event]]:
        """Wrap the events an order recorded, in order."""
        return [self._envelope(event) for event in events]

    def _envelope(self, event: Event) -> Envelope[Event]:
        # Our events are keyed by their order id, the correlation id of the saga.
        cause = self._by_order.get(event.key())
        if cause is None:
            return new_envelope(event, producer=SERVICE)
        return follow_up(cause, event, producer=SERVICE)
