-- Schemas and login roles of the saga: each service role owns exactly one schema and is
-- refused everywhere else. Idempotent: safe to run on every start.
--
-- Run by init.sh on the target database with psql variables
-- order_password, payment_password, inventory_password.

\set ON_ERROR_STOP on
SET client_min_messages = warning;

-- Serialise concurrent runs on this database (e.g. two test sessions starting at once).
SELECT pg_advisory_lock(hashtext('saga-db-init')) AS locked
\gset

-- Login roles, created once; the password is reset on every run.
SELECT format('CREATE ROLE %I LOGIN', role_name)
FROM (VALUES ('order_service'), ('payment_service'), ('inventory_service')) AS r(role_name)
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role_name)
\gexec

ALTER ROLE order_service
    LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'order_password';
ALTER ROLE payment_service
    LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'payment_password';
ALTER ROLE inventory_service
    LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'inventory_password';

-- Unqualified names resolve to the role's own schema only.
ALTER ROLE order_service SET search_path = orders;
ALTER ROLE payment_service SET search_path = payments;
ALTER ROLE inventory_service SET search_path = inventory;

-- The database: only the service roles (and superusers) may connect; no temp tables.
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database())
\gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), role_name)
FROM (VALUES ('order_service'), ('payment_service'), ('inventory_service')) AS r(role_name)
\gexec

-- Nobody but the owner creates objects in public (PG 15's default, made explicit for
-- databases created from older templates).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- One schema per service, owned by its role; PUBLIC gets nothing on it.
CREATE SCHEMA IF NOT EXISTS orders AUTHORIZATION order_service;
CREATE SCHEMA IF NOT EXISTS payments AUTHORIZATION payment_service;
CREATE SCHEMA IF NOT EXISTS inventory AUTHORIZATION inventory_service;
ALTER SCHEMA orders OWNER TO order_service;
ALTER SCHEMA payments OWNER TO payment_service;
ALTER SCHEMA inventory OWNER TO inventory_service;
REVOKE ALL ON SCHEMA orders, payments, inventory FROM PUBLIC;

SELECT pg_advisory_unlock(hashtext('saga-db-init')) AS unlocked
\gset
