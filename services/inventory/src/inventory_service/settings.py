"""Configuration of the inventory service, from `INVENTORY_*` environment variables."""

from pydantic_settings import SettingsConfigDict

from shared_events.runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    """One inventory-service process: the shared settings, with the inventory service's defaults."""

    model_config = SettingsConfigDict(env_prefix="INVENTORY_", extra="ignore")

    db_user: str = "inventory_service"
    db_password: str = "inventory_service"  # the local stack's (= the role), never a secret
    http_port: int = 8003
    consumer_group: str = "inventory-service"
