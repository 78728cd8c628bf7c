# One-shot init job for docker compose: DB roles/schemas (deploy/sql, with psql) and the Kafka
# topics (shared_events.kafka.provisioning). Built from the repository root (the uv workspace's
# shared-events and lockfile; the services, each built from its own directory, stay out):
#   docker build -f deploy/init.Dockerfile .
ARG PYTHON_BASE=python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

# -- build: shared-events[kafka] at /venv from the lockfile (uv sync --frozen) ---------------
FROM ${PYTHON_BASE} AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/venv \
    UV_PYTHON_DOWNLOADS=never UV_CACHE_DIR=/uv-cache
WORKDIR /src
# uv's download cache: empty, or filled on the host from the workspace's uv.lock
# (deploy/docker/.uv-cache); when its uv.lock.sha256 matches, everything installs offline.
COPY deploy/docker/.uv-cache/ /uv-cache/
# The lockfile and the workspace members' metadata only (the services are no members).
COPY pyproject.toml uv.lock ./
COPY shared-events/pyproject.toml shared-events/
COPY deploy/pyproject.toml deploy/
COPY tests-e2e/pyproject.toml tests-e2e/
RUN if sha256sum --status -c /uv-cache/uv.lock.sha256 2>/dev/null; then export UV_OFFLINE=1; fi \
 && uv sync --frozen --no-dev --no-install-workspace --package shared-events --extra kafka
COPY shared-events/ shared-events/
RUN if sha256sum --status -c /uv-cache/uv.lock.sha256 2>/dev/null; then export UV_OFFLINE=1; fi \
 && uv sync --frozen --no-dev --no-editable --package shared-events --extra kafka

# -- runtime: psql (Debian's postgresql-client), the environment, an unprivileged user ------
FROM ${PYTHON_BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 app \
 && useradd --no-log-init --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin app
COPY --from=build /venv /venv
COPY deploy/sql/ /app/deploy/sql/
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
USER app
CMD ["bash", "-c", "bash deploy/sql/init.sh && exec python -m shared_events.kafka.provisioning"]
