"""How each DateTime column is stored, found out from its data: one truth per column.

Databases written by other clients hold DateTime values in several forms: Prisma's native
engine writes integer Unix milliseconds, Prisma 7's driver adapters ISO 8601 text, SQLite's
``CURRENT_TIMESTAMP`` default ``YYYY-MM-DD HH:MM:SS``. Reads accept them all
(`strata.dialects.values.parse_datetime`), but SQL compares stored values, and across forms
that comparison is wrong: every integer sorts before every text, and ``2026-11-22 09:30``
sorts before ``2026-11-22T08:00``. So strata finds out which form each column holds and
writes and compares in it.

**Forms.** A *form* is a set of stored values whose SQL order is time order and in which one
instant has one stored value (`strata.dialects.values.DATETIME_FORMATS`):

================  ======================================  ==================================
form              example                                 recognised by
================  ======================================  ==================================
iso8601           ``2026-11-22T09:30:00.000+00:00``       text of that shape
iso8601-z         ``2026-11-22T09:30:00.000Z``            text of that shape
sqlite-datetime   ``2026-11-22 09:30:00``                 text of that shape, or with
                  (``2026-11-22 09:30:00.123``)           ``.fff`` other than ``.000``
unixepoch-ms      ``1795339800000``                       an integer (or real) value
other             anything else: other offsets,           (not a form: its stored order is
                  microseconds, dates alone, junk         not time order)
================  ======================================  ==================================

**Detection** (`detect`), at the first write or comparison of a column through a handle, is
cached for the handle's life:

1. the first non-NULL value's form, F;
2. whether any value is not in F: for unixepoch-ms ``EXISTS (... WHERE col >= '')``, since
   SQLite sorts every number before every text and blob, so an index on the column answers
   with one seek; for a text form ``EXISTS (... WHERE col IS NOT NULL AND NOT <F>)``, a scan
   that stops at the first foreign value (telling two text forms apart needs a look at each
   value; an index on the column makes it a scan of the smaller index);
3. only when step 2 found one: `count_forms`, a ``GROUP BY`` count of every form, which names
   the forms in errors and picks the form to write.

Measured on 1M rows (the 2-core development machine, warm page cache): an integer column
with an index, under 0.1 ms (one seek); without one, 40 ms; an iso8601 column, 0.09 s with
an index and 0.15 s without; a mixed column, about 0.4 s (mostly the census, 0.3 to 0.45 s,
which `strata doctor` runs for every column). An empty column takes ``datetime_format``.

**Mixed columns** (more than one form, or any value in no form). The client (filters,
``order_by``, cursors, ``aggregate``/``group_by``) compares them by instant, through
`instant_sql`, an SQL expression that maps every form to integer milliseconds; single-form
columns are compared as stored, so their indexes still serve. Writes into a mixed column use
its most common form. The queue, the rate limiter and metrics compare in their hot paths,
and normalising there would make every claim scan; they raise `MixedDateTimeError` when
bound (`single_form`), naming the column, the forms found and the command that fixes it:
`strata.client.datetime_rewrite.rewrite`, or ``strata datetime rewrite``.

Detection sees the data as it was when it ran: if another client starts writing another
form into a column afterwards, this handle does not notice until it is opened again, and
processes that write into an empty column must agree on ``datetime_format``. ``strata
doctor`` shows every column's forms.

**Databases with a date-time type.** All of the above is a concern of databases without one
(SQLite). On PostgreSQL a DateTime column is ``timestamp(3)`` (Prisma's type): the database
stores, orders and compares instants itself, in one form, `NATIVE_DATETIME`. Its columns get
`NATIVE_STORAGE` without a statement: never mixed, never rewritten, and `single_form` returns
the native form to the queue, the rate limiter and metrics.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast, get_args

from strata.dialects.values import (
    NATIVE_DATETIME,
    Codec,
    DateTimeForm,
    DateTimeFormat,
    FastPath,
)
from strata.errors import MixedDateTimeError, ValidationError

if TYPE_CHECKING:
    from strata.dialects.base import CodecsDialect, QueryDialect
    from strata.engine import Engine
    from strata.schema import ir

__all__ = [
    "FORMS",
    "NATIVE_STORAGE",
    "OTHER",
    "ColumnStorage",
    "DateTimeCodec",
    "DateTimeColumns",
    "ModelCodecs",
    "compared_column",
    "count_forms",
    "detect",
    "operand_codec",
    "rewrite_command",
    "single_form",
]

#: Values in no form: their stored order is not time order (see the module docstring).
OTHER = "other"
#: The forms strata writes, in the order detection tries them.
_WRITABLE: tuple[str, ...] = get_args(DateTimeFormat)
#: Every form detection reports, writable ones first.
FORMS: tuple[str, ...] = (*_WRITABLE, OTHER)

# -- detection ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnStorage:
    """What a DateTime column holds, as detection found it."""

    #: Each form found, with its number of values; None where detection stopped early and
    #: did not count (a single-form column).
    forms: Mapping[str, int | None]
    #: The form strata writes into the column: its own form, for a mixed column the most
    #: common writable one, for an empty one ``datetime_format``; on a database with a
    #: date-time type, that type (`NATIVE_DATETIME`).
    write_format: DateTimeForm

    @property
    def mixed(self) -> bool:
        """Whether SQL cannot compare the stored values as they are."""
        return len(self.forms) > 1 or OTHER in self.forms

    @property
    def empty(self) -> bool:
        return not self.forms


def count_forms(db: Engine, sql: QueryDialect, table: str, column: str) -> dict[str, int]:
    """The number of non-NULL values of ``column`` in each form, most common first, with
    ``sql``'s statement: one scan of the column (of its index, when it has one)."""
    rows = db.query_raw_(sql.census_sql(table, column, _WRITABLE, OTHER), as_tuples=True)
    return {str(form): int(count) for form, count in rows}


def detect(
    db: Engine, sql: QueryDialect, table: str, column: str, default: DateTimeFormat
) -> ColumnStorage:
    """Find out how ``column`` of ``table`` (quoted SQL names) stores its values, with
    ``sql``'s statements; see the module docstring for the steps and their cost."""
    first = db.query_raw_(sql.first_form_sql(table, column, _WRITABLE, OTHER), as_tuples=True)
    if not first:
        return ColumnStorage({}, default)
    form = str(first[0][0])
    if form != OTHER:
        rows = db.query_raw_(sql.foreign_value_sql(table, column, form), as_tuples=True)
        if not rows[0][0]:
            return ColumnStorage({form: None}, cast(DateTimeFormat, form))
    counts = count_forms(db, sql, table, column)
    writable = [f for f in counts if f != OTHER]
    return ColumnStorage(counts, cast(DateTimeFormat, writable[0]) if writable else default)


#: Every DateTime column of a database with a date-time type of its own (PostgreSQL's
#: ``timestamp(3)``): one form, the database's, so nothing is detected, mixed or rewritten.
NATIVE_STORAGE = ColumnStorage({NATIVE_DATETIME: None}, NATIVE_DATETIME)


class DateTimeColumns:
    """A client's detections, by (table, column), made with ``sql``'s statements; a column
    without values takes ``default``. A lock keeps two threads from both detecting the same
    column; detections of different columns may run side by side. With ``native`` (the
    database has a date-time type) every column is `NATIVE_STORAGE`, without a look."""

    def __init__(
        self, db: Engine, sql: QueryDialect, default: DateTimeFormat, *, native: bool = False
    ) -> None:
        self._db = db
        self.sql = sql
        self._default = default
        self.native = native
        self._known: dict[tuple[str, str], ColumnStorage] = {}
        self._lock = threading.Lock()

    def storage(self, table: str, column: str) -> ColumnStorage:
        if self.native:
            return NATIVE_STORAGE
        known = self._known.get((table, column))
        if known is None:
            with self._lock:
                known = self._known.get((table, column))
                if known is None:
                    known = detect(self._db, self.sql, table, column, self._default)
                    self._known[(table, column)] = known
        return known

    def forget(self, table: str, column: str) -> None:
        self._known.pop((table, column), None)


# -- the codec ---------------------------------------------------------------------------


class DateTimeCodec(Codec):
    """A DateTime field's codec. It writes in the form its column holds, which it asks the
    handle's detections for the first time a value is written or compared, with the
    dialect's writer of that form (``codecs``); reads need no detection and use the
    dialect's reader (``native``'s). `compared_column` and `operand_codec` give what a comparison
    uses. On a database with a date-time type the form is always the native one."""

    __slots__ = ("_codecs", "_columns", "_instant_codec", "_native", "column", "table")

    def __init__(
        self,
        model: str,
        field: ir.ScalarField,
        table: str,
        column: str,
        columns: DateTimeColumns,
        codecs: CodecsDialect,
        native: Codec,
    ) -> None:
        super().__init__(
            model, field.name, "an aware datetime", self._write, native.from_sql, field.optional
        )
        self.table = table
        self.column = column
        self._columns = columns
        self._codecs = codecs
        #: The dialect's own codec of the field, which writes the native form (the
        #: column's type and precision: ``@db.Date``, ``@db.Timestamptz(6)``...).
        self._native = native
        self._instant_codec: Codec | None = None

    @property
    def storage(self) -> ColumnStorage:
        return self._columns.storage(self.table, self.column)

    @property
    def _instant(self) -> Codec:
        """Operands of comparisons with a mixed column: integer milliseconds, as the
        dialect's `instant_sql` compares (only a database of forms has mixed columns)."""
        if self._instant_codec is None:
            self._instant_codec = Codec(
                self.model,
                self.field,
                "an aware datetime",
                self._codecs.datetime_writer("unixepoch-ms"),
                self.from_sql,
                self.optional,
            )
        return self._instant_codec

    def _write(self, value: object) -> Any:
        form = self.storage.write_format
        if form == NATIVE_DATETIME:
            return self._native.to_sql_element(value)
        return self._codecs.datetime_writer(form)(value)

    @property
    def fast_path(self) -> FastPath:
        form = self.storage.write_format
        if form == NATIVE_DATETIME:
            return self._native.fast_path
        return self._codecs.datetime_fast_path(form)

    @property
    def arrow_path(self) -> FastPath:
        form = self.storage.write_format
        if form == NATIVE_DATETIME:
            return self._native.arrow_path
        return self._codecs.datetime_fast_path(form)


class ModelCodecs(Protocol):
    """What the comparisons below use of a model (`strata.client.meta.ModelMeta`): its
    name and its fields' codecs."""

    @property
    def name(self) -> str: ...

    @property
    def codecs(self) -> Mapping[str, Codec]: ...


def compared_column(meta: ModelCodecs, name: str, column: str) -> str:
    """The SQL that compares field ``name`` whose column is ``column`` (qualified SQL): the
    column itself, or for a mixed DateTime column its instant (the dialect's
    `instant_sql`)."""
    codec = meta.codecs.get(name)
    if isinstance(codec, DateTimeCodec) and codec.storage.mixed:
        return codec._columns.sql.instant_sql(column)
    return column


def operand_codec(meta: ModelCodecs, name: str) -> Codec:
    """The codec of values compared with `compared_column`."""
    codec = meta.codecs[name]
    if isinstance(codec, DateTimeCodec) and codec.storage.mixed:
        return codec._instant
    return codec


def rewrite_command(model: str, field: str, forms: Mapping[str, int | None]) -> str:
    """The command that rewrites a column into its most common writable form."""
    target = next((f for f in forms if f != OTHER), "iso8601")
    return f"strata datetime rewrite --model {model} --field {field} --to {target}"


def single_form(meta: ModelCodecs, name: str, operation: str) -> DateTimeForm:
    """The form of DateTime field ``name``'s column, for a hot path that compares it in
    SQL: `MixedDateTimeError` when the column holds more than one. On a database with a
    date-time type, `NATIVE_DATETIME`."""
    codec = meta.codecs.get(name)
    if not isinstance(codec, DateTimeCodec):
        raise ValidationError(
            f"{meta.name}.{name} is not a DateTime field",
            model=meta.name,
            field=name,
            expected="a DateTime field",
        )
    storage = codec.storage
    if storage.mixed:
        forms = {f: n or 0 for f, n in storage.forms.items()}
        raise MixedDateTimeError(
            meta.name, name, forms, rewrite_command(meta.name, name, forms), operation
        )
    return storage.write_format
