"""Configuration of the order service, from `ORDER_*` environment variables."""

from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from shared_events.runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    """One order-service process: the shared settings, its saga deadline and operator pages."""

    model_config = SettingsConfigDict(env_prefix="ORDER_", extra="ignore")

    db_user: str = "order_service"
    db_password: str = "order_service"  # the local stack's (= the role), never a secret
    http_port: int = 8001
    consumer_group: str = "order-service"
    saga_deadline_s: float = Field(default=300.0, gt=0, allow_inf_nan=False)
    """An order neither CONFIRMED nor CANCELLED this long after it was placed is cancelled
    as `timed_out`, and payment and inventory give back what they hold.

    Why 300 s: a healthy saga takes well under a second, and the longest outage the system
    rides out by itself (a broker or service restart, a consumer's ~45 s session timeout
    before its partitions move, a Postgres restart) is well under a minute. Five minutes is
    far beyond any of those, so no saga that would have finished is cut off, yet short enough
    that the customer is told, and the charge and the stock are returned, within minutes.
    The alert `SagaStuckPastDeadline` (deploy/local/prometheus/alerts.yml) assumes 300 s.
    """
    saga_deadline_check_s: float = Field(default=5.0, gt=0, allow_inf_nan=False)
    """How often the deadline loop looks for overdue orders (so one is cancelled at most this
    late); each look is one indexed query when nothing is due."""
    # An open order older than this is "stuck": marked on /ui, listed by ?stuck=true.
    saga_stuck_after_s: float = Field(default=60.0, gt=0, allow_inf_nan=False)
    # The operator pages (/ui) read the other services' HTTP APIs and link to Jaeger's UI.
    payment_url: str = "http://127.0.0.1:8002"
    inventory_url: str = "http://127.0.0.1:8003"
    jaeger_ui_url: str = "http://127.0.0.1:16686"

    @model_validator(mode="after")
    def _deadline_after_its_warnings(self) -> Self:
        if self.saga_stuck_after_s >= self.saga_deadline_s:
            raise ValueError(
                "ORDER_SAGA_STUCK_AFTER_S must be below ORDER_SAGA_DEADLINE_S "
                "(a stuck order is one heading for its deadline)"
            )
        if self.saga_deadline_check_s > self.saga_deadline_s:
            raise ValueError("ORDER_SAGA_DEADLINE_CHECK_S must not exceed ORDER_SAGA_DEADLINE_S")
        return self
