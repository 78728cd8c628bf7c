"""What the bench reads from Postgres: one connection, aggregate queries only (never per order).

Latency: `orders.orders.created_at` (stamped by the order service when it accepts the POST; it
is OrderCreated's occurred_at) to the `occurred_at` of the order's `OrderConfirmed` row in
`orders.order_history` (stamped when the order service applies ItemsReserved and confirms,
in the transaction that commits the CONFIRMED status). `updated_at` is not used: a late
PaymentProcessed bumps it after confirmation. Both stamps come from the order service's clock.

Transactions per saga: pg_stat_database's xact_commit + xact_rollback of the saga database,
less the bench's own queries. That is what Postgres counted, including the empty transaction
of every pool pre-ping (about half of them on 2026-12's services). An idle backend flushes
those counters up to 10 s late, so a step's figure can miss a few % of its tail, which then
lands in the next step. Commits per saga: COMMIT + ROLLBACK calls of the three service roles
in pg_stat_statements (explicit transactions only; exact and immediate). Statements per saga:
the service roles' other top-level statements (BEGIN/COMMIT/ROLLBACK excluded; SAVEPOINTs
count; pings are empty queries and not tracked).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from saga_infra.settings import SERVICE_ROLES, Settings

_STATEMENTS = """
SELECT coalesce(sum(calls) FILTER (WHERE upper(query) IN ('COMMIT', 'ROLLBACK')), 0),
       coalesce(sum(calls) FILTER (WHERE upper(query) NOT IN ('BEGIN', 'COMMIT', 'ROLLBACK')), 0)
FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND s.toplevel AND r.rolname = ANY(%s)
"""
_STEP = """
SELECT count(*),
       count(*) FILTER (WHERE o.status = 'CONFIRMED'),
       count(*) FILTER (WHERE o.status = 'CONFIRMED' AND h.occurred_at <= %(deadline)s),
       coalesce(array_agg(extract(epoch FROM h.occurred_at - o.created_at) * 1000)
                FILTER (WHERE o.status = 'CONFIRMED' AND h.occurred_at IS NOT NULL), '{}')
FROM orders.orders o
LEFT JOIN orders.order_history h ON h.order_id = o.order_id AND h.event_type = 'OrderConfirmed'
WHERE o.customer_id = ANY(%(customers)s)
"""
_NOT_TERMINAL = """
SELECT count(*) FROM orders.orders
WHERE customer_id = ANY(%s) AND status NOT IN ('CONFIRMED', 'CANCELLED')
"""
_UNSENT = " + ".join(
    f"(SELECT count(*) FROM {schema}.outbox WHERE sent_at IS NULL)"
    for schema in ("orders", "payments", "inventory")
)


@dataclass(frozen=True)
class PgCounters:
    """Counters so far (see the module docstring); None without pg_stat_statements."""

    xacts: int
    commits: int | None
    statements: int | None


@dataclass(frozen=True)
class StepFacts:
    """The step's orders in the order service's database after the drain."""

    in_db: int
    confirmed: int
    on_time: int  # confirmed no later than the deadline
    latencies_ms: list[float]


class PgProbe:
    """One superuser connection to the saga database, autocommit, counting its own queries."""

    def __init__(self, settings: Settings) -> None:
        self.conn = psycopg.connect(settings.dsn(), autocommit=True, connect_timeout=10)
        self.own_xacts = 0
        self.statements = self._enable_statements()

    def close(self) -> None:
        self.conn.close()

    def _query(self, sql: str, params: Any = None) -> tuple[Any, ...]:
        self.own_xacts += 1
        row = self.conn.execute(sql, params).fetchone()
        if row is None:
            raise RuntimeError(f"no row from {sql.split()[0]} ...")
        return tuple(row)

    def _enable_statements(self) -> bool:
        loaded = str(self._query("SELECT current_setting('shared_preload_libraries')")[0])
        if "pg_stat_statements" not in loaded:
            return False
        self.own_xacts += 1
        self.conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        return True

    def counters(self) -> PgCounters:
        commits = statements = None
        if self.statements:
            commits, statements = (int(n) for n in self._query(_STATEMENTS, (list(SERVICE_ROLES),)))
        own = self.own_xacts  # the bench's queries before this one (this one is flushed later)
        sql = "SELECT xact_commit + xact_rollback FROM pg_stat_database"
        (total,) = self._query(f"{sql} WHERE datname = current_database()")
        return PgCounters(int(total) - own, commits, statements)

    def not_terminal(self, customers: list[str]) -> int:
        return int(self._query(_NOT_TERMINAL, (customers,))[0])

    def unsent(self) -> int:
        return int(self._query(f"SELECT {_UNSENT}")[0])

    def step_facts(self, customers: list[str], deadline: datetime) -> StepFacts:
        in_db, confirmed, on_time, latencies = self._query(
            _STEP, {"customers": customers, "deadline": deadline}
        )
        return StepFacts(int(in_db), int(confirmed), int(on_time), [float(v) for v in latencies])
