"""How the consumer treats a failure: wait for the database, retry, or count towards a DLQ."""

from enum import Enum

import psycopg
from sqlalchemy import exc as sa_exc

# Concurrency conflicts: the same work succeeds when simply run again.
_CONFLICT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
# Statement-level "operational" errors that are the handler's own doing, not an outage.
_STATEMENT_SQLSTATES = frozenset({"57014"})


class Failure(Enum):
    """What a failed attempt at applying an event means for the message."""

    DATABASE_UNAVAILABLE = "database_unavailable"
    """The database cannot be reached: retry forever, never dead-letter."""
    CONFLICT = "conflict"
    """Serialization failure, deadlock, lock timeout: retry without counting an attempt."""
    HANDLER_FAILED = "handler_failed"
    """Anything else: retry up to the attempt limit, then dead-letter."""


def classify(error: BaseException) -> Failure:
    """Tell an outage or a conflict from a failure of the handler itself."""
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return Failure.DATABASE_UNAVAILABLE
        cause: BaseException = error.orig if error.orig is not None else error
    else:
        cause = error
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate in _CONFLICT_SQLSTATES:
        return Failure.CONFLICT
    if sqlstate in _STATEMENT_SQLSTATES:
        return Failure.HANDLER_FAILED
    if isinstance(
        error,
        sa_exc.OperationalError
        | sa_exc.InterfaceError
        | sa_exc.DisconnectionError
        | sa_exc.TimeoutError,  # the pool could not hand out a connection
    ):
        return Failure.DATABASE_UNAVAILABLE
    if isinstance(cause, psycopg.OperationalError | psycopg.InterfaceError):
        return Failure.DATABASE_UNAVAILABLE
    return Failure.HANDLER_FAILED
