"""The sending side: stage events in the outbox (`outbox`), lease rows (`claim`), publish them
with an idempotent producer (`producer`) from the relay loop (`relay`)."""
