"""Payment service: its own domain, schema and Kafka consumers in the order saga."""

from typing import Final

SERVICE: Final = "payment"
"""The service name stamped on every event it produces and every log line it writes."""

SCHEMA: Final = "payments"
"""The PostgreSQL schema the service owns, and the only one its role may touch."""
