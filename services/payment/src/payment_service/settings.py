"""Configuration of the payment service, from `PAYMENT_*` environment variables."""

from pydantic_settings import SettingsConfigDict

from shared_events.runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    """One payment-service process: the shared settings, with the payment service's defaults."""

    model_config = SettingsConfigDict(env_prefix="PAYMENT_", extra="ignore")

    db_user: str = "payment_service"
    db_password: str = "payment_service"  # the local stack's (= the role), never a secret
    http_port: int = 8002
    consumer_group: str = "payment-service"
