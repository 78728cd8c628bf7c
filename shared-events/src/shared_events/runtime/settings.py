"""What every service reads from its `<PREFIX>*` environment variables, checked at start-up.

A service's `Settings` subclasses `ServiceSettings`, names its prefix (`ORDER_`) and gives the
defaults that are its own (role, HTTP port, consumer group); everything else, and every check,
is here. A refusal names the service's own variable (`ORDER_DB_PASSWORD`, not `db_password`).
"""

from __future__ import annotations

import os
from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy import URL

from shared_events.kafka.connection import KafkaClientSettings

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class ServiceSettings(KafkaClientSettings, BaseSettings):
    """Every host, port and credential of one service process.

    `<PREFIX>KAFKA_*` come from `KafkaClientSettings` (PLAINTEXT to the local broker unless
    set). The default `db_password` of a subclass is the local stack's (the role's name,
    never a secret): it is refused outside `environment=local`.
    """

    model_config = SettingsConfigDict(extra="ignore")

    environment: str = "local"
    db_host: str = "127.0.0.1"
    db_port: int = 5432
    db_name: str = "saga"
    db_user: str
    db_password: str
    db_pool_size: int = Field(default=5, ge=1)
    http_host: str = "127.0.0.1"
    http_port: int
    consumer_group: str
    # Events applied in one transaction at most (1: one event per transaction), and how long
    # the consumer waits for more once the first one arrived.
    consumer_batch_max: int = Field(default=500, ge=1)
    consumer_batch_wait_ms: float = Field(default=5.0, ge=0, allow_inf_nan=False)
    # Test switch (the duplicate storm): the relay publishes every outbox row twice.
    relay_duplicate_every_event: bool = False
    # <PREFIX>LOG_LEVEL, else LOG_LEVEL (one for the whole stack), else INFO.
    log_level: LogLevel = "INFO"

    @classmethod
    def env_prefix(cls) -> str:
        """The prefix of this service's variables, e.g. `ORDER_`."""
        return str(cls.model_config.get("env_prefix", ""))

    @classmethod
    def variable(cls, field: str) -> str:
        """The environment variable a field is read from: `db_password` -> `ORDER_DB_PASSWORD`."""
        return f"{cls.env_prefix()}{field.upper()}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The stack-wide variables come last: a service's own variable wins.
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            file_secret_settings,
            _StackWide(settings_cls),
        )

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _no_local_password_outside_local(self) -> Self:
        local = type(self).model_fields["db_password"].default
        if self.environment != "local" and self.db_password == local:
            raise ValueError(
                f"{self.variable('db_password')} is the local default; set a real one outside "
                f"environment=local ({self.variable('environment')}={self.environment!r})"
            )
        return self

    @model_validator(mode="after")
    def _duplicate_storm_only_locally(self) -> Self:
        if self.relay_duplicate_every_event and self.environment != "local":
            raise ValueError(
                f"{self.variable('relay_duplicate_every_event')} is a test switch, "
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

    @property
    def database(self) -> str:
        """Where the database is and as whom, for messages (never the password)."""
        return f"{self.db_host}:{self.db_port}/{self.db_name} as {self.db_user}"


class _StackWide(PydanticBaseSettingsSource):
    """The variables one stack sets for every service at once, unprefixed: LOG_LEVEL."""

    FIELDS = ("log_level",)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return os.environ.get(field_name.upper()), field_name, False

    def __call__(self) -> dict[str, Any]:
        values = {name: self.get_field_value(FieldInfo(), name)[0] for name in self.FIELDS}
        return {name: value for name, value in values.items() if value}
