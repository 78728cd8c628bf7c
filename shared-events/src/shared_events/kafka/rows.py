"""Many rows in one statement parameter per column, for the set-based handlers' SQL.

`unnest(:a, :b, ...)` keeps a statement's text the same for any number of rows, so
SQLAlchemy compiles it once and Postgres plans it once; multi-row VALUES would be
compiled anew for every batch size.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ARRAY, BindParameter, Table, column, func, literal
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import TypeEngine


def array(values: Sequence[object], item: TypeEngine[Any]) -> BindParameter[Any]:
    """One bind parameter holding every value (e.g. for `column == any_(array(...))`)."""
    return literal(list(values), ARRAY(item))


def unnest(
    table: Table,
    types: Mapping[str, TypeEngine[Any]] | None = None,
    **columns: Sequence[object],
) -> TableValuedAlias:
    """`unnest(:a, :b, ...) AS anon(a, b, ...)`: rows of `table`'s columns, one array each.

    `types` gives a column's type where the table has none (a computed value) or another
    one is wanted, e.g. JSON sent as text (an array of JSONB would store each document as
    a JSON string) and cast back in the statement.
    """
    overrides = types or {}
    typed = {n: overrides[n] if n in overrides else table.c[n].type for n in columns}
    arrays = [array(values, typed[name]) for name, values in columns.items()]
    return (
        func.unnest(*arrays)
        .table_valued(*(column(name, typed[name]) for name in columns))
        .render_derived()
    )
