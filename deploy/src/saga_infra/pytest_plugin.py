"""pytest fixture layer: real Kafka + Postgres via testcontainers or the local stack."""
