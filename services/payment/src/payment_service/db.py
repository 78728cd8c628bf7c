"""SQL repositories and unit of work on the `payments` schema.

Concurrency: an order's row and an account's row are taken `FOR UPDATE` (always the order
first, then the account) before they are changed, and balances move by conditional
`UPDATE ... SET balance = balance + delta WHERE balance + delta >= 0`, so concurrent
consumers and HTTP deposits neither lose an update nor overdraw.
"""

from types import TracebackType
from typing import Self
from uuid import UUID

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

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
from payment_service.handlers import envelopes_for
from payment_service.tables import accounts, ledger_entries, orders, outbox
from shared_events import Envelope, Event, PaymentFailureReason
from shared_events.kafka.outbox import Outbox


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
        if customer_id in self.seen:
            return self.seen[customer_id]
        balance = self.session.scalar(
            select(accounts.c.balance_cents)
            .where(accounts.c.customer_id == customer_id)
            .with_for_update()
        )
        if balance is None:
            return None
        account = self.seen[customer_id] = Account(customer_id, balance)
        return account

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
        for account in self.seen.values():
            if not account.new_entries:
                continue
            self.session.execute(
                insert(ledger_entries),
                [
                    {
                        "entry_id": e.entry_id,
                        "customer_id": e.customer_id,
                        "kind": e.kind.value,
                        "amount_cents": e.amount_cents,
                        "order_id": e.order_id,
                        "created_at": e.created_at,
                    }
                    for e in account.new_entries
                ],
            )
            delta = sum(entry.delta_cents for entry in account.new_entries)
            balance = self.session.scalar(
                update(accounts)
                .where(
                    accounts.c.customer_id == account.customer_id,
                    accounts.c.balance_cents + delta >= 0,
                )
                .values(balance_cents=accounts.c.balance_cents + delta, updated_at=func.now())
                .returning(accounts.c.balance_cents)
            )
            if balance is None:
                raise InsufficientFunds(f"account {account.customer_id!r} would be overdrawn")
            account.balance_cents = balance
            account.new_entries.clear()


class SqlOrders:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: dict[UUID, OrderPayment] = {}

    def lock(self, order_id: UUID) -> OrderPayment:
        if order_id in self.seen:
            return self.seen[order_id]
        # Create the row if unseen, then lock it: a concurrent creator waits, then finds it.
        self.session.execute(pg_insert(orders).values(order_id=order_id).on_conflict_do_nothing())
        row = self.session.execute(
            select(orders.c.cancelled, orders.c.failure_reason)
            .where(orders.c.order_id == order_id)
            .with_for_update()
        ).one()
        payments = {entry.kind: entry for entry in self.payments(order_id)}
        order = self.seen[order_id] = OrderPayment(
            order_id,
            cancelled=row.cancelled,
            failure_reason=PaymentFailureReason(row.failure_reason) if row.failure_reason else None,
            charge=payments.get(EntryKind.CHARGE),
            refund=payments.get(EntryKind.REFUND),
        )
        return order

    def payments(self, order_id: UUID) -> list[LedgerEntry]:
        rows = self.session.execute(
            select(ledger_entries)
            .where(
                ledger_entries.c.order_id == order_id,
                ledger_entries.c.kind.in_([kind.value for kind in PAYMENT_KINDS]),
            )
            .order_by(ledger_entries.c.created_at, ledger_entries.c.kind)
        )
        return [_entry(row) for row in rows]

    def persist(self) -> None:
        """Write the state of the orders seen."""
        for order in self.seen.values():
            self.session.execute(
                update(orders)
                .where(orders.c.order_id == order.order_id)
                .values(
                    cancelled=order.cancelled,
                    failure_reason=order.failure_reason.value if order.failure_reason else None,
                    updated_at=func.now(),
                )
            )


class SqlUnitOfWork:
    """A transaction on the payments schema whose commit also writes the outbox.

    Built with a session factory it owns its transaction (HTTP). `joining(session, cause)`
    rides on the event consumer's transaction instead: it works in a savepoint and never
    commits the session, and its events become follow-ups of `cause`.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session] | None = None,
        *,
        session: Session | None = None,
        cause: Envelope[Event] | None = None,
    ) -> None:
        if (session_factory is None) == (session is None):
            raise ValueError("give either a session factory or a session to join")
        self._factory = session_factory
        self._joined = session
        self.cause = cause
        self._outbox = Outbox(outbox)
        self._savepoint: SessionTransaction | None = None

    @classmethod
    def joining(cls, session: Session, cause: Envelope[Event] | None = None) -> Self:
        """A unit of work inside the caller's transaction (an event consumer's)."""
        return cls(session=session, cause=cause)

    def __enter__(self) -> Self:
        if self._joined is not None:
            self.session = self._joined
            self._savepoint = self.session.begin_nested()
        else:
            assert self._factory is not None
            self.session = self._factory()
            self.session.begin()
        self.accounts = SqlAccounts(self.session)
        self.orders = SqlOrders(self.session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._savepoint is not None:
            if self._savepoint.is_active:
                self._savepoint.rollback()
            self._savepoint = None
        else:
            self.session.rollback()
            self.session.close()

    def commit(self) -> None:
        """Persist what changed and stage the events it caused, in the same transaction."""
        self.accounts.persist()
        self.orders.persist()
        for order in self.orders.seen.values():
            for envelope in envelopes_for(order.events, self.cause):
                self._outbox.add(self.session, envelope)
            order.events.clear()
        if self._savepoint is not None:
            self._savepoint.commit()
        else:
            self.session.commit()
