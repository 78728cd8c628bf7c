"""Configuration of the order service, from `ORDER_*` environment variables."""

from typing import Literal, Self

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import URL

from shared_events.kafka.connection import KafkaClientSettings

LOCAL_DB_PASSWORD = "order_service"  # the local stack's password (= role name), never a secret


class Settings(KafkaClientSettings, BaseSettings):
    """Every host, port and credential of one order-service process."""

    model_config = SettingsConfigDict(env_prefix="ORDER_", extra="ignore")

    environment: str = "local"
    db_host: str = "127.0.0.1"
    db_port: int = 5432
    db_name: str = "saga"
    db_user: str = "order_service"
    db_password: str = LOCAL_DB_PASSWORD
    db_pool_size: int = 5
    # ORDER_KAFKA_BOOTSTRAP_SERVERS, _SECURITY_PROTOCOL, _SASL_* and _SSL_CA_LOCATION come from
    # KafkaClientSettings: PLAINTEXT to the local broker unless set.
    http_host: str = "127.0.0.1"
    http_port: int = 8001
    consumer_group: str = "order-service"
    # Events applied in one transaction at most (1: one event per transaction), and how
    # long the consumer waits for more after the first one arrived.
    consumer_batch_max: int = Field(default=500, ge=1)
    consumer_batch_wait_ms: float = Field(default=5.0, ge=0, allow_inf_nan=False)
    # Test switch (the duplicate storm): the relay publishes every outbox row twice.
    relay_duplicate_every_event: bool = False
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
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias=AliasChoices("ORDER_LOG_LEVEL", "LOG_LEVEL")
    )

    @model_validator(mode="after")
    def _no_local_password_outside_local(self) -> Self:
        if self.environment != "local" and self.db_password == LOCAL_DB_PASSWORD:
            raise ValueError(
                "ORDER_DB_PASSWORD is the local default; set a real one outside environment=local"
            )
        return self

    @model_validator(mode="after")
    def _duplicate_storm_only_locally(self) -> Self:
        if self.relay_duplicate_every_event and self.environment != "local":
            raise ValueError(
                "ORDER_RELAY_DUPLICATE_EVERY_EVENT is a test switch, "
                "refused outside environment=local"
            )
        return self

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

    @property
    def database_url(self) -> URL:
        """SQLAlchemy URL of the service's database, connecting as its own role."""
        return URL.create(
            "postgresql+psycopg",
            username=self.db_user,
            password=self.db_password,
            host=self.db_host,
            port=self.db_port,
            database=self.db_name,
        )
