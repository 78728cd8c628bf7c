"""Facts a transaction notes for after its commit: metrics count only what committed.

A unit of work notes a fact on its session (`note`); a listener on the session factory
(`on_commit`) receives the facts of each transaction that commits. A rollback drops them.
"""

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker


def note(session: Session, kind: str, fact: object) -> None:
    """Keep `fact` until the session's transaction ends."""
    session.info.setdefault(kind, []).append(fact)


def on_commit(
    factory: sessionmaker[Session], kind: str, receive: Callable[[list[Any]], None]
) -> None:
    """Hand every committed transaction's facts of `kind` (if any) to `receive`."""

    def committed(session: Session) -> None:
        facts = session.info.pop(kind, None)
        if facts:
            receive(facts)

    def rolled_back(session: Session, _previous: object = None) -> None:
        session.info.pop(kind, None)

    event.listen(factory, "after_commit", committed)
    event.listen(factory, "after_rollback", rolled_back)
