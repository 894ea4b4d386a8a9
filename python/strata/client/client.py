"""The typed client of one database: its schema's models, codecs and repositories.

`strata.Database` creates one the first time a repository is used (``db.user``,
``db.model_("User")``); everything in it is derived from the schema once. Repositories run
their statements on the database handle, so inside ``with db.transaction_():`` they join
the transaction like any other statement of that thread.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from strata.client.bulk import BulkWriter
from strata.client.datetimes import DateTimeColumns
from strata.client.meta import ModelMeta, build_meta, snake_case
from strata.client.models import ModelClasses, build_models
from strata.client.repository import Repository
from strata.client.where import SqlBuilder
from strata.dialects.values import DateTimeFormat
from strata.errors import (
    ConfigurationError,
    ConstraintError,
    RecordNotFoundError,
    ValidationError,
)
from strata.schema import ir

if TYPE_CHECKING:
    from strata.dialects.base import Dialect
    from strata.engine import Engine

__all__ = ["Client"]


#: The mark that makes a model soft-deleting, in its doc comment:
#: ``/// @strata.softDelete`` (the field is ``deletedAt``) or
#: ``/// @strata.softDelete(removedAt)``. The field must be an optional DateTime.
_SOFT_DELETE = re.compile(r"@strata\.softDelete(?:\((\w+)\))?")


def soft_delete_field(model: ir.Model) -> str | None:
    """The DateTime field that marks a soft-deleted row of ``model``, if it has one."""
    match = _SOFT_DELETE.search(model.documentation or "")
    if match is None:
        return None
    name = match.group(1) or "deletedAt"
    field = next((f for f in model.scalar_fields if f.name == name), None)
    if field is None or field.type != "DateTime" or not field.optional or field.list:
        raise ValidationError(
            f"{model.name} is marked @strata.softDelete but has no optional DateTime field "
            f"`{name}`; add `{name} DateTime?` to the model",
            model=model.name,
            field=name,
            expected="an optional DateTime field",
        )
    return name


class Client:
    """Everything derived from the schema once, plus this view's rules: which rows every
    query may see (``scope``, soft delete) and what every create must write (``scope``)."""

    def __init__(
        self,
        db: Engine,
        schema: ir.Schema,
        dialect: Dialect,
        datetime_format: DateTimeFormat = "iso8601",
        classes: ModelClasses | None = None,
    ) -> None:
        self.db = db
        self.schema = schema
        #: The database's SQL: the client writes every statement with ``dialect.query``.
        self.dialect = dialect
        self.datetime_format = datetime_format
        # `strata generate` writes static classes; records are then built from those.
        self.classes: ModelClasses = classes or build_models(schema)
        #: How each DateTime column stores its values, detected on first use and shared
        #: with derived views (`strata.client.datetimes`).
        self.datetime_columns = DateTimeColumns(
            db, dialect.query, datetime_format, native=dialect.codecs.native_datetime
        )
        self.metas: dict[str, ModelMeta] = build_meta(
            schema, self.classes, datetime_format, self.datetime_columns, dialect
        )
        self.soft_delete: dict[str, str] = {
            model.name: field
            for model in schema.models
            if (field := soft_delete_field(model)) is not None
        }
        #: Field values every row of this view has: ``db.scoped_(userId=...)``.
        self.scope: dict[str, Any] = {}
        #: Per model, the field holding each scope value (see `_scope_fields`).
        self._scoped_fields: dict[str, dict[str, str]] = {}
        #: Whether soft-deleted rows are visible (``db.with_deleted_()``).
        self.include_deleted = False
        self._with_deleted_rows: Client | None = None
        # Shared with derived views: the writers depend only on the schema and database.
        self._bulk_writers: dict[str, BulkWriter] = {}
        self._build_repositories()

    def _build_repositories(self) -> None:
        self.repositories = {name: Repository(self, meta) for name, meta in self.metas.items()}
        #: ``db.media_request`` -> the MediaRequest repository.
        self.attributes = model_attributes(self.repositories)
        self._by_table = {meta.model.table: meta for meta in self.metas.values()}

    def derive(
        self, *, scope: dict[str, Any] | None = None, include_deleted: bool | None = None
    ) -> Client:
        """A view sharing everything built from the schema, with other rules."""
        view = copy.copy(self)
        if scope is not None:
            view.scope = {**self.scope, **scope}
            view._scoped_fields = view._scope_fields()
        if include_deleted is not None:
            view.include_deleted = include_deleted
        view._with_deleted_rows = None
        view._build_repositories()
        return view

    def with_deleted_rows(self) -> Client:
        """This view with soft-deleted rows visible and its scope kept: what reviving a
        soft-deleted row and deleting one for good work through."""
        if self.include_deleted:
            return self
        if self._with_deleted_rows is None:
            self._with_deleted_rows = self.derive(include_deleted=True)
        return self._with_deleted_rows

    def bulk_writer(self, meta: ModelMeta) -> BulkWriter:
        """The core's bulk inserter for ``meta``'s rows, built on first use."""
        writer = self._bulk_writers.get(meta.name)
        if writer is None:
            writer = self._bulk_writers[meta.name] = BulkWriter(self.db, meta, self.dialect)
        return writer

    def forget_bulk_writer(self, meta: ModelMeta) -> None:
        """Drop ``meta``'s bulk writer, whose DateTime conversions follow the columns' forms
        as they were when it was built (after `strata.client.datetime_rewrite.rewrite`)."""
        self._bulk_writers.pop(meta.name, None)

    # -- the view's rules --------------------------------------------------------------------

    def _scope_fields(self) -> dict[str, dict[str, str]]:
        """Per model, the field that holds each scope value: the scope's own field
        (``Project.userId``), or on the model a scope field refers to, the field referred
        to: ``userId`` references ``User.id``, so the tenant's own User row is the one
        whose ``id`` is the scope value. Worked out from the relations, not from names."""
        fields: dict[str, dict[str, str]] = {}
        for meta in self.metas.values():
            for field in self.scope:
                if field in meta.scalars:
                    fields.setdefault(meta.name, {})[field] = field
        for meta in self.metas.values():
            for link in meta.relations.values():
                if not link.holds_fk:
                    continue
                target = self.metas[link.target]
                for source, referenced in zip(link.source_fields, link.target_fields, strict=True):
                    if source in self.scope and source not in target.scalars:
                        fields.setdefault(target.name, {}).setdefault(source, referenced)
        return fields

    def implicit_where(self, meta: ModelMeta) -> dict[str, Any] | None:
        """The filter every statement on ``meta``'s rows carries in this view.

        A model without a scope field that belongs to a scoped parent (a Scene's
        required ``project``, whose Project has ``userId``) is scoped through it. The
        model the scope field refers to is scoped by the referenced field: in a view
        scoped by ``userId``, the User rows are the tenant's own."""
        where: dict[str, Any] = {}
        fields = self._scoped_fields.get(meta.name, {})
        for field, value in self.scope.items():
            if field in fields:
                where[fields[field]] = value
            elif (parent := self._scoped_parent(meta, field)) is not None:
                where[parent] = {"is": {}}  # the parent's own implicit filter does the rest
        deleted = self.soft_delete.get(meta.name)
        if deleted is not None and not self.include_deleted:
            where[deleted] = None
        return where or None

    def reviving(self, meta: ModelMeta) -> str | None:
        """The soft-delete field of ``meta`` when a create in this view revives the
        soft-deleted row holding its unique value (`strata.client.writes.create_record`):
        in a view that hides deleted rows. In ``with_deleted()`` the row is visible, so a
        create conflicts with it as with any other row."""
        return None if self.include_deleted else self.soft_delete.get(meta.name)

    def _scoped_parent(self, meta: ModelMeta, field: str) -> str | None:
        for name, link in meta.relations.items():
            target = self.metas[link.target]
            if link.holds_fk and not link.optional and not link.many and field in target.scalars:
                return name
        return None

    def stamp(self, meta: ModelMeta, data: dict[str, Any]) -> None:
        """Write the scope's values into a create's data; refuse a different value (so a
        view scoped by ``userId`` creates no other User), and a parent (for a model scoped
        through its parent) outside the scope."""
        fields = self._scoped_fields.get(meta.name, {})
        for field, value in self.scope.items():
            if field not in fields:
                parent = self._scoped_parent(meta, field)
                if parent is not None:
                    self._check_parent_visible(meta, parent, data)
                continue
            given = data.setdefault(fields[field], value)
            if given != value:
                raise _out_of_scope(meta, fields[field], field, value, f"cannot write {given!r}")

    def check_update(self, meta: ModelMeta, data: Mapping[str, Any]) -> None:
        """Refuse an update that would move a row out of the view's scope."""
        fields = self._scoped_fields.get(meta.name, {})
        for field, value in self.scope.items():
            own = fields.get(field)
            if own is None or own not in data:
                continue
            given = data[own]
            new = given.get("set") if isinstance(given, Mapping) else given
            if new != value:
                raise _out_of_scope(meta, own, field, value, f"cannot change it to {new!r}")

    def _check_parent_visible(self, meta: ModelMeta, parent: str, data: dict[str, Any]) -> None:
        link = meta.relations[parent]
        if not all(f in data for f in link.source_fields):
            return  # set through a nested connect/create, which is scoped itself
        key = {t: data[s] for s, t in zip(link.source_fields, link.target_fields, strict=True)}
        if self.repositories[link.target].find_first(where=key) is None:
            raise RecordNotFoundError(link.target, key)

    def sql(self) -> SqlBuilder:
        """A statement builder that applies this view's implicit filters."""
        return SqlBuilder(self.dialect.query, self.metas, self.implicit_where)

    def meta(self, model: str) -> ModelMeta:
        """What the client knows of ``model`` (the schema's name for it); the one error for
        a model the schema does not have."""
        meta = self.metas.get(model)
        if meta is None:
            raise ValidationError(
                f"the schema has no model {model!r} (models: {', '.join(self.metas)})",
                model=model,
                expected="a model of the schema",
            )
        return meta

    def repository(self, model: str) -> Repository:
        return self.repositories[self.meta(model).name]

    # -- running statements ------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return self.db.query_raw_(sql, *params, as_tuples=True)

    def execute(self, sql: str, params: Sequence[Any]) -> int:
        return self.db.execute_raw_(sql, *params)

    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        return self.db.execute_many_raw_(sql, rows)

    @contextmanager
    def naming_constraints(self) -> Iterator[None]:
        """Add the model and field names to constraint errors, which the core reports by
        table and column."""
        try:
            yield
        except ConstraintError as error:
            meta = self._by_table.get(error.table or "")
            if meta is not None and error.model is None:
                by_column = {f.column: f.name for f in meta.scalars.values()}
                error.model = meta.name
                error.fields = [by_column.get(c, c) for c in error.columns]
                if error.args:
                    fields = ", ".join(error.fields)
                    error.args = (f"{error.args[0]} (model {meta.name}, fields: {fields})",)
            raise


def model_attributes(repositories: Mapping[str, Repository]) -> dict[str, Repository]:
    """Each model's repository under its snake_case name, the attribute it has on a database
    handle. Those names must be unambiguous: handles keep every name ending with an
    underscore for their own methods (`strata.Database`), and two models must not share one
    name, or one of them would be silently unreachable."""
    attributes: dict[str, Repository] = {}
    owners: dict[str, str] = {}
    for model, repository in repositories.items():
        name = snake_case(model)
        if name.endswith("_"):
            raise ConfigurationError(
                f"model {model} would be reached as {name!r}, but names ending with an "
                "underscore belong to the database handle's own methods; rename the model "
                "(keeping its table with @@map)"
            )
        if name in owners:
            raise ConfigurationError(
                f"models {owners[name]} and {model} would both be reached as {name!r}; "
                "rename one of them (keeping its table with @@map)"
            )
        owners[name] = model
        attributes[name] = repository
    return attributes


def _out_of_scope(
    meta: ModelMeta, field: str, scope_field: str, value: Any, what: str
) -> ValidationError:
    return ValidationError(
        f"{meta.name}.{field}: this client is scoped to {scope_field}={value!r} and {what}",
        model=meta.name,
        field=field,
        expected=repr(value),
    )
