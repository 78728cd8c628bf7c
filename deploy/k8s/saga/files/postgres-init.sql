-- The saga's schemas and service roles in the CloudNativePG cluster's application database:
-- the Kubernetes form of deploy/sql/init.sql (same roles, schemas and privileges; no psql
-- meta-commands, no passwords). CloudNativePG runs it once, as superuser, right after initdb
-- (bootstrap.initdb.postInitApplicationSQLRefs); its managed roles then give each role LOGIN
-- and the password from the role's Secret. deploy/tests/test_helm_chart.py keeps the two files
-- in step.

-- The roles, without LOGIN until the managed roles reconcile them.
DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['order_service', 'payment_service', 'inventory_service'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role_name) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
        END IF;
        EXECUTE format(
            'ALTER ROLE %I NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS',
            role_name
        );
    END LOOP;
END
$$;

-- Unqualified names resolve to the role's own schema only.
ALTER ROLE order_service SET search_path = orders;
ALTER ROLE payment_service SET search_path = payments;
ALTER ROLE inventory_service SET search_path = inventory;

-- The database: only the service roles (and its owner and superusers) may connect; no temp tables.
DO $$
BEGIN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format(
        'GRANT CONNECT ON DATABASE %I TO order_service, payment_service, inventory_service',
        current_database()
    );
END
$$;

-- Nobody but the owner creates objects in public.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- One schema per service, owned by its role; PUBLIC gets nothing on it.
CREATE SCHEMA IF NOT EXISTS orders AUTHORIZATION order_service;
CREATE SCHEMA IF NOT EXISTS payments AUTHORIZATION payment_service;
CREATE SCHEMA IF NOT EXISTS inventory AUTHORIZATION inventory_service;
REVOKE ALL ON SCHEMA orders, payments, inventory FROM PUBLIC;
