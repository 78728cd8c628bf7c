# Order / payment / inventory saga over Kafka — developer entry points.
# `make help` lists the targets. Every host, port and directory comes from the environment
# (see README); the defaults run one stack on 9092 (Kafka) and 5432 (Postgres).

SHELL := /bin/bash
.DEFAULT_GOAL := help
UV ?= uv
RUN := $(UV) run --frozen
SERVICES := order payment inventory

.PHONY: help install infra-up infra-down infra-reset topics db-init migrate schemas schemas-check \
        lint typecheck unit integration e2e test dev dev-down up down

help: ## List the targets
	@awk 'BEGIN {FS = ":.*?## "} /^[a-zA-Z_-]+:.*?## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: ## Install the workspace (uv sync --frozen)
	$(UV) sync --frozen

infra-up: install ## Start local Kafka (KRaft) + PostgreSQL; no-op when already running
	$(RUN) python -m saga_infra up

infra-down: ## Stop the local Kafka + PostgreSQL this checkout started (keeps data)
	$(RUN) python -m saga_infra down

infra-reset: ## Stop the local stack and wipe its data
	$(RUN) python -m saga_infra reset

topics: ## Create the Kafka topics (idempotent)
	$(RUN) python -m saga_infra topics

schemas: ## Regenerate the committed JSON Schemas of every event version
	$(RUN) python -m shared_events.schemas generate

schemas-check: ## Fail when committed event schemas are stale or changed incompatibly
	$(RUN) python -m shared_events.schemas check

lint: install ## ruff lint + format check
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: install ## mypy --strict over every package
	$(RUN) mypy shared-events/src deploy/src $(foreach s,$(SERVICES),services/$(s)/src) tests-e2e/src

unit: install ## Unit tests (no broker, no database)
	$(RUN) pytest -m "not integration and not e2e" shared-events deploy $(foreach s,$(SERVICES),services/$(s))

integration: install ## Integration tests against the real Kafka broker and PostgreSQL server
	$(RUN) pytest -m integration shared-events deploy $(foreach s,$(SERVICES),services/$(s))

e2e: install ## Black-box end-to-end tests over HTTP (starts the local system if none is running)
	$(RUN) python -m saga_infra e2e -- tests-e2e

test: lint typecheck schemas-check unit integration e2e ## Everything: lint, types, schemas, unit, integration, e2e

dev: install ## Run the whole system locally without Docker (infra + three services) and return
	$(RUN) python -m saga_infra dev up

dev-down: ## Stop the services started by `make dev` (infra keeps running; see infra-down)
	$(RUN) python -m saga_infra dev down

up: ## Run everything with Docker: docker compose up --build
	docker compose up --build

down: ## Stop the Docker stack
	docker compose down
