#!/usr/bin/env bash
# The one idempotent database init of the saga: used by the local stack
# (`python -m saga_infra up|db-init`) and by docker-compose's one-shot init job
# (`bash /deploy/sql/init.sh` in the postgres:15 image). Needs only bash and psql.
#
# Connects with the standard libpq environment (PGHOST, PGPORT, PGUSER, PGPASSWORD)
# to database `postgres`, creates ${PG_DATABASE:-saga} if missing, then runs init.sql
# on it: one schema and one login role per service.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
database="${PG_DATABASE:-saga}"
export PGDATABASE=postgres
export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-5}"

# The compose job may start before the server accepts connections: wait, but bounded.
for _ in $(seq 1 "${PG_WAIT_SECONDS:-60}"); do
    if psql -qAtX -c 'SELECT 1' >/dev/null 2>&1; then
        break
    fi
    sleep 1
done

psql -qX -v ON_ERROR_STOP=1 -v db="$database" <<'SQL'
SELECT format('CREATE DATABASE %I', :'db')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db')
\gexec
SQL

psql -qX -v ON_ERROR_STOP=1 -d "$database" \
    -v order_password="${ORDER_DB_PASSWORD:-order_service}" \
    -v payment_password="${PAYMENT_DB_PASSWORD:-payment_service}" \
    -v inventory_password="${INVENTORY_DB_PASSWORD:-inventory_service}" \
    -f "$here/init.sql"

echo "db-init: database $database ready (schemas orders, payments, inventory)"
