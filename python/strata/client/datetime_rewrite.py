"""Operations on the DateTime columns of a whole client: `census` counts a column's
forms, `rewrite` rewrites it into one (``strata datetime rewrite``, ``strata doctor``).
What the forms are and how the client detects them is `strata.client.datetimes`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from strata.client.datetimes import count_forms
from strata.dialects.values import ENCODE_ERRORS, check_datetime_format, parse_datetime
from strata.errors import ConfigurationError, ValidationError

if TYPE_CHECKING:
    from strata.client.client import Client

__all__ = ["Rewritten", "census", "rewrite"]


def census(client: Client, table: str, column: str) -> dict[str, int]:
    """The number of non-NULL values of ``column`` in each form, most common first: one
    scan of the column (of its index, when it has one)."""
    return count_forms(client.db, client.dialect.query, table, column)


@dataclass(frozen=True)
class Rewritten:
    """What `rewrite` did."""

    #: Values rewritten into the target form by this run.
    rewritten: int
    #: Values no reader understands; left as they are.
    unreadable: int
    #: Values of the column in each form after the run.
    forms: dict[str, int]


def rewrite(
    client: Client,
    model: str,
    field: str,
    to: str,
    *,
    batch: int = 10_000,
    progress: Callable[[int], None] | None = None,
) -> Rewritten:
    """Rewrite every value of DateTime field ``field`` of ``model`` into form ``to``, so
    that the column has one form (``strata datetime rewrite`` runs this).

    Rows are visited in rowid order, ``batch`` at a time; each batch is one write
    transaction that reads the batch's values not yet in ``to``, converts them
    (`parse_datetime`, then the form's writer: millisecond precision) and writes them back.
    A writer in another process waits at most one batch for the lock, and nothing it writes
    is lost: each batch reads and writes under the lock. A run that is stopped (even
    killed) keeps the batches it committed, and running again continues, since values
    already in ``to`` are skipped. Values written in another form while the run goes on
    are left for the next run; the result's ``forms`` shows them. ``progress`` is called
    with the number of values rewritten so far after each batch.
    """
    target = check_datetime_format(to)
    if client.datetime_columns.native:
        raise ConfigurationError(
            f"{client.dialect.provider} stores DateTime values in a date-time type of its "
            "own, in one form: there is nothing to rewrite"
        )
    db = client.db
    meta = client.meta(model)
    scalar = meta.scalar(field)
    if scalar.type != "DateTime" or scalar.list:
        raise ValidationError(
            f"{model}.{field} is not a DateTime field",
            model=model,
            field=field,
            expected="a DateTime field",
        )
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValidationError(f"batch must be a positive int, got {batch!r}", expected="an int")
    if db.in_transaction_:
        raise ValidationError(
            "rewrite commits batch by batch; call it outside a transaction",
            model=model,
            expected="no open transaction",
        )
    table, column = meta.table_sql, meta.column(field)
    write = client.dialect.codecs.datetime_writer(target)
    sql = client.dialect.query
    select = sql.rewrite_batch_sql(table, column, target)
    update = sql.rewrite_update_sql(table, column)
    after, rewritten, unreadable = -(2**63), 0, 0
    try:
        while True:
            with db.transaction_():
                rows = db.query_raw_(select, after, batch, as_tuples=True)
                changes = []
                for rowid, value in rows:
                    try:
                        changes.append((write(parse_datetime(value)), rowid))
                    except ENCODE_ERRORS:
                        unreadable += 1
                if changes:
                    db.execute_many_raw_(update, changes)
            if not rows:
                break
            after = rows[-1][0]
            rewritten += len(changes)
            if progress is not None:
                progress(rewritten)
    finally:
        # This handle detects the column afresh; bulk writers built for the old form go.
        client.datetime_columns.forget(table, column)
        client.forget_bulk_writer(meta)
    return Rewritten(rewritten, unreadable, census(client, table, column))
