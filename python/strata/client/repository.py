"""One repository per model (``db.user``, ``db.media_request``): Prisma Client's model
methods, in snake_case.

Reads build one SELECT for the model and one more per included relation and level (see
`strata.client.relations`). Writes use ``INSERT/UPDATE/DELETE ... RETURNING`` so the
returned record is what the database holds; a write with nested writes runs in one
transaction (a savepoint inside an open one). Every argument is checked against the schema
before any SQL runs: a bad one raises `strata.ValidationError` and nothing is written.
(Data nested inside a nested write is checked as it is written; the transaction then rolls
back whatever that write had done.)

Relation counts: ``include={"_count": True}`` (every list relation) or
``{"_count": {"select": {"posts": True | {"where": ...}}}}``, in ``include`` or ``select``
at any level, cost one more query per level and count what this client sees (scope, soft
delete). A dict from ``select`` gets a ``"_count"`` key; a model instance, whose class
declares no such field, carries the dict as pydantic extra data, so ``record._count`` is
``{"posts": 3}`` while ``model_dump()`` leaves it out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from strata._compat import UTC
from strata.client import aggregates, updates, writes
from strata.client.cursor import cursor_condition
from strata.client.datetimes import operand_codec
from strata.client.meta import snake_case
from strata.client.relations import CHUNK, Selection, finish, load_relations, parse_selection
from strata.client.upsert import native_upsert
from strata.dialects.values import Codec, describe_value
from strata.errors import RecordNotFoundError, UniqueConstraintError, ValidationError

if TYPE_CHECKING:
    from strata.client.base import ClientBase
    from strata.client.meta import ModelMeta

__all__ = ["Page", "Repository"]

Where = Mapping[str, Any]
#: The record type of a `Page`.
R = TypeVar("R")


@dataclass(frozen=True)
class Page(Generic[R]):
    """One page of `Repository.paginate`: the records and where they sit in the whole
    (``Page[User]`` in a module written by ``strata generate``)."""

    items: list[R]
    page: int
    per_page: int
    total: int
    total_pages: int


def _count_argument(meta: ModelMeta, name: str, value: Any, minimum: int = 0) -> None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or value < minimum
    ):
        raise ValidationError(
            f"{meta.name}: {name} takes an int >= {minimum}, got {describe_value(value)}",
            model=meta.name,
            expected=f"an int >= {minimum}",
        )


class Repository:
    """Queries and writes for one model. Records come back as instances of the model's
    pydantic class (``db.user.model``), or as dicts when ``select`` is given."""

    def __init__(self, client: ClientBase[Repository], meta: ModelMeta) -> None:
        self._client = client
        self._meta = meta
        #: find_unique by plain values: the SQL, the codecs of its parameters and the row
        #: reader, by the where keys.
        self._lookups: dict[
            tuple[str, ...], tuple[str, list[Codec], Callable[[tuple[Any, ...]], Any]]
        ] = {}
        self._query = client.db.query_raw_
        self._sql = client.dialect.query

    @property
    def model(self) -> type[Any]:
        """The model's pydantic class."""
        return self._meta.cls

    def __repr__(self) -> str:
        return f"<strata Repository {self._meta.name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        # A model may have a method's name (the GPU marketplace's Transaction is
        # ``db.transaction``); calling its repository is then nearly always code meant for
        # the handle's own method, which ends with an underscore.
        attribute = snake_case(self._meta.name)
        raise TypeError(
            f"db.{attribute} is the repository of model {self._meta.name} and cannot be "
            f"called; the database handle's own methods end with an underscore "
            f"(db.{attribute}_())"
        )

    # -- reads -------------------------------------------------------------------------------

    def find_unique(
        self,
        where: Where,
        *,
        include: Mapping[str, Any] | None = None,
        select: Mapping[str, Any] | None = None,
        omit: Mapping[str, Any] | None = None,
    ) -> Any | None:
        """The record matching a unique criterion (the id, a ``@unique`` field, or a
        compound key such as ``{"userId_name": {"userId": u, "name": n}}``), or None."""
        # The hot path: a lookup by plain values, whose SQL depends only on the where keys,
        # so it is built once (in _find_unique) and each call only encodes the values. A
        # value the codec refuses (None, a filter dict) takes the general path, which
        # handles it or reports it.
        if include is None and select is None and omit is None and type(where) is dict:
            lookup = self._lookups.get(tuple(where))
            if lookup is not None:
                sql, codecs, record = lookup
                try:
                    params = [codec.to_sql_element(where[codec.field]) for codec in codecs]
                except ValidationError:
                    pass
                else:
                    rows = self._query(sql, *params, as_tuples=True)
                    return record(rows[0]) if rows else None
        return self._find_unique(where, include, select, omit)

    def _find_unique(
        self,
        where: Where,
        include: Mapping[str, Any] | None,
        select: Mapping[str, Any] | None,
        omit: Mapping[str, Any] | None = None,
    ) -> Any | None:
        meta = self._meta
        flat = writes.unique_where(meta, where)
        plain = (
            include is None
            and select is None
            and omit is None
            and tuple(flat) == tuple(where)
            and all(v is not None and not isinstance(v, Mapping) for v in flat.values())
        )
        if plain and all(meta.scalars[k].type != "Json" and not meta.scalars[k].list for k in flat):
            builder = self._client.sql()
            condition = builder.where(meta, "t0", flat)
            # A scoped or soft-deleting view adds parameters of its own; those lookups
            # take the general path.
            if len(builder.params) == len(flat):
                sql = self._select_sql(meta.columns, condition, limit=1)
                codecs = [operand_codec(meta, k) for k in flat]
                self._lookups[tuple(flat)] = (sql, codecs, meta.full_reader.record)
        found = self._read(flat, include=include, select=select, omit=omit, take=1)
        return found[0] if found else None

    def find_unique_or_raise(
        self,
        where: Where,
        *,
        include: Mapping[str, Any] | None = None,
        select: Mapping[str, Any] | None = None,
        omit: Mapping[str, Any] | None = None,
    ) -> Any:
        """Like `find_unique`, raising `strata.RecordNotFoundError` (P2025) for no record."""
        found = self.find_unique(where, include=include, select=select, omit=omit)
        if found is None:
            raise RecordNotFoundError(self._meta.name, where)
        return found

    def find_first(
        self,
        where: Where | None = None,
        *,
        order_by: Any = None,
        skip: int | None = None,
        cursor: Where | None = None,
        distinct: Sequence[str] | None = None,
        include: Mapping[str, Any] | None = None,
        select: Mapping[str, Any] | None = None,
        omit: Mapping[str, Any] | None = None,
    ) -> Any | None:
        found = self.find_many(
            where,
            order_by=order_by,
            skip=skip,
            take=1,
            cursor=cursor,
            distinct=distinct,
            include=include,
            select=select,
            omit=omit,
        )
        return found[0] if found else None

    def find_first_or_raise(
        self,
        where: Where | None = None,
        *,
        order_by: Any = None,
        skip: int | None = None,
        cursor: Where | None = None,
        distinct: Sequence[str] | None = None,
        include: Mapping[str, Any] | None = None,
        select: Mapping[str, Any] | None = None,
        omit: Mapping[str, Any] | None = None,
    ) -> Any:
        found = self.find_first(
            where,
            order_by=order_by,
            skip=skip,
            cursor=cursor,
            distinct=distinct,
            include=include,
            select=select,
            omit=omit,
        )
        if found is None:
            raise RecordNotFoundError(self._meta.name, where)
        return found

    def find_many(
        self,
        where: Where | None = None,
        *,
        order_by: Any = None,
        skip: int | None = None,
        take: int | None = None,
        cursor: Where | None = None,
        distinct: Sequence[str] | None = None,
        include: Mapping[str, Any] | None = None,
        select: Mapping[str, Any] | None = None,
        omit: Mapping[str, Any] | None = None,
    ) -> list[Any]:
        """Records matching ``where``, in ``order_by`` order.

        ``skip``/``take`` page through them; a negative ``take`` takes from the end (in
        the same order). ``cursor`` (a unique where) starts at that record, included.
        ``distinct`` keeps the first record of each combination of the listed fields;
        ``skip`` and ``take`` then count distinct records."""
        return self._read(
            where,
            order_by=order_by,
            skip=skip,
            take=take,
            cursor=cursor,
            distinct=distinct,
            include=include,
            select=select,
            omit=omit,
        )

    def _select_sql(self, columns: tuple[str, ...], condition: str, **clauses: Any) -> str:
        """The query reading ``columns`` of the model's rows (as ``t0``) matching
        ``condition``, with the dialect's `select_sql` ``clauses``."""
        meta = self._meta
        sql = self._sql
        selected = [sql.qualified("t0", meta.column(c)) for c in columns]
        return sql.select_sql(selected, meta.table_sql, "t0", condition, **clauses)

    def _read(
        self,
        where: Where | None,
        *,
        order_by: Any = None,
        skip: int | None = None,
        take: int | None = None,
        cursor: Where | None = None,
        distinct: Sequence[str] | None = None,
        include: Mapping[str, Any] | None = None,
        select: Mapping[str, Any] | None = None,
        omit: Mapping[str, Any] | None = None,
    ) -> list[Any]:
        meta = self._meta
        _count_argument(meta, "skip", skip)
        if take is not None and (isinstance(take, bool) or not isinstance(take, int)):
            raise ValidationError(
                f"{meta.name}: take takes an int, got {describe_value(take)}",
                model=meta.name,
                expected="an int",
            )
        selection = parse_selection(self._client, meta, include, select, omit)
        distinct_fields = list(distinct or ())
        for name in distinct_fields:
            meta.scalar(name)
        columns = selection.columns + tuple(
            f for f in distinct_fields if f not in selection.columns
        )
        builder = self._client.sql()
        conditions = [builder.where(meta, "t0", where)]
        backwards = take is not None and take < 0
        order = builder.order_by(meta, "t0", order_by, reverse=backwards)
        if cursor is not None or backwards:
            # A cursor or a backwards take needs a total order: end with the primary key.
            sorted_fields = _order_fields(order_by)
            order += builder.order_by(
                meta,
                "t0",
                [{f: "asc"} for f in meta.primary_key if f not in sorted_fields],
                reverse=backwards,
            )
        if cursor is not None:
            conditions.append(cursor_condition(builder, meta, order_by, cursor, backwards))
        limit = None if take is None else abs(take)
        window = None
        if not distinct_fields and (limit is not None or skip):
            window = self._sql.pagination(limit, skip or 0, builder.bind)
        sql = self._select_sql(columns, self._sql.all_of(conditions), order_by=order, window=window)
        rows = self._client.query(sql, builder.params)
        reader = meta.reader(columns)
        records = [reader.values(row) for row in rows]
        if distinct_fields:
            # Prisma also applies distinct after the query, then the window.
            seen: set[tuple[Any, ...]] = set()
            unique = []
            for record in records:
                key = tuple(_hashable(record[f]) for f in distinct_fields)
                if key not in seen:
                    seen.add(key)
                    unique.append(record)
            end = None if limit is None else (skip or 0) + limit
            records = unique[skip or 0 : end]
        if backwards:
            records.reverse()
        return self._finish(selection, records)

    def _finish(self, selection: Selection, records: list[dict[str, Any]]) -> list[Any]:
        load_relations(self._client, selection, records)
        return finish(selection, records)

    def count(self, where: Where | None = None) -> int:
        builder = self._client.sql()
        condition = builder.where(self._meta, "t0", where)
        rows = self._client.query(
            self._sql.count_sql(self._meta.table_sql, "t0", condition), builder.params
        )
        return int(rows[0][0])

    def aggregate(
        self,
        where: Where | None = None,
        *,
        count: bool | Mapping[str, bool] | None = None,
        avg: Mapping[str, bool] | None = None,
        sum: Mapping[str, bool] | None = None,
        min: Mapping[str, bool] | None = None,
        max: Mapping[str, bool] | None = None,
    ) -> dict[str, Any]:
        """Prisma's ``aggregate``: ``count=``/``avg=``/``sum=``/``min=``/``max=`` give
        ``_count``/``_avg``/``_sum``/``_min``/``_max`` (see `strata.client.aggregates`)."""
        return aggregates.aggregate(
            self._client, self._meta, where, count=count, avg=avg, sum=sum, min=min, max=max
        )

    def group_by(
        self,
        by: Sequence[str],
        *,
        where: Where | None = None,
        having: Where | None = None,
        order_by: Any = None,
        skip: int | None = None,
        take: int | None = None,
        count: bool | Mapping[str, bool] | None = None,
        avg: Mapping[str, bool] | None = None,
        sum: Mapping[str, bool] | None = None,
        min: Mapping[str, bool] | None = None,
        max: Mapping[str, bool] | None = None,
    ) -> list[dict[str, Any]]:
        """One dict per group: the ``by`` fields' values and the aggregates asked for."""
        _count_argument(self._meta, "skip", skip)
        _count_argument(self._meta, "take", take)
        return aggregates.group_by(
            self._client,
            self._meta,
            by,
            where,
            having,
            order_by,
            skip,
            take,
            count=count,
            avg=avg,
            sum=sum,
            min=min,
            max=max,
        )

    def paginate(
        self,
        page: int = 1,
        per_page: int = 20,
        *,
        where: Where | None = None,
        order_by: Any = None,
        include: Mapping[str, Any] | None = None,
    ) -> Page[Any]:
        """Page ``page`` (from 1) of ``per_page`` records, with the total count."""
        _count_argument(self._meta, "page", page, 1)
        _count_argument(self._meta, "per_page", per_page, 1)
        total = self.count(where)
        items = self.find_many(
            where, order_by=order_by, skip=(page - 1) * per_page, take=per_page, include=include
        )
        return Page(items, page, per_page, total, math.ceil(total / per_page))

    # -- writes ------------------------------------------------------------------------------

    @contextmanager
    def _writing(self, nested: bool) -> Iterator[None]:
        """Constraint errors named in schema terms; a transaction when the write has more
        than one statement."""
        with self._client.naming_constraints():
            if nested:
                with self._client.db.transaction_():
                    yield
            else:
                yield

    def _returned(
        self,
        record: dict[str, Any],
        include: Mapping[str, Any] | None,
        select: Mapping[str, Any] | None,
        omit: Mapping[str, Any] | None = None,
    ) -> Any:
        meta = self._meta
        if include is None and select is None and omit is None:
            reader = meta.full_reader
            return reader.model(record)
        selection = parse_selection(self._client, meta, include, select, omit)
        return self._finish(selection, [record])[0]

    def create(
        self,
        data: Mapping[str, Any],
        *,
        include: Mapping[str, Any] | None = None,
        select: Mapping[str, Any] | None = None,
        omit: Mapping[str, Any] | None = None,
    ) -> Any:
        """Insert a record, with nested ``create``/``connect``/``connect_or_create``/
        ``create_many`` on relation fields, all in one transaction; returns it as stored.

        On a soft-deleting model, when a unique value of the new record (its id, an email)
        is held by a soft-deleted row, that row is revived instead of the create failing:
        in the same transaction, its ``deletedAt`` is cleared, the given fields are written
        and ``@updatedAt`` fields stamped; fields the data leaves out keep their stored
        values, the primary key among them, so the rows that reference it stay attached.
        A live row holding the value is a `strata.UniqueConstraintError` as ever. In a
        ``with_deleted()`` view the soft-deleted row is visible, so it conflicts like any
        other."""
        nested = self._has_relations(data)
        revives = self._client.reviving(self._meta) is not None
        with self._writing(nested or revives or _shaped(include, select, omit)):
            record = writes.create_record(self._client, self._meta, data)
            return self._returned(record, include, select, omit)

    def create_many(
        self, data: Sequence[Mapping[str, Any]], *, skip_duplicates: bool = False
    ) -> dict[str, int]:
        """Insert many records through the core's bulk path (`strata.client.bulk`): every
        row or none. Scalar fields only; records may give different fields.
        ``skip_duplicates`` skips rows that conflict with a unique constraint. Returns
        ``{"count": rows inserted}``. Unlike `create`, it does not revive soft-deleted
        rows: a unique value held by one is a conflict like any other."""
        rows = self._rows_to_create(data, "create_many")
        writer = self._client.bulk_writer(self._meta)
        with self._writing(False):
            # One transaction (or a savepoint in the caller's): a failing row undoes all.
            count = writer.insert_rows(rows, skip_duplicates=skip_duplicates)
        return {"count": count}

    def create_many_and_return(
        self,
        data: Sequence[Mapping[str, Any]],
        *,
        skip_duplicates: bool = False,
        include: Mapping[str, Any] | None = None,
        select: Mapping[str, Any] | None = None,
        omit: Mapping[str, Any] | None = None,
    ) -> list[Any]:
        """`create_many` that returns the records created, in the order given, shaped by
        ``include``/``select``/``omit`` as `find_many` shapes them; rows skipped by
        ``skip_duplicates`` are not returned. Errors are `create_many`'s (a bad row's
        `ValidationError` carries ``row``).

        The insert and the read-back are one write transaction, and the rows are read
        back by the rowids the insert returned (``RETURNING rowid``), so the records are
        exactly the rows this call wrote, whatever other connections write meanwhile."""
        meta = self._meta
        rows = self._rows_to_create(data, "create_many_and_return")
        selection = parse_selection(self._client, meta, include, select, omit)
        writer = self._client.bulk_writer(meta)
        rowids: list[int] = []
        with self._writing(True):
            writer.insert_rows(rows, skip_duplicates=skip_duplicates, rowids=rowids)
            return self._finish(selection, self._by_rowid(selection.columns, rowids))

    def _rows_to_create(self, data: Any, method: str) -> Sequence[Any]:
        """The rows of a `create_many`, checked to be a list and given the view's scope."""
        meta = self._meta
        if isinstance(data, Mapping) or not isinstance(data, Sequence):
            raise ValidationError(
                f"{meta.name}: {method} takes a list of dicts, got {describe_value(data)}",
                model=meta.name,
                expected="a list of dicts",
            )
        if self._client.scope:
            return [self._stamped(item) for item in data]
        return data

    def _by_rowid(self, columns: tuple[str, ...], rowids: list[int]) -> list[dict[str, Any]]:
        """The rows with these rowids, decoded, in the order of ``rowids``. No implicit
        filter applies: these are rows the caller has just written."""
        meta = self._meta
        reader = meta.reader(columns)
        sql = self._sql
        row_id = sql.row_id("t0", [meta.column(f) for f in meta.primary_key])
        selected = [row_id, *(sql.qualified("t0", meta.column(c)) for c in columns)]
        found: dict[int, dict[str, Any]] = {}
        for start in range(0, len(rowids), CHUNK):
            chunk = rowids[start : start + CHUNK]
            among = sql.in_list(row_id, [sql.placeholder(i + 1) for i in range(len(chunk))])
            for row in self._client.query(
                sql.select_sql(selected, meta.table_sql, "t0", among), chunk
            ):
                found[row[0]] = reader.values(row[1:])
        return [found[rowid] for rowid in rowids]

    def update(
        self,
        where: Where,
        data: Mapping[str, Any],
        *,
        include: Mapping[str, Any] | None = None,
        select: Mapping[str, Any] | None = None,
        omit: Mapping[str, Any] | None = None,
    ) -> Any:
        """Update the record matching a unique ``where``; `strata.RecordNotFoundError`
        (P2025) if there is none. ``data`` takes values, ``{"increment": n}`` and the
        other atomic operations, ``{"push": ...}`` on scalar lists, and nested writes,
        including updates and deletes of related records (see `strata.client.writes`)."""
        nested = self._has_relations(data)
        with self._writing(nested or _shaped(include, select, omit)):
            record = writes.update_record(self._client, self._meta, where, data)
            return self._returned(record, include, select, omit)

    def update_many(self, where: Where | None = None, *, data: Mapping[str, Any]) -> dict[str, int]:
        """Update every record matching ``where`` (scalar fields only); ``{"count": n}``."""
        meta = self._meta
        data = self._update_many_data(data, "update_many")
        if not data and not meta.updated_at:
            return {"count": self.count(where)}
        with self._writing(False):
            count, _ = updates.update_rows(
                self._client, meta, data, lambda builder: builder.where(meta, "t0", where)
            )
        return {"count": count}

    def update_many_and_return(
        self,
        where: Where | None = None,
        *,
        data: Mapping[str, Any],
        include: Mapping[str, Any] | None = None,
        select: Mapping[str, Any] | None = None,
        omit: Mapping[str, Any] | None = None,
    ) -> list[Any]:
        """`update_many` that returns the updated records, in rowid order, shaped by
        ``include``/``select``/``omit`` as `find_many` shapes them. One ``UPDATE ...
        RETURNING`` statement (in a transaction with the relation reads, when ``include``
        or ``select`` asks for relations), under the same scope and soft-delete rules as
        `update_many`."""
        meta = self._meta
        selection = parse_selection(self._client, meta, include, select, omit)
        data = self._update_many_data(data, "update_many_and_return")
        with self._writing(True):
            _, rows = updates.update_rows(
                self._client,
                meta,
                data,
                lambda builder: builder.where(meta, "t0", where),
                return_rows=True,
            )
            # RETURNING gives rows in no defined order; the primary key's is the stable one.
            key = [meta.columns.index(field) for field in meta.record_key]
            rows.sort(key=lambda row: [row[i] for i in key])
            reader = meta.full_reader
            return self._finish(selection, [reader.values(row) for row in rows])

    def _update_many_data(self, data: Any, method: str) -> Mapping[str, Any]:
        """An `update_many`'s data, checked: scalar fields only, within the view's scope."""
        meta = self._meta
        if not isinstance(data, Mapping):
            raise ValidationError(
                f"{meta.name}: {method} takes a dict of data, got {describe_value(data)}",
                model=meta.name,
                expected="a dict of scalar fields",
            )
        if self._has_relations(data):
            raise ValidationError(
                f"{meta.name}: {method} takes scalar fields only",
                model=meta.name,
                expected="scalar fields",
            )
        for name in data:
            meta.scalar(name)
        self._client.check_update(meta, data)
        return data

    def upsert(
        self,
        where: Where,
        *,
        create: Mapping[str, Any],
        update: Mapping[str, Any],
        include: Mapping[str, Any] | None = None,
        select: Mapping[str, Any] | None = None,
        omit: Mapping[str, Any] | None = None,
    ) -> Any:
        """Update the record matching ``where``, or create it if there is none. A
        soft-deleted record is none (the view does not see it): ``create`` applies, and
        revives it as `create` does, so its stale data gets no ``update``. Where the
        database has it and the call allows it, this is one race-free statement
        (`strata.client.upsert`): concurrent upserts of one key make one row."""
        meta = self._meta
        flat = writes.unique_where(meta, where)
        with self._writing(_shaped(include, select, omit)):
            record = native_upsert(self._client, meta, where, create, update)
            if record is not None:
                return self._returned(record, include, select, omit)
        # Read, then write. On a server another connection may create the row between the
        # two (SQLite's write lock keeps it out): its unique error means "it exists now",
        # so the upsert runs once more (in a savepoint inside a caller's transaction), and
        # finds it.
        retries = 1 if self._sql.native_upsert else 0
        while True:
            exists: list[tuple[Any, ...]] = []
            try:
                with self._writing(True):
                    builder = self._client.sql()
                    condition = builder.where(meta, "t0", flat)
                    exists = self._client.query(
                        self._sql.exists_sql(meta.table_sql, "t0", condition), builder.params
                    )
                    if exists:
                        record = writes.update_record(self._client, meta, where, update)
                    else:
                        record = writes.create_record(self._client, meta, create)
                    return self._returned(record, include, select, omit)
            except UniqueConstraintError:
                if exists or not retries:
                    raise
                retries -= 1

    def delete(
        self,
        where: Where,
        *,
        include: Mapping[str, Any] | None = None,
        select: Mapping[str, Any] | None = None,
        omit: Mapping[str, Any] | None = None,
    ) -> Any:
        """Delete the record matching a unique ``where`` and return it;
        `strata.RecordNotFoundError` (P2025) if there is none. On a soft-deleting model
        (``/// @strata.softDelete``) the record is marked deleted instead (`hard_delete`
        removes it). In a ``with_deleted()`` view a record already marked is returned as it
        is: it keeps the time it was deleted."""
        meta = self._meta
        deleted_field = self._client.soft_delete.get(meta.name)
        if deleted_field is None:
            return self._delete_for_good(where, include, select, omit)
        mark = {deleted_field: datetime.now(UTC)}
        if not self._client.include_deleted:
            return self.update(where, mark, include=include, select=select, omit=omit)
        live = {**writes.unique_where(meta, where), deleted_field: None}
        with self._writing(True):
            try:
                return self.update(live, mark, include=include, select=select, omit=omit)
            except RecordNotFoundError:
                return self.find_unique_or_raise(where, include=include, select=select, omit=omit)

    def hard_delete(
        self,
        where: Where,
        *,
        include: Mapping[str, Any] | None = None,
        select: Mapping[str, Any] | None = None,
        omit: Mapping[str, Any] | None = None,
    ) -> Any:
        """Delete the record matching a unique ``where`` for good, and return it, whether
        or not it was soft-deleted (``/// @strata.softDelete`` models; on others this is
        `delete`). The view's scope still applies. `strata.RecordNotFoundError` (P2025) if
        there is none; `strata.ForeignKeyError` (P2003) if a Restrict or NoAction relation
        still references it."""
        repository = self._client.with_deleted_rows().repositories[self._meta.name]
        return repository._delete_for_good(where, include, select, omit)

    def _delete_for_good(
        self,
        where: Where,
        include: Mapping[str, Any] | None,
        select: Mapping[str, Any] | None,
        omit: Mapping[str, Any] | None,
    ) -> Any:
        meta = self._meta
        flat = writes.unique_where(meta, where)
        with self._writing(_shaped(include, select, omit)):
            returned = None
            if _shaped(include, select, omit):
                # What the record was, with its relations, before they cascade away.
                returned = self._read(flat, include=include, select=select, omit=omit, take=1)
                if not returned:
                    raise RecordNotFoundError(meta.name, where)
            builder = self._client.sql()
            condition = builder.where(meta, "t0", flat)
            rows = self._client.query(
                self._sql.delete_sql(meta.table_sql, "t0", condition, updates.returning(meta)),
                builder.params,
            )
            if not rows:
                raise RecordNotFoundError(meta.name, where)
            if returned is not None:
                return returned[0]
            reader = meta.full_reader
            return reader.model(reader.values(rows[0]))

    def delete_many(self, where: Where | None = None) -> dict[str, int]:
        """Delete every record matching ``where``; ``{"count": n}``. On a soft-deleting
        model the records are marked deleted instead (`hard_delete_many` removes them);
        in a ``with_deleted()`` view those already marked are left as they are, and
        ``count`` is the records this call marked."""
        deleted_field = self._client.soft_delete.get(self._meta.name)
        if deleted_field is None:
            return self._delete_many_for_good(where)
        if self._client.include_deleted:
            where = {"AND": [where or {}, {deleted_field: None}]}
        return self.update_many(where, data={deleted_field: datetime.now(UTC)})

    def hard_delete_many(self, where: Where | None = None) -> dict[str, int]:
        """Delete every record matching ``where`` for good, soft-deleted or not (purge
        rows deleted long ago: ``hard_delete_many(where={"deletedAt": {"lt": cutoff}})``);
        ``{"count": n}``. The view's scope still applies."""
        repository = self._client.with_deleted_rows().repositories[self._meta.name]
        return repository._delete_many_for_good(where)

    def _delete_many_for_good(self, where: Where | None) -> dict[str, int]:
        builder = self._client.sql()
        condition = builder.where(self._meta, "t0", where)
        with self._writing(False):
            count = self._client.execute(
                self._sql.delete_sql(self._meta.table_sql, "t0", condition), builder.params
            )
        return {"count": count}

    def _stamped(self, item: Any) -> Any:
        if not isinstance(item, Mapping):
            return item  # _rows_by_fields reports it
        stamped = dict(item)
        self._client.stamp(self._meta, stamped)
        return stamped

    def _has_relations(self, data: Any) -> bool:
        return isinstance(data, Mapping) and any(k in self._meta.relations for k in data)


def _shaped(
    include: Mapping[str, Any] | None,
    select: Mapping[str, Any] | None,
    omit: Mapping[str, Any] | None,
) -> bool:
    """Whether a write returns its record in another shape than the plain model instance
    (which is then read, and checked, inside the write's transaction)."""
    return include is not None or select is not None or omit is not None


def _order_fields(order_by: Any) -> set[str]:
    items = [] if order_by is None else [order_by] if isinstance(order_by, Mapping) else order_by
    return {name for item in items if isinstance(item, Mapping) for name in item}


def _hashable(value: Any) -> Any:
    return repr(value) if isinstance(value, list | dict) else value
