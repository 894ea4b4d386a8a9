"""``where`` and ``order_by`` arguments compiled to SQL, with Prisma Client's semantics.

A `SqlBuilder` collects the bound parameters of one statement and hands out table aliases
(``t0`` for the statement's own table, ``t1``... for subqueries). Column names come from
the model metadata and are quoted; every value is a parameter encoded by the field's
codec, so a bad value fails with `strata.ValidationError` before the statement runs.

Filters follow SQL's three-valued logic, as Prisma's do on every database: a comparison with
a NULL column is unknown, so ``{"name": {"not": "x"}}`` does not match rows whose name is
NULL. Use ``None`` (``{"name": None}``, ``{"name": {"not": None}}``) to test for NULL.

String filters: ``contains``, ``starts_with`` and ``ends_with`` are case-sensitive. With
``mode="insensitive"`` they and ``equals`` use the dialect's case-insensitive match (SQLite's
``LIKE``, PostgreSQL's ``ILIKE``, with ``%``, ``_`` and ``\\`` in the value escaped), and the
other operators compare ``lower()`` of both sides. On SQLite without the ICU extension only
ASCII letters fold, so "insensitive" means ASCII-case-insensitive; PostgreSQL folds as its
collation does.

DateTime fields are compared in the form their column stores (`strata.client.datetimes`);
a column holding mixed forms is compared by instant, through an SQL expression that reads
every form, so its index does not serve those comparisons.

Scalar lists (``String[]``...) are stored as JSON arrays on SQLite (see
`strata.dialects.sqlite.codecs`) and as native arrays on PostgreSQL, and take Prisma's list
filters: ``has`` (an element), ``has_every`` and ``has_some`` (a list), ``is_empty`` (a
bool) and ``equals`` (the whole list, in order). Elements are compared one by one (the
dialect's `list_overlaps`); the operand is encoded by the field's own codec as a list
value, so each element is checked and stored exactly as the column's elements are.

Json fields take Prisma Client's Json filters: ``equals`` and ``not`` (a JSON value),
``string_contains``, ``string_starts_with`` and ``string_ends_with`` (a str; only a JSON
string matches), ``array_contains`` (a value, or a list of values that must all be
elements), ``array_starts_with`` and ``array_ends_with`` (the first or last element), each
applied at ``path`` when given: a list of object keys (str) and array indices (int >= 0),
PostgreSQL's array form; a key of decimal digits also indexes an array, as there.
``{"config": {"path": ["style", "palette", 0], "equals": "red"}}``. Values compare as JSON:
objects whatever their key order, numbers by value (``1`` equals ``1.0``), ``True`` never
equal to ``1``. ``None`` in ``equals`` matches a JSON null, a path that leads nowhere and a
NULL column alike (all three read back as None), and ``not: None`` every other row. Any
other filter is unknown (matches neither way, ``not`` included) on a NULL column and where
the path leads nowhere, as SQL compares NULL; a stored JSON null is a value. A
plain value (``{"config": {...}}`` is a filter, ``{"config": [1, 2]}`` is not) means
``equals``. The dialect writes them (`json_match`): on SQLite the core's
``strata_json_match`` function evaluates them on the parsed document (`rust/json_filter.rs`),
since SQLite 3.40's JSON functions cannot compare objects ignoring key order, cannot name a
key holding a ``"`` in a path, and cut decoded strings at an escaped NUL; on PostgreSQL they
are jsonb expressions with the same results.

Where SQL differs between databases, the client asks the dialect rather than guess: string
tests (``ILIKE`` on PostgreSQL), list tests (native arrays there), and NULLs' place in a sort,
which is each database's own (first in ascending order on SQLite, last on PostgreSQL) unless
``nulls`` says.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from strata.client.datetimes import compared_column, operand_codec
from strata.dialects.values import describe_value
from strata.errors import ValidationError

if TYPE_CHECKING:
    from strata.client.meta import ModelMeta, RelationLink
    from strata.dialects.base import QueryDialect

__all__ = ["SqlBuilder"]

_COMPARISONS = frozenset({"lt", "lte", "gt", "gte"})
_STRING_OPERATORS = frozenset({"contains", "starts_with", "ends_with"})
_OPERATORS = frozenset({"equals", "not", "in", "not_in", "mode", *_COMPARISONS, *_STRING_OPERATORS})
_LIST_OPERATORS = frozenset({"equals", "has", "has_every", "has_some", "is_empty"})
#: ``order_by={"posts": {"_count": "desc"}}``: a list relation's number of related rows.
RELATION_COUNT = "_count"
_JSON_OPERATORS = frozenset(
    {
        "path",
        "equals",
        "not",
        "string_contains",
        "string_starts_with",
        "string_ends_with",
        "array_contains",
        "array_starts_with",
        "array_ends_with",
    }
)
#: Types whose values have a meaningful order in SQLite (Json, Bytes and lists do not).
_ORDERED = frozenset({"String", "Int", "BigInt", "Float", "Decimal", "DateTime"})


def _check_operators(
    meta: ModelMeta, name: str, filters: Mapping[str, Any], allowed: frozenset[str], kind: str
) -> None:
    """Refuse operators a field does not take, before any SQL is built."""
    unknown = set(filters) - allowed
    if unknown:
        operators = ", ".join(sorted(allowed))
        raise ValidationError(
            f"{meta.name}.{name}: unknown {kind} operator(s) {sorted(unknown)} "
            f"(operators: {operators})",
            model=meta.name,
            field=name,
            expected=f"one of {operators}",
        )


def _json_path(meta: ModelMeta, name: str, path: Any) -> list[str | int]:
    """A Json filter's ``path``, checked: object keys and array indices."""
    steps = list(path) if isinstance(path, list | tuple) else None
    if steps is None or not all(
        isinstance(step, str) or (type(step) is int and step >= 0) for step in steps
    ):
        raise ValidationError(
            f"{meta.name}.{name}: path takes a list of keys (str) and array indices "
            f"(int >= 0), got {describe_value(path)}",
            model=meta.name,
            field=name,
            expected="a list of str keys and int indices",
        )
    return steps


def order_entries(meta: ModelMeta, order_by: Any) -> list[tuple[str, Any]]:
    """The ``(name, direction)`` pairs of an ``order_by`` argument, in order: a dict, or a
    list of dicts (each may hold several keys). The one parser of its shape, for the
    client's queries and the queue's claims alike."""
    if order_by is None:
        return []
    items = [order_by] if isinstance(order_by, Mapping) else order_by
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise ValidationError(
            f"{meta.name}: order_by takes a dict or a list of dicts",
            model=meta.name,
            expected="{'field': 'asc' | 'desc'} or a list of them",
        )
    entries: list[tuple[str, Any]] = []
    for item in items:
        if not isinstance(item, Mapping):
            raise ValidationError(
                f"{meta.name}: order_by entries are dicts, got {describe_value(item)}",
                model=meta.name,
                expected="{'field': 'asc' | 'desc'}",
            )
        entries.extend(item.items())
    return entries


def scalar_sort(meta: ModelMeta, name: str, direction: Any) -> tuple[str, str | None]:
    """A scalar field's ``'asc'``/``'desc'`` and its ``nulls`` (``'first'``, ``'last'`` or
    None) from ``"asc"`` or ``{"sort": "desc", "nulls": "last"}``, checked."""
    meta.scalar(name)
    nulls = None
    if isinstance(direction, Mapping):
        nulls = direction.get("nulls")
        direction = direction.get("sort")
    if direction not in ("asc", "desc") or nulls not in (None, "first", "last"):
        raise ValidationError(
            f"{meta.name}.{name}: order must be 'asc' or 'desc' (and nulls 'first' or "
            f"'last'), got {direction!r}",
            model=meta.name,
            field=name,
            expected="'asc' | 'desc' | {'sort': ..., 'nulls': 'first' | 'last'}",
        )
    return direction, nulls


class SqlBuilder:
    """The parameters and aliases of one statement under construction, written in the
    dialect's SQL (``sql``)."""

    def __init__(
        self,
        sql: QueryDialect,
        metas: Mapping[str, ModelMeta],
        implicit: Callable[[ModelMeta], Mapping[str, Any] | None] | None = None,
    ) -> None:
        self.sql = sql
        self.metas = metas
        self.params: list[Any] = []
        self._aliases = 0
        #: The filter a client applies to every row set of a model whatever the caller
        #: asks (a tenant scope, hiding soft-deleted rows): see `Client.implicit_where`.
        self._implicit = implicit

    def alias(self) -> str:
        self._aliases += 1
        return f"t{self._aliases}"

    def bind(self, value: Any) -> str:
        """Record ``value`` as the statement's next parameter; its placeholder."""
        self.params.append(value)
        return self.sql.placeholder(len(self.params))

    # -- where -------------------------------------------------------------------------------

    def where(self, meta: ModelMeta, alias: str, where: Mapping[str, Any] | None) -> str:
        """The condition for ``where`` on the model's rows, with the client's implicit
        filter for the model added; the dialect's `always` when there is neither."""
        condition = self._user_where(meta, alias, where)
        return self._with_implicit(meta, alias, condition)

    def _with_implicit(self, meta: ModelMeta, alias: str, condition: str) -> str:
        implicit = self._implicit(meta) if self._implicit else None
        if not implicit:
            return condition
        scoped = self._user_where(meta, alias, implicit)
        sql = self.sql
        if condition == sql.always():
            return scoped
        return sql.all_of([sql.grouped(condition), sql.grouped(scoped)])

    def _user_where(self, meta: ModelMeta, alias: str, where: Mapping[str, Any] | None) -> str:
        """The condition for ``where`` alone."""
        if where is None:
            return self.sql.always()
        if not isinstance(where, Mapping):
            raise ValidationError(
                f"{meta.name}: where must be a dict, got {describe_value(where)}",
                model=meta.name,
                expected="a dict of field filters",
            )
        parts = [self._condition(meta, alias, key, value) for key, value in where.items()]
        return self.sql.all_of(parts)

    def _condition(self, meta: ModelMeta, alias: str, key: str, value: Any) -> str:
        if key in ("AND", "OR", "NOT"):
            return self._logical(meta, alias, key, value)
        if key in meta.scalars:
            column = self.sql.qualified(alias, meta.column(key))
            field = meta.scalars[key]
            if field.type == "Json" and not field.list:
                if isinstance(value, Mapping):
                    return self._json_filter(meta, key, column, value)
                return self._json_match(meta, key, column, [], "equals", value)
            if value is not None:  # a NULL test needs no DateTime detection
                column = compared_column(meta, key, column)
            if isinstance(value, Mapping):
                return self._field_filter(meta, key, column, value)
            return self._equals(meta, key, column, value, insensitive=False)
        if key in meta.relations:
            return self._relation_filter(meta, alias, meta.relations[key], value)
        raise meta.unknown_field(key)

    def _logical(self, meta: ModelMeta, alias: str, key: str, value: Any) -> str:
        items = [value] if isinstance(value, Mapping) else value
        if not isinstance(items, Sequence) or isinstance(items, str):
            raise ValidationError(
                f"{meta.name}: {key} takes a dict or a list of dicts, got {describe_value(value)}",
                model=meta.name,
                expected="a dict or a list of dicts",
            )
        sql = self.sql
        conditions = [sql.grouped(self._user_where(meta, alias, item)) for item in items]
        if key == "AND":
            return sql.all_of(conditions)
        if key == "OR":
            return sql.any_of(conditions)
        # NOT: every condition must be false (Prisma's NOT).
        return sql.all_of([sql.negated(c) for c in conditions])

    def _equals(
        self, meta: ModelMeta, name: str, column: str, value: Any, *, insensitive: bool
    ) -> str:
        if value is None:
            return self.sql.is_null(column)
        encoded = operand_codec(meta, name).to_sql_element(value)
        if insensitive:
            return self.sql.string_match(column, "equals", encoded, self.bind, insensitive=True)
        return self.sql.compare(column, "equals", self.bind(encoded))

    def _field_filter(
        self, meta: ModelMeta, name: str, column: str, filters: Mapping[str, Any]
    ) -> str:
        field = meta.scalars[name]
        codec = operand_codec(meta, name)
        if field.list:
            return self._list_filter(meta, name, column, filters)
        _check_operators(meta, name, filters, _OPERATORS, "filter")
        mode = filters.get("mode", "default")
        if mode not in ("default", "insensitive"):
            raise ValidationError(
                f"{meta.name}.{name}: mode must be 'default' or 'insensitive', got {mode!r}",
                model=meta.name,
                field=name,
                expected="'default' or 'insensitive'",
            )
        is_string = field.type == "String" and not field.list
        insensitive = mode == "insensitive"
        if insensitive and not is_string:
            raise self._not_for(meta, name, "mode='insensitive'", "String fields")
        sql = self.sql
        # Comparisons on lower() of both sides when insensitive.
        compared = sql.lower(column) if insensitive else column

        def operand_sql(value: Any) -> str:
            placeholder = self.bind(codec.to_sql_element(value))
            return sql.lower(placeholder) if insensitive else placeholder

        parts = []
        for operator, operand in filters.items():
            if operator == "mode":
                continue
            if operator == "equals":
                parts.append(self._equals(meta, name, column, operand, insensitive=insensitive))
            elif operator == "not":
                if isinstance(operand, Mapping):
                    inner = self._field_filter(meta, name, column, operand)
                    parts.append(sql.negated(sql.grouped(inner)))
                elif operand is None:
                    parts.append(sql.is_not_null(column))
                else:
                    equals = self._equals(meta, name, column, operand, insensitive=insensitive)
                    parts.append(sql.negated(sql.grouped(equals)))
            elif operator in ("in", "not_in"):
                if not isinstance(operand, Sequence) or isinstance(operand, str | bytes):
                    raise ValidationError(
                        f"{meta.name}.{name}: {operator} takes a list, got "
                        f"{describe_value(operand)}",
                        model=meta.name,
                        field=name,
                        expected="a list of values",
                    )
                if not operand:
                    parts.append(sql.never() if operator == "in" else sql.always())
                    continue
                values = [operand_sql(item) for item in operand]
                parts.append(sql.in_list(compared, values, negated=operator == "not_in"))
            elif operator in _COMPARISONS:
                if field.type not in _ORDERED or field.list:
                    raise self._not_for(meta, name, operator, "ordered scalar fields")
                parts.append(sql.compare(compared, operator, operand_sql(operand)))
            else:  # contains, starts_with, ends_with
                if not is_string:
                    raise self._not_for(meta, name, operator, "String fields")
                text = codec.to_sql_element(operand)
                parts.append(
                    sql.string_match(column, operator, text, self.bind, insensitive=insensitive)
                )
        return sql.all_of(parts)

    def _list_filter(
        self, meta: ModelMeta, name: str, column: str, filters: Mapping[str, Any]
    ) -> str:
        """A scalar list's filters (see the module docstring)."""
        codec = meta.codecs[name]
        _check_operators(meta, name, filters, _LIST_OPERATORS, "list filter")
        by_text = meta.scalars[name].type == "String"
        sql = self.sql
        parts = []
        for operator, operand in filters.items():
            if operator == "is_empty":
                if not isinstance(operand, bool):
                    raise ValidationError(
                        f"{meta.name}.{name}: is_empty takes True or False, got "
                        f"{describe_value(operand)}",
                        model=meta.name,
                        field=name,
                        expected="True or False",
                    )
                parts.append(sql.list_empty(column, operand))
            elif operator == "equals":
                parts.append(self._equals(meta, name, column, operand, insensitive=False))
            else:
                # has x is has_some [x]; the codec refuses a wrong element or a non-list.
                wanted = [operand] if operator == "has" else operand
                encoded = codec.to_sql_element(wanted)
                parts.append(
                    sql.list_overlaps(
                        column,
                        partial(self.bind, encoded),
                        every=operator == "has_every",
                        by_text=by_text,
                    )
                )
        return sql.all_of(parts)

    def _json_filter(
        self, meta: ModelMeta, name: str, column: str, filters: Mapping[str, Any]
    ) -> str:
        """A Json field's filters (see the module docstring)."""
        _check_operators(meta, name, filters, _JSON_OPERATORS, "Json filter")
        path = _json_path(meta, name, filters.get("path", []))
        tests = [(operator, operand) for operator, operand in filters.items() if operator != "path"]
        if "path" in filters and not tests:
            raise ValidationError(
                f"{meta.name}.{name}: a path needs a filter to apply there (equals, ...)",
                model=meta.name,
                field=name,
                expected="path with equals, not, string_* or array_*",
            )
        parts = []
        for operator, operand in tests:
            if operator == "not":
                equals = self._json_match(meta, name, column, path, "equals", operand)
                parts.append(self.sql.negated(equals))
            else:
                parts.append(self._json_match(meta, name, column, path, operator, operand))
        return self.sql.all_of(parts)

    def _json_match(
        self,
        meta: ModelMeta,
        name: str,
        column: str,
        path: list[str | int],
        operator: str,
        operand: Any,
    ) -> str:
        """The dialect's test of the value at ``path``; keys and values are bound, never
        SQL or a JSON path string."""
        if operator == "equals" and operand is None:
            operator = "is_null"
        elif operator.startswith("string_") and not isinstance(operand, str):
            raise ValidationError(
                f"{meta.name}.{name}: {operator} takes a str, got {describe_value(operand)}",
                model=meta.name,
                field=name,
                expected="a str",
            )
        try:
            # The dialect serialises the operand; what JSON cannot hold fails there.
            return self.sql.json_match(column, path, operator, operand, self.bind)
        except (TypeError, ValueError):
            raise meta.codecs[name].error(operand) from None

    @staticmethod
    def _not_for(meta: ModelMeta, name: str, operator: str, allowed: str) -> ValidationError:
        field = meta.scalars[name]
        kind = f"{field.type}[]" if field.list else field.type
        return ValidationError(
            f"{meta.name}.{name}: {operator} is only for {allowed}, and {name} is {kind}",
            model=meta.name,
            field=name,
            expected=f"an operator {kind} supports",
        )

    # -- relation filters --------------------------------------------------------------------

    def related_rows(self, link: RelationLink, source_alias: str, target_alias: str) -> str:
        """The target rows related to one source row (the dialect's `rows`), limited to
        those the client's implicit filter lets it see: a row of another tenant, or a
        soft-deleted one, is no related row at all."""
        sql = self.sql
        target = self.metas[link.target]
        source = sql.table_as(target.table_sql, target_alias)
        if link.kind == "m2m":
            join = self.alias()
            on = sql.compare(
                sql.qualified(target_alias, sql.quote(link.target_columns[0])),
                "equals",
                sql.qualified(join, sql.quote(link.join_target or "")),
            )
            source = sql.joined(sql.table_as(sql.quote(link.join_table or ""), join), source, on)
            pairs = [(link.join_source or "", join, link.source_columns[0])]
        else:
            pairs = [
                (t, target_alias, s)
                for s, t in zip(link.source_columns, link.target_columns, strict=True)
            ]
        joins = [
            sql.compare(
                sql.qualified(alias, sql.quote(column)),
                "equals",
                sql.qualified(source_alias, sql.quote(source_column)),
            )
            for column, alias, source_column in pairs
        ]
        rows = sql.rows(source, sql.all_of(joins))
        always = sql.always()
        visible = self._with_implicit(target, target_alias, always)
        return rows if visible == always else sql.narrowed(rows, sql.grouped(visible))

    def count_related(
        self, link: RelationLink, source_alias: str, where: Mapping[str, Any] | None
    ) -> str:
        """A scalar subquery counting the related rows of one source row that the client
        sees and that match ``where``: what a record's ``_count`` reports."""
        target = self.metas[link.target]
        inner = self.alias()
        rows = self.related_rows(link, source_alias, inner)
        condition = self._user_where(target, inner, where)
        return self.sql.count_rows(self.sql.narrowed(rows, self.sql.grouped(condition)))

    def _relation_filter(self, meta: ModelMeta, alias: str, link: RelationLink, value: Any) -> str:
        target = self.metas[link.target]
        allowed = ("some", "every", "none") if link.many else ("is", "is_not")
        if not link.many and (value is None or not set(value) <= set(allowed)):
            # {"author": {...}} and {"author": None} are shorthands for is.
            value = {"is": value}
        if not isinstance(value, Mapping) or not value or not set(value) <= set(allowed):
            raise ValidationError(
                f"{meta.name}.{link.name}: a relation filter takes {', '.join(allowed)}, "
                f"got {describe_value(value)}",
                model=meta.name,
                field=link.name,
                expected=f"a dict with {' / '.join(allowed)}",
            )
        sql = self.sql
        parts = []
        for operator, nested in value.items():
            inner = self.alias()
            rows = self.related_rows(link, alias, inner)
            if nested is None:
                if operator not in ("is", "is_not"):
                    raise ValidationError(
                        f"{meta.name}.{link.name}: {operator} takes a where dict, not None",
                        model=meta.name,
                        field=link.name,
                        expected="a where dict",
                    )
                exists = sql.exists(rows)
                parts.append(sql.negated(exists) if operator == "is" else exists)
                continue
            condition = self._user_where(target, inner, nested)
            if operator == "every":
                # No related row for which the condition is not true.
                parts.append(sql.negated(sql.exists(sql.narrowed(rows, sql.not_true(condition)))))
            elif operator in ("none", "is_not"):
                parts.append(sql.negated(sql.exists(sql.narrowed(rows, sql.grouped(condition)))))
            else:  # some, is
                parts.append(sql.exists(sql.narrowed(rows, sql.grouped(condition))))
        return sql.all_of(parts)

    # -- order by ----------------------------------------------------------------------------

    def order_by(
        self, meta: ModelMeta, alias: str, order_by: Any, *, reverse: bool = False
    ) -> list[str]:
        """Sort terms (the dialect's `order_term`) for ``{"field": "asc"}``, ``{"field":
        {"sort": "desc", "nulls": "last"}}``, ``{"relation": {"field": "asc"}}`` (to-one),
        ``{"relation": {"_count": "desc"}}`` (a list relation, by its number of related
        rows), or a list."""
        terms = []
        for name, direction in order_entries(meta, order_by):
            terms.append(
                self.sql.order_term(*self._order_term(meta, alias, name, direction, reverse))
            )
        return terms

    def _order_term(
        self, meta: ModelMeta, alias: str, name: str, direction: Any, reverse: bool
    ) -> tuple[str, str, str | None]:
        """The expression to sort on, ``asc`` or ``desc``, and where NULLs go."""
        if name in meta.relations and isinstance(direction, Mapping):
            link = meta.relations[name]
            if link.many and set(direction) == {RELATION_COUNT}:
                return self._relation_count_term(meta, alias, link, direction, reverse)
            if link.many or len(direction) != 1:
                raise ValidationError(
                    f"{meta.name}.{name}: order by a relation takes one field of a to-one "
                    "relation, or {'_count': 'asc' | 'desc'} of a list relation",
                    model=meta.name,
                    field=name,
                    expected="{'relation': {'field': 'asc'}} on a to-one relation, "
                    "{'relation': {'_count': 'desc'}} on a list relation",
                )
            inner = self.alias()
            target = self.metas[link.target]
            ((field, nested_direction),) = direction.items()
            expression, sort, nulls = self._order_term(
                target, inner, field, nested_direction, reverse
            )
            # The related row's value as a scalar subquery.
            related = self.sql.value_of(expression, self.related_rows(link, alias, inner))
            return related, sort, nulls
        direction, nulls = scalar_sort(meta, name, direction)
        if reverse:
            direction = "desc" if direction == "asc" else "asc"
            nulls = {"first": "last", "last": "first"}.get(nulls or "")
        column = compared_column(meta, name, self.sql.qualified(alias, meta.column(name)))
        return column, direction, nulls

    def _relation_count_term(
        self,
        meta: ModelMeta,
        alias: str,
        link: RelationLink,
        direction: Mapping[str, Any],
        reverse: bool,
    ) -> tuple[str, str, None]:
        """Order by the number of related rows the client sees, as Prisma's ``{"posts":
        {"_count": "desc"}}`` does (one-to-many and many-to-many): the same correlated
        ``COUNT(*)`` that a record's ``_count`` reports."""
        sort = direction[RELATION_COUNT]
        if sort not in ("asc", "desc"):
            raise ValidationError(
                f"{meta.name}.{link.name}: {RELATION_COUNT} order must be 'asc' or 'desc', "
                f"got {describe_value(sort)}",
                model=meta.name,
                field=link.name,
                expected="{'_count': 'asc' | 'desc'}",
            )
        if reverse:
            sort = "desc" if sort == "asc" else "asc"
        return self.count_related(link, alias, None), sort, None
