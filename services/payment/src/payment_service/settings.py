"""Configuration from `PAYMENT_*` environment variables."""

from typing import Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL

from payment_service.tables import database_url
from shared_events.kafka.connection import KafkaClientSettings

LOCAL_PASSWORD = "payment_service"


class Settings(KafkaClientSettings, BaseSettings):
    """Everything that differs between a laptop, CI and production."""

    model_config = SettingsConfigDict(env_prefix="PAYMENT_", extra="ignore")

    environment: str = "local"
    db_host: str = "127.0.0.1"
    db_port: int = 5432
    db_name: str = "saga"
    db_user: str = "payment_service"
    db_password: str = LOCAL_PASSWORD
    # PAYMENT_KAFKA_BOOTSTRAP_SERVERS, _SECURITY_PROTOCOL, _SASL_* and _SSL_CA_LOCATION come from
    # KafkaClientSettings: PLAINTEXT to the local broker unless set.
    http_host: str = "127.0.0.1"
    http_port: int = 8002
    consumer_group: str = "payment-service"
    # Events applied per consumer transaction at most (1: one event per transaction), and
    # how long a batch waits for more events once the first one arrived.
    consumer_batch_max: int = Field(default=500, ge=1)
    consumer_batch_wait_ms: float = Field(default=5.0, ge=0, allow_inf_nan=False)
    # Test switch (the duplicate storm): the relay publishes every outbox row twice.
    relay_duplicate_every_event: bool = False
    log_level: str = "INFO"

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @model_validator(mode="after")
    def _no_local_password_outside_local(self) -> Self:
        if self.environment != "local" and self.db_password == LOCAL_PASSWORD:
            raise ValueError(
                "PAYMENT_DB_PASSWORD must be set outside the local environment "
                f"(PAYMENT_ENVIRONMENT={self.environment!r})"
            )
        return self

    @model_validator(mode="after")
    def _duplicate_storm_only_locally(self) -> Self:
        if self.relay_duplicate_every_event and self.environment != "local":
            raise ValueError(
                "PAYMENT_RELAY_DUPLICATE_EVERY_EVENT is a test switch, "
                "refused outside environment=local"
            )
        return self

    @property
    def database_url(self) -> URL:
        """The SQLAlchemy URL built from the `db_*` settings."""
        return database_url(
            host=self.db_host,
            port=self.db_port,
            name=self.db_name,
            user=self.db_user,
            password=self.db_password,
        )
