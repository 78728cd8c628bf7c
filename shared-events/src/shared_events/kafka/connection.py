"""How every Kafka client of a service reaches the cluster: bootstrap servers and security.

One place for it: the relay's producer, the consumer, the dead-letter writer and reader, the lag
reader, the readiness probe and the topic admin all start from `client_config`. A service's
settings mix in `KafkaClientSettings` (`<PREFIX>KAFKA_*` variables); the command-line tools read
the same variables (`KAFKA_*`) with `KafkaConnection.from_env`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Self, TypeAlias

from pydantic import BaseModel, SecretStr, ValidationInfo, field_validator, model_validator

SECURITY_PROTOCOLS: Final = ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL")
SASL_MECHANISMS: Final = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")
DEFAULT_BOOTSTRAP_SERVERS: Final = "127.0.0.1:9092"


class KafkaSettingsError(ValueError):
    """Kafka client settings that cannot work, in one line naming the variables involved."""

    def __init__(self, template: str, env_prefix: str = "") -> None:
        # `template` names the variables as {v}SASL_USERNAME, {v} being <env_prefix>KAFKA_.
        self.template = template
        super().__init__(self.naming(env_prefix))

    def naming(self, env_prefix: str) -> str:
        """The message with the variables of settings read with `env_prefix` (e.g. ORDER_)."""
        return self.template.replace("{v}", f"{env_prefix}KAFKA_")


@dataclass(frozen=True, kw_only=True)
class KafkaConnection:
    """Where the cluster is and how to authenticate to it; checked when made."""

    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = None

    def __post_init__(self) -> None:
        problem = _problem(self)
        if problem is not None:
            raise KafkaSettingsError(problem)

    @property
    def sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def client_config(self) -> dict[str, Any]:
        """The librdkafka settings every client starts from (PLAINTEXT: bootstrap servers only)."""
        config: dict[str, Any] = {"bootstrap.servers": self.bootstrap_servers}
        if self.security_protocol != "PLAINTEXT":
            config["security.protocol"] = self.security_protocol
        if self.sasl:
            assert self.sasl_username is not None and self.sasl_password is not None
            config["sasl.mechanism"] = self.sasl_mechanism
            config["sasl.username"] = self.sasl_username
            config["sasl.password"] = self.sasl_password.get_secret_value()
        if self.ssl_ca_location is not None:
            config["ssl.ca.location"] = self.ssl_ca_location
        return config

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        env_prefix: str = "",
        bootstrap_servers: str | None = None,
    ) -> KafkaConnection:
        """From `<env_prefix>KAFKA_*` variables (`bootstrap_servers` wins over the variable)."""
        env = os.environ if environ is None else environ
        v = f"{env_prefix}KAFKA_"
        password = _given(env.get(f"{v}SASL_PASSWORD"))
        try:
            return cls(
                bootstrap_servers=bootstrap_servers
                or env.get(f"{v}BOOTSTRAP_SERVERS")
                or DEFAULT_BOOTSTRAP_SERVERS,
                security_protocol=_upper(env.get(f"{v}SECURITY_PROTOCOL")) or "PLAINTEXT",
                sasl_mechanism=_upper(env.get(f"{v}SASL_MECHANISM")) or "SCRAM-SHA-512",
                sasl_username=_given(env.get(f"{v}SASL_USERNAME")),
                sasl_password=SecretStr(password) if password is not None else None,
                ssl_ca_location=_given(env.get(f"{v}SSL_CA_LOCATION")),
            )
        except KafkaSettingsError as error:
            raise KafkaSettingsError(error.template, env_prefix) from None


KafkaTarget: TypeAlias = str | KafkaConnection
"""Bootstrap servers (a PLAINTEXT cluster), or a full connection."""


def connection(target: KafkaTarget) -> KafkaConnection:
    """The connection of a target: bootstrap servers alone are a PLAINTEXT cluster."""
    return (
        target if isinstance(target, KafkaConnection) else KafkaConnection(bootstrap_servers=target)
    )


def client_config(target: KafkaTarget) -> dict[str, Any]:
    """The librdkafka settings a client of `target` starts from."""
    return connection(target).client_config()


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """A command line's --bootstrap-servers and --env-prefix (the rest only from variables:
    a password belongs in no command line)."""
    parser.add_argument(
        "--bootstrap-servers",
        help=f"default: $KAFKA_BOOTSTRAP_SERVERS or {DEFAULT_BOOTSTRAP_SERVERS}",
    )
    parser.add_argument(
        "--env-prefix",
        default="",
        metavar="PREFIX",
        help="read <PREFIX>KAFKA_* instead of KAFKA_*, e.g. ORDER_: a service's own settings",
    )


def connection_from_arguments(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> KafkaConnection:
    """The connection a command line asks for (`KafkaSettingsError` when it cannot work)."""
    prefix = str(args.env_prefix or "").upper()
    return KafkaConnection.from_env(
        environ, env_prefix=prefix, bootstrap_servers=args.bootstrap_servers
    )


class KafkaClientSettings(BaseModel):
    """The `<PREFIX>KAFKA_*` settings of a service, mixed into its pydantic-settings class.

    `class Settings(KafkaClientSettings, BaseSettings)` with `env_prefix="ORDER_"` reads
    ORDER_KAFKA_BOOTSTRAP_SERVERS, _SECURITY_PROTOCOL, _SASL_MECHANISM, _SASL_USERNAME,
    _SASL_PASSWORD and _SSL_CA_LOCATION; a combination that cannot work is refused naming them.
    """

    kafka_bootstrap_servers: str = DEFAULT_BOOTSTRAP_SERVERS
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_ca_location: str | None = None

    @field_validator("kafka_security_protocol", "kafka_sasl_mechanism", mode="before")
    @classmethod
    def _upper_case(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, str):
            return value
        return _upper(value) or cls.model_fields[str(info.field_name)].default

    @field_validator(
        "kafka_sasl_username", "kafka_sasl_password", "kafka_ssl_ca_location", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # An empty variable (a Helm value left blank) is no value.
        return _given(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _kafka_settings_work_together(self) -> Self:
        try:
            self._kafka_connection()
        except KafkaSettingsError as error:
            raise ValueError(error.naming(str(self.model_config.get("env_prefix", "")))) from None
        return self

    @property
    def kafka(self) -> KafkaConnection:
        """How this service's Kafka clients connect."""
        return self._kafka_connection()

    def _kafka_connection(self) -> KafkaConnection:
        return KafkaConnection(
            bootstrap_servers=self.kafka_bootstrap_servers,
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password=self.kafka_sasl_password,
            ssl_ca_location=self.kafka_ssl_ca_location,
        )


def _problem(c: KafkaConnection) -> str | None:
    """What makes these settings unusable, naming variables as {v}NAME; None when they work."""
    if not c.bootstrap_servers.strip():
        return "{v}BOOTSTRAP_SERVERS is empty"
    if c.security_protocol not in SECURITY_PROTOCOLS:
        return f"{{v}}SECURITY_PROTOCOL={c.security_protocol!r} is not one of " + ", ".join(
            SECURITY_PROTOCOLS
        )
    if c.sasl_mechanism not in SASL_MECHANISMS:
        return f"{{v}}SASL_MECHANISM={c.sasl_mechanism!r} is not one of " + ", ".join(
            SASL_MECHANISMS
        )
    if c.sasl:
        missing = [
            name
            for name, value in (("USERNAME", c.sasl_username), ("PASSWORD", c.sasl_password))
            if value is None or not _secret_text(value)
        ]
        if missing:
            needed = " and ".join(f"{{v}}SASL_{name}" for name in missing)
            return f"{{v}}SECURITY_PROTOCOL={c.security_protocol} needs {needed}"
    elif c.sasl_username is not None or c.sasl_password is not None:
        return (
            f"{{v}}SASL_USERNAME/{{v}}SASL_PASSWORD are set but {{v}}SECURITY_PROTOCOL="
            f"{c.security_protocol} does not authenticate (SASL_PLAINTEXT or SASL_SSL does)"
        )
    if c.ssl_ca_location is not None:
        if not c.tls:
            return (
                f"{{v}}SSL_CA_LOCATION is set but {{v}}SECURITY_PROTOCOL={c.security_protocol} "
                "uses no TLS (SSL or SASL_SSL does)"
            )
        if c.ssl_ca_location != "probe" and not Path(c.ssl_ca_location).exists():
            return f"{{v}}SSL_CA_LOCATION={c.ssl_ca_location!r} does not exist"
    return None


def _secret_text(value: str | SecretStr) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _upper(value: str | None) -> str | None:
    return value.strip().upper() if value is not None and value.strip() else None


def _given(value: str | None) -> str | None:
    return value if value is not None and value.strip() else None
