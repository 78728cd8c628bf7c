"""Inventory service: its own domain, schema and Kafka consumers in the order saga."""
