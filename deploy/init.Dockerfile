# One-shot init job for docker compose: DB roles/schemas (deploy/sql) and Kafka topics.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/* && pip install --no-cache-dir uv
WORKDIR /app
COPY . .
RUN uv pip install --system --no-cache "./shared-events[kafka]"
CMD ["bash", "-c", "bash deploy/sql/init.sh && python -m shared_events.kafka.topics"]
