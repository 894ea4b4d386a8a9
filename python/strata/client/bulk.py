"""Many rows into one table in one call: `create_many`, and metric ingest.

The core does the work (rust/py_bulk.rs): it reads each row's values straight from the
Python objects, converts the common types itself, and writes multi-row INSERTs with the
GIL released. This module describes a model's fields to it once, from the same codecs and
default rules that single-row ``create`` uses, so both paths accept the same values and
store the same bytes:

* each field's fast path (`Codec.fast_path`) and its ``to_sql``, which decides, and raises
  the field's `ValidationError` for, everything the fast path does not accept;
* what a row that leaves the field out gets (`strata.client.meta.missing_rule`).

On PostgreSQL the same conversion feeds multi-row inserts with numbered parameters, or
binary ``COPY`` when the caller asks for ``copy`` (metric ingest).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from strata._core import BulkInsert
from strata.client.defaults import now
from strata.client.meta import missing_rule

if TYPE_CHECKING:
    from strata._core import BulkColumn
    from strata.client.meta import ModelMeta
    from strata.dialects.base import Dialect
    from strata.engine import Engine

__all__ = ["BulkWriter"]


class BulkWriter:
    """Inserts rows of one model through the core. Built once per model and database;
    ``dialect`` writes the inserts (`strata.dialects.base.BulkInsertSql`)."""

    def __init__(self, db: Engine, meta: ModelMeta, dialect: Dialect) -> None:
        columns: list[BulkColumn] = []
        for name, codec in meta.codecs.items():
            kind, options = codec.fast_path
            columns.append(
                (
                    name,
                    kind,
                    options,
                    codec.optional,
                    missing_rule(meta, name),
                    codec.to_sql,
                )
            )
        # The encoded current time is needed only by models with now() / @updatedAt fields.
        self._stamp = next(
            (meta.codecs[n].to_sql for n in meta.scalars if missing_rule(meta, n) == "now"), None
        )
        insert = dialect.metrics.bulk_insert(
            meta.table_sql,
            [meta.column(name) for name in meta.codecs],
            [meta.column(name) for name in meta.primary_key],
        )
        self._core = BulkInsert(db, meta.name, insert, columns, meta.unknown_field)

    def _now(self) -> Any:
        return None if self._stamp is None else self._stamp(now())

    def insert_rows(
        self,
        rows: Any,
        *,
        defaults: dict[str, Any] | None = None,
        skip_duplicates: bool = False,
        atomic: bool = True,
        chunk_rows: int = 4096,
        rowids: list[Any] | None = None,
        copy: bool = False,
    ) -> int:
        """Insert an iterable of dicts; ``defaults`` gives values for fields the rows
        leave out, and ``rowids``, when given, receives the rowid of each row inserted
        (on PostgreSQL, its primary key).
        See `strata._core.BulkInsert.insert_rows`."""
        return self._core.insert_rows(
            rows,
            now=self._now(),
            defaults=defaults,
            skip_duplicates=skip_duplicates,
            atomic=atomic,
            chunk_rows=chunk_rows,
            rowids=rowids,
            copy=copy,
        )

    def insert_columns(
        self,
        columns: dict[str, Any],
        *,
        defaults: dict[str, Any] | None = None,
        skip_duplicates: bool = False,
        atomic: bool = True,
        chunk_rows: int = 4096,
        copy: bool = False,
    ) -> int:
        """Insert a dict of equal-length sequences; see `strata._core.BulkInsert`."""
        return self._core.insert_columns(
            columns,
            now=self._now(),
            defaults=defaults,
            skip_duplicates=skip_duplicates,
            atomic=atomic,
            chunk_rows=chunk_rows,
            copy=copy,
        )

    def insert_arrow(
        self,
        data: Any,
        *,
        defaults: dict[str, Any] | None = None,
        atomic: bool = True,
        chunk_rows: int = 4096,
        copy: bool = False,
    ) -> int:
        """Insert an Arrow object (``__arrow_c_stream__`` or ``__arrow_c_array__``), read
        by the core through the Arrow C data interface; see `strata._core.BulkInsert`."""
        return self._core.insert_arrow(
            data,
            now=self._now(),
            defaults=defaults,
            atomic=atomic,
            chunk_rows=chunk_rows,
            copy=copy,
        )
