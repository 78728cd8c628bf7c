"""Configuration of the order service, from `ORDER_*` environment variables."""

from typing import Literal, Self

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import URL

LOCAL_DB_PASSWORD = "order_service"  # the local stack's password (= role name), never a secret


class Settings(BaseSettings):
    """Every host, port and credential of one order-service process."""

    model_config = SettingsConfigDict(env_prefix="ORDER_", extra="ignore")

    environment: str = "local"
    db_host: str = "127.0.0.1"
    db_port: int = 5432
    db_name: str = "saga"
    db_user: str = "order_service"
    db_password: str = LOCAL_DB_PASSWORD
    db_pool_size: int = 5
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    http_host: str = "127.0.0.1"
    http_port: int = 8001
    consumer_group: str = "order-service"
    # Events applied in one transaction at most (1: one event per transaction), and how
    # long the consumer waits for more after the first one arrived.
    consumer_batch_max: int = Field(default=500, ge=1)
    consumer_batch_wait_ms: float = Field(default=5.0, ge=0, allow_inf_nan=False)
    # Test switch (the duplicate storm): the relay publishes every outbox row twice.
    relay_duplicate_every_event: bool = False
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
