"""Order service: its own domain, schema and Kafka consumers in the order saga."""

from typing import Final

SERVICE: Final = "order"
"""The service name stamped on every event it produces and every log line it writes."""

SCHEMA: Final = "orders"
"""The PostgreSQL schema the service owns, and the only one its role may touch."""
