"""SQL repositories and unit of work on the `payments` schema.

Statements are set-based: a handler locks all its orders with one statement, then all the
accounts they need with one more, and writes each table with one statement at commit.

Concurrency: the order rows a handler works on are taken `FOR UPDATE` in `order_id` order,
then their accounts in `customer_id` order (always the orders first, then the accounts),
before they are changed; balances move by conditional
`UPDATE ... SET balance = balance + delta WHERE balance + delta >= 0`, so concurrent
consumers and HTTP deposits neither lose an update nor overdraw.
"""

from collections.abc import Iterable, Sequence
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Text,
    Uuid,
    any_,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from payment_service.domain import (
    PAYMENT_KINDS,
    Account,
    AccountAlreadyExists,
    EntryKind,
    InsufficientFunds,
    LedgerEntry,
    LedgerSummary,
    OrderPayment,
)
from payment_service.tables import accounts, ledger_entries, orders
from shared_events import PaymentFailureReason
from shared_events.kafka.rows import array, unnest


def _entry(row: Row[tuple[object, ...]]) -> LedgerEntry:
    m = row._mapping
    return LedgerEntry(
        m["entry_id"], m["customer_id"], EntryKind(m["kind"]), m["amount_cents"],
        m["order_id"], m["created_at"],
    )  # fmt: skip


class SqlAccounts:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: dict[str, Account] = {}

    def add(self, account: Account) -> None:
        # Insert now, at zero: the account's entries bring the balance up at commit.
        created = self.session.execute(
            pg_insert(accounts)
            .values(customer_id=account.customer_id, balance_cents=0)
            .on_conflict_do_nothing()
            .returning(accounts.c.customer_id)
        ).first()
        if created is None:
            raise AccountAlreadyExists(account.customer_id)
        self.seen[account.customer_id] = account

    def get(self, customer_id: str) -> Account | None:
        balance = self.session.scalar(
            select(accounts.c.balance_cents).where(accounts.c.customer_id == customer_id)
        )
        return None if balance is None else Account(customer_id, balance)

    def lock(self, customer_id: str) -> Account | None:
        return self.lock_many([customer_id]).get(customer_id)

    def lock_many(self, customer_ids: Iterable[str]) -> dict[str, Account]:
        wanted = list(dict.fromkeys(customer_ids))
        unseen = [customer_id for customer_id in wanted if customer_id not in self.seen]
        if unseen:
            # Sorted, so two of these on overlapping accounts queue instead of deadlocking.
            rows = self.session.execute(
                select(accounts.c.customer_id, accounts.c.balance_cents)
                .where(accounts.c.customer_id == any_(array(unseen, Text())))
                .order_by(accounts.c.customer_id)
                .with_for_update()
            )
            for customer_id, balance in rows:
                self.seen[customer_id] = Account(customer_id, balance)
        return {c: self.seen[c] for c in wanted if c in self.seen}

    def summary(self) -> LedgerSummary:
        def total(kind: EntryKind) -> object:
            return (
                select(func.coalesce(func.sum(ledger_entries.c.amount_cents), 0))
                .where(ledger_entries.c.kind == kind.value)
                .scalar_subquery()
            )

        # One statement, so one snapshot: the totals agree with each other.
        row = self.session.execute(
            select(
                select(func.count()).select_from(accounts).scalar_subquery(),
                select(func.coalesce(func.sum(accounts.c.balance_cents), 0)).scalar_subquery(),
                *(total(kind) for kind in EntryKind),
            )
        ).one()
        count, balances, opening, deposits, charges, refunds = (int(value) for value in row)
        return LedgerSummary(count, balances, opening, deposits, charges, refunds)

    def persist(self) -> None:
        """Write the new ledger entries of the accounts seen, moving their balances."""
        changed = [account for account in self.seen.values() if account.new_entries]
        if not changed:
            return
        entries = [entry for account in changed for entry in account.new_entries]
        new = unnest(
            ledger_entries,
            entry_id=[e.entry_id for e in entries],
            customer_id=[e.customer_id for e in entries],
            kind=[e.kind.value for e in entries],
            amount_cents=[e.amount_cents for e in entries],
            order_id=[e.order_id for e in entries],
            created_at=[e.created_at for e in entries],
        )
        self.session.execute(insert(ledger_entries).from_select(list(new.c.keys()), select(new)))
        moves = unnest(
            accounts,
            types={"delta": BigInteger()},
            customer_id=[account.customer_id for account in changed],
            delta=[sum(e.delta_cents for e in account.new_entries) for account in changed],
        )
        moved = self.session.execute(
            update(accounts)
            .where(
                accounts.c.customer_id == moves.c.customer_id,
                accounts.c.balance_cents + moves.c.delta >= 0,
            )
            .values(balance_cents=accounts.c.balance_cents + moves.c.delta, updated_at=func.now())
            .returning(accounts.c.customer_id, accounts.c.balance_cents)
        )
        balances: dict[str, int] = dict(moved.all())
        overdrawn = sorted(a.customer_id for a in changed if a.customer_id not in balances)
        if overdrawn:
            raise InsufficientFunds(f"accounts {overdrawn} would be overdrawn")
        for account in changed:
            account.balance_cents = balances[account.customer_id]
            account.new_entries.clear()


class SqlOrders:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: dict[UUID, OrderPayment] = {}
        # (cancelled, failure_reason) as read, so commit writes only the orders that changed.
        self._read: dict[UUID, tuple[bool, PaymentFailureReason | None]] = {}

    def lock(self, order_id: UUID) -> OrderPayment:
        return self.lock_many([order_id])[order_id]

    def lock_many(self, order_ids: Iterable[UUID]) -> dict[UUID, OrderPayment]:
        wanted = list(dict.fromkeys(order_ids))
        unseen = sorted(order_id for order_id in wanted if order_id not in self.seen)
        if unseen:
            self._lock(unseen)
        return {order_id: self.seen[order_id] for order_id in wanted}

    def _lock(self, order_ids: list[UUID]) -> None:
        # Create the rows not seen before, then lock them all: a concurrent creator waits,
        # then finds the row. Sorted (Python orders UUIDs as Postgres does), so two of these
        # on overlapping orders queue behind each other instead of deadlocking.
        created = set(
            self.session.scalars(
                pg_insert(orders)
                .from_select(["order_id"], select(func.unnest(array(order_ids, Uuid()))))
                .on_conflict_do_nothing()
                .returning(orders.c.order_id)
            )
        )
        rows = self.session.execute(
            select(orders.c.order_id, orders.c.cancelled, orders.c.failure_reason)
            .where(orders.c.order_id == any_(array(order_ids, Uuid())))
            .order_by(orders.c.order_id)
            .with_for_update()
        ).all()
        # An order created just now has no payments: its row comes before any charge.
        payments = self._payments([order_id for order_id in order_ids if order_id not in created])
        for row in rows:
            reason = PaymentFailureReason(row.failure_reason) if row.failure_reason else None
            by_kind = {entry.kind: entry for entry in payments.get(row.order_id, [])}
            self.seen[row.order_id] = OrderPayment(
                row.order_id,
                cancelled=row.cancelled,
                failure_reason=reason,
                charge=by_kind.get(EntryKind.CHARGE),
                refund=by_kind.get(EntryKind.REFUND),
            )
            self._read[row.order_id] = (row.cancelled, reason)

    def payments(self, order_id: UUID) -> list[LedgerEntry]:
        return self._payments([order_id]).get(order_id, [])

    def _payments(self, order_ids: Sequence[UUID]) -> dict[UUID, list[LedgerEntry]]:
        if not order_ids:
            return {}
        rows = self.session.execute(
            select(ledger_entries)
            .where(
                ledger_entries.c.order_id == any_(array(order_ids, Uuid())),
                ledger_entries.c.kind.in_([kind.value for kind in PAYMENT_KINDS]),
            )
            .order_by(ledger_entries.c.created_at, ledger_entries.c.kind)
        )
        by_order: dict[UUID, list[LedgerEntry]] = {}
        for row in rows:
            entry = _entry(row)
            assert entry.order_id is not None
            by_order.setdefault(entry.order_id, []).append(entry)
        return by_order

    def persist(self) -> None:
        """Write the state of the orders seen that changed."""
        changed = [
            order
            for order in self.seen.values()
            if (order.cancelled, order.failure_reason) != self._read[order.order_id]
        ]
        if not changed:
            return
        states = unnest(
            orders,
            order_id=[order.order_id for order in changed],
            cancelled=[order.cancelled for order in changed],
            failure_reason=[o.failure_reason.value if o.failure_reason else None for o in changed],
        )
        self.session.execute(
            update(orders)
            .where(orders.c.order_id == states.c.order_id)
            .values(
                cancelled=states.c.cancelled,
                failure_reason=states.c.failure_reason,
                updated_at=func.now(),
            )
        )
        for order in changed:
            self._read[order.order_id] = (order.cancelled, order.failure_reason)
