"""Infrastructure for running the saga without Docker: local Kafka and PostgreSQL."""
