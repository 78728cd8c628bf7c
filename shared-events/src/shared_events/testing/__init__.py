"""What a service's own test suite needs from the contracts package (extra `testing`).

- `infra`: the Kafka broker and PostgreSQL server a test run uses (`Infra`), as the
  environment names them;
- `plugin`: the pytest plugin giving `infra`, `kafka_bootstrap` and `postgres_url` from that
  environment (`pytest -p shared_events.testing.plugin`), for a service tested on its own;
- `examples`: the committed JSON Schema of every published event version, shipped in the
  wheel, and payloads generated from them, for consumer-side contract tests.
"""
