# Order / payment / inventory saga over Kafka — developer entry points.
# `make help` lists the targets. Every host, port and directory comes from the environment
# (see README); the defaults run one stack on 9092 (Kafka) and 5432 (Postgres).

SHELL := /bin/bash
.DEFAULT_GOAL := help
# uv from PATH, else the one `make install` puts in ~/.local/bin (from PyPI) on a fresh machine.
UV ?= $(or $(shell command -v uv 2>/dev/null),$(HOME)/.local/bin/uv)
RUN := $(UV) run --frozen
# Debian's prometheus package provides it (.ci/run installs it).
PROMTOOL ?= $(or $(PROMTOOL_BIN),promtool)
ALERTS_DIR := deploy/local/prometheus
SERVICES := order payment inventory

.PHONY: help install infra-up infra-down infra-reset test-infra contracts-release topics schemas schemas-check \
        lint typecheck workspace-unit workspace-integration unit integration services-test e2e storm bench-smoke test chaos chaos-replicas chaos-brokers bench fuzz dev dev-down trace screenshots \
        up down alerts-check helm-check asyncapi asyncapi-check docker-install docker-images docker-engine-down compose-e2e \
        compat

help: ## List the targets
	@awk 'BEGIN {FS = ":.*?## "} /^[a-zA-Z0-9_-]+:.*?## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(UV) ## Install the workspace (uv sync --frozen; uv itself from PyPI if missing)
	$(UV) sync --frozen

$(HOME)/.local/bin/uv:
	@echo "uv not found: installing it from PyPI into ~/.local/bin"
	python3 -m pip install --quiet --user uv || \
	  python3 -m pip install --quiet --user --break-system-packages uv

infra-up: install ## Start local Kafka (KRaft) + PostgreSQL; no-op when already running
	$(RUN) python -m saga_infra up

infra-down: install ## Stop the local Kafka + PostgreSQL this checkout started (keeps data)
	$(RUN) python -m saga_infra down

infra-reset: install ## Stop the local stack and wipe its data
	$(RUN) python -m saga_infra reset

test-infra: install ## The local stack up, and the tests' database (TEST_PG_DATABASE, else <PG_DATABASE>_test) with its roles: what `make -C services/<name> test` needs
	$(RUN) python -m saga_infra test-infra

contracts-release: install ## Release the tree's shared-events version: git tag shared-events-v<version>, its wheel in contracts-index/
	$(RUN) python -m saga_infra.contracts release

topics: install ## Create the Kafka topics (idempotent)
	$(RUN) python -m saga_infra topics

schemas: install ## Regenerate the committed JSON Schemas (envelope, every event version) and asyncapi.yaml
	$(RUN) python -m shared_events.schemas generate
	$(RUN) python -m shared_events.asyncapi generate

asyncapi: install ## Regenerate shared-events/asyncapi.yaml (AsyncAPI 3.0) from the contracts
	$(RUN) python -m shared_events.asyncapi generate

schemas-check: install ## Fail when committed event schemas or asyncapi.yaml are stale, or schemas changed incompatibly
	$(RUN) python -m shared_events.schemas check
	$(RUN) python -m shared_events.asyncapi check

# The AsyncAPI project's own parser (@asyncapi/parser, pinned in tools/asyncapi/package-lock.json),
# installed by npm ci only when node_modules is missing or older than the lock.
ASYNCAPI_TOOL := tools/asyncapi

$(ASYNCAPI_TOOL)/node_modules/.package-lock.json: $(ASYNCAPI_TOOL)/package.json $(ASYNCAPI_TOOL)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "asyncapi-check needs node and npm (Debian: apt-get install nodejs npm)" >&2; exit 2; }
	npm ci --prefix $(ASYNCAPI_TOOL) --prefer-offline --ignore-scripts --no-audit --no-fund
	@touch $@

asyncapi-check: $(ASYNCAPI_TOOL)/node_modules/.package-lock.json ## Validate shared-events/asyncapi.yaml with the AsyncAPI parser, every schema it references resolved
	node $(ASYNCAPI_TOOL)/validate.mjs shared-events/asyncapi.yaml

lint: install ## ruff lint + format check
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: install ## mypy --strict over every package
	$(RUN) mypy shared-events/src deploy/src $(foreach s,$(SERVICES),services/$(s)/src) tests-e2e/src

# The workspace's own packages; each service's tests run in its own environment, by its own
# Makefile (make -C services/<name> unit|integration|test).
WORKSPACE_PACKAGES := shared-events deploy

workspace-unit: install ## Unit tests of shared-events and deploy (no broker, no database)
	$(RUN) pytest -m "not integration and not e2e" $(WORKSPACE_PACKAGES)

workspace-integration: install ## Integration tests of shared-events and deploy against the real Kafka broker and PostgreSQL server
	$(RUN) pytest -m integration $(WORKSPACE_PACKAGES)

unit: workspace-unit ## Unit tests: the workspace's, then each service's in its own environment
	@set -e; for s in $(SERVICES); do $(MAKE) --no-print-directory -C services/$$s unit; done

integration: workspace-integration test-infra ## Integration tests: the workspace's, then each service's in its own environment
	@set -e; for s in $(SERVICES); do $(MAKE) --no-print-directory -C services/$$s integration; done

# Each service's `make test` in a copy holding nothing of the repository but its own directory
# and the contracts index (tracked and new files; not .venv), so a hidden dependency on the
# workspace fails here. The local stack (test-infra) is its Kafka and PostgreSQL.
ALONE_DIR := $(CURDIR)/.local/alone

services-test: test-infra ## Each service's own `make -C services/<name> test`, in a copy with only its directory and contracts-index
	@set -e; for s in $(SERVICES); do \
	  copy=$(ALONE_DIR)/$$s; rm -rf $$copy; mkdir -p $$copy; \
	  git ls-files --cached --others --exclude-standard -- services/$$s contracts-index \
	    | tar -c -T - | tar -x -C $$copy; \
	  echo "services-test: make -C services/$$s test, alone in $$copy"; \
	  $(MAKE) --no-print-directory -C $$copy/services/$$s test; \
	done

e2e: install ## Black-box end-to-end tests over HTTP (starts the local system if none is running)
	$(RUN) python -m saga_infra e2e -- tests-e2e -m "not storm and not bench and not compose"

# The duplicate storm needs services whose relays publish every event twice: its own stack.
STORM_ENV := STACK_DIR=$${STORM_STACK_DIR:-$(CURDIR)/.local/storm} \
  KAFKA_PORT=$${STORM_KAFKA_PORT:-29092} KAFKA_CONTROLLER_PORT=$${STORM_KAFKA_CONTROLLER_PORT:-29093} \
  PG_PORT=$${STORM_PG_PORT:-25432} ORDER_HTTP_PORT=28001 PAYMENT_HTTP_PORT=28002 \
  INVENTORY_HTTP_PORT=28003 JAEGER=0 PROMETHEUS=0 ORDER_RELAY_DUPLICATE_EVERY_EVENT=true \
  PAYMENT_RELAY_DUPLICATE_EVERY_EVENT=true INVENTORY_RELAY_DUPLICATE_EVERY_EVENT=true

storm: install ## Duplicate storm: the saga on its own stack with every event published twice
	env -u ORDER_URL -u PAYMENT_URL -u INVENTORY_URL -u KAFKA_BOOTSTRAP_SERVERS $(STORM_ENV) \
	  $(RUN) python -m saga_infra e2e -- tests-e2e -m storm

# Rolling-upgrade compatibility on its own stack (COMPAT_* overrides its ports and STACK_DIR,
# .local/compat): each service in turn on the previous contracts release (N-1, a virtualenv from
# its own lock), the others on the tree's (N). COMPAT_PREVIOUS=<version> (or COMPAT_ARGS=
# --previous <version>) takes another release as N-1; no earlier release: nothing to do, exit 0.
compat: install ## Rolling upgrade: each service in turn on the previous contracts release, e2e compat tests + invariants
	UV=$(UV) $(RUN) python -m saga_e2e.compat $(COMPAT_ARGS)

# The harnesses' own stacks (chaos, bench) run without Prometheus: never on `make dev`'s 9090,
# and no scrapes in the CPU a bench measures.
HARNESS_ENV := PROMETHEUS=0

# The quick bench runs on its own stacks too (BENCH_SMOKE_* ports, /tmp/benchstack-smoke; the
# brokers mode's BENCH_SMOKE_3B_*, /tmp/benchstack-smoke-3b).
bench-smoke: install ## Quick bench (one step of each scale-out mode, own stacks) + its unit tests: the report's shape, not its figures
	$(HARNESS_ENV) $(RUN) pytest tests-e2e/tests/test_bench_units.py tests-e2e/tests/test_bench_report.py

alerts-check: ## Prometheus alert rules: promtool check rules + their unit tests (promtool test rules)
	$(PROMTOOL) check rules $(ALERTS_DIR)/alerts.yml
	$(PROMTOOL) test rules $(ALERTS_DIR)/alerts_test.yml

helm-check: install ## Helm chart deploy/k8s/saga, offline: lint, template, every manifest against its schema
	$(RUN) python deploy/k8s/helm_check.py

# The compose path runs in `make test` whenever a Docker engine answers or can be started here
# (Debian's dockerd installed, and root); `make compose-e2e` says what is missing otherwise.
COMPOSE_E2E := $(shell { [ -n "$$DOCKER_HOST" ] || [ -S /var/run/docker.sock ] || pgrep -x dockerd || \
  { command -v dockerd && [ "$$(id -u)" = 0 ]; }; } >/dev/null 2>&1 && echo compose-e2e)

test: lint typecheck schemas-check asyncapi-check alerts-check helm-check workspace-unit workspace-integration services-test e2e storm compat bench-smoke $(COMPOSE_E2E) ## Everything: lint, types, schemas, AsyncAPI document, alert rules, Helm chart, the workspace's unit + integration, each service's own tests (alone), e2e (+ failure smoke), storm, rolling-upgrade compat, quick bench, compose e2e (with an engine)

chaos: install ## Full chaos run on its own stack: 10,000 orders through 30 crashes, then invariants
	$(HARNESS_ENV) $(RUN) python -m saga_e2e.chaos --orders $${CHAOS_ORDERS:-10000} --faults $${CHAOS_FAULTS:-30}

chaos-replicas: install ## Chaos with 2 replicas per service, one replica killed at a time (15 s, past the session timeout)
	$(HARNESS_ENV) $(RUN) python -m saga_e2e.chaos --replicas 2 --fault-kinds order,payment,inventory --orders $${CHAOS_ORDERS:-6000} --faults $${CHAOS_FAULTS:-6}

chaos-brokers: install ## Chaos killing one Kafka broker at a time (15 s each): 1 broker, then a 3-broker cluster, side by side
	$(HARNESS_ENV) $(RUN) python -m saga_e2e.chaos --brokers 1,3 --fault-kinds kafka --outage 15 --orders $${CHAOS_ORDERS:-6000} --faults $${CHAOS_FAULTS:-6}

bench: install ## Benchmark on its own stacks: max sagas/s batched, batch-1, traced, SERVICE_REPLICAS=2, KAFKA_BROKERS=3; latency, CPU per saga
	$(HARNESS_ENV) $(RUN) python -m saga_e2e.bench $(BENCH_ARGS)

fuzz: install ## Full HTTP fuzzing: 1,000 schemathesis requests per service (starts the system if none)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-1000} $(RUN) python -m saga_infra e2e -- tests-e2e/tests/test_fuzz_http.py -s

dev: install ## Run the whole system locally without Docker (infra + three services) and return
	$(RUN) python -m saga_infra dev up

dev-down: install ## Stop the services started by `make dev` (infra keeps running; see infra-down)
	$(RUN) python -m saga_infra dev down

trace: install ## Draw an order's trace from Jaeger in the terminal: make trace ORDER=<order_id> [HTML=file]
	@test -n "$(ORDER)" || { echo "usage: make trace ORDER=<order_id> [HTML=trace.html]" >&2; exit 2; }
	$(RUN) python -m saga_e2e.trace_view $(ORDER) $(if $(HTML),--html $(HTML))

screenshots: install ## The README's pictures (trace, Prometheus graphs, alerts) from the running make dev stack
	$(RUN) python -m saga_e2e.screenshots --out docs

up: install ## Run everything with Docker (docker compose; stand-in images without a registry), demo data, URLs
	$(RUN) python -m saga_infra.compose up
	$(RUN) python -m saga_infra demo

down: install ## Stop the Docker stack (the project's own dockerd keeps running: docker-engine-down)
	$(RUN) python -m saga_infra.compose down

docker-install: install ## Install Debian's docker.io and mmdebstrap (as root) and build the compose CLI (Go)
	$(RUN) python -m saga_infra.compose install

docker-images: install ## Resolve the compose images: official if pullable, else stand-ins built from Debian packages
	$(RUN) python -m saga_infra.compose images

docker-engine-down: install ## Stop the project's own dockerd (never an engine it did not start)
	$(RUN) python -m saga_infra.compose engine down

compose-e2e: install ## docker compose up --build --wait, the e2e suite against it, a container crash, down -v
	$(RUN) python -m saga_infra.compose e2e
