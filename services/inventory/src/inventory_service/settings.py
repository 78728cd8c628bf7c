"""Configuration of the inventory service, from `INVENTORY_*` environment variables."""

from typing import Literal, Self

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL

from shared_events.kafka.connection import KafkaClientSettings

LOCAL_DB_PASSWORD = "inventory_service"  # the local stack's password (= role name), not a secret


class Settings(KafkaClientSettings, BaseSettings):
    """Every host, port and credential of one inventory-service process."""

    model_config = SettingsConfigDict(env_prefix="INVENTORY_", extra="ignore")

    environment: str = "local"
    db_host: str = "127.0.0.1"
    db_port: int = 5432
    db_name: str = "saga"
    db_user: str = "inventory_service"
    db_password: str = LOCAL_DB_PASSWORD
    db_pool_size: int = 5
    # INVENTORY_KAFKA_BOOTSTRAP_SERVERS, _SECURITY_PROTOCOL, _SASL_* and _SSL_CA_LOCATION come from
    # KafkaClientSettings: PLAINTEXT to the local broker unless set.
    http_host: str = "127.0.0.1"
    http_port: int = 8003
    consumer_group: str = "inventory-service"
    # Events applied per transaction at most (1: one event per transaction), and how long a
    # batch waits for more once its first event is in.
    consumer_batch_max: int = Field(default=500, ge=1)
    consumer_batch_wait_ms: float = Field(default=5.0, ge=0)
    # Test switch (the duplicate storm): the relay publishes every outbox row twice.
    relay_duplicate_every_event: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias=AliasChoices("INVENTORY_LOG_LEVEL", "LOG_LEVEL")
    )

    @model_validator(mode="after")
    def _no_local_password_outside_local(self) -> Self:
        if self.environment != "local" and self.db_password == LOCAL_DB_PASSWORD:
            raise ValueError(
                "INVENTORY_DB_PASSWORD is the local default; "
                "set a real one outside environment=local"
            )
        return self

    @model_validator(mode="after")
    def _duplicate_storm_only_locally(self) -> Self:
        if self.relay_duplicate_every_event and self.environment != "local":
            raise ValueError(
                "INVENTORY_RELAY_DUPLICATE_EVERY_EVENT is a test switch, "
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
