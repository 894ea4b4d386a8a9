"""The typed client of one database: its schema's models, codecs and repositories.

`strata.Database` creates one the first time a repository is used (``db.user``,
``db.model("User")``); everything in it is derived from the schema once. Repositories run
their statements on the database handle, so inside ``with db.transaction():`` they join
the transaction like any other statement of that thread.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from strata.client.bulk import BulkWriter
from strata.client.codecs import DateTimeFormat
from strata.client.datetimes import storage_of
from strata.client.meta import ModelMeta, build_meta, snake_case
from strata.client.models import ModelClasses, build_models
from strata.client.repository import Repository
from strata.client.where import SqlBuilder
from strata.errors import ConstraintError, RecordNotFoundError, ValidationError
from strata.schema import ir

if TYPE_CHECKING:
    from strata.database import Database

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
        db: Database,
        schema: ir.Schema,
        datetime_format: DateTimeFormat = "iso8601",
        classes: ModelClasses | None = None,
    ) -> None:
        self.db = db
        self.schema = schema
        self.datetime_format = datetime_format
        # `strata generate` writes static classes; records are then built from those.
        self.classes: ModelClasses = classes or build_models(schema)
        self.metas: dict[str, ModelMeta] = build_meta(
            schema, self.classes, datetime_format, storage_of(db)
        )
        self.soft_delete: dict[str, str] = {
            model.name: field
            for model in schema.models
            if (field := soft_delete_field(model)) is not None
        }
        #: Field values every row of this view has: ``db.scoped(userId=...)``.
        self.scope: dict[str, Any] = {}
        #: Whether soft-deleted rows are visible (``db.with_deleted()``).
        self.include_deleted = False
        # Shared with derived views: the writers depend only on the schema and database.
        self._bulk_writers: dict[str, BulkWriter] = {}
        self._build_repositories()

    def _build_repositories(self) -> None:
        self.repositories = {name: Repository(self, meta) for name, meta in self.metas.items()}
        #: ``db.media_request`` -> the MediaRequest repository.
        self.attributes = {snake_case(name): repo for name, repo in self.repositories.items()}
        self._by_table = {meta.model.table: meta for meta in self.metas.values()}

    def derive(
        self, *, scope: dict[str, Any] | None = None, include_deleted: bool | None = None
    ) -> Client:
        """A view sharing everything built from the schema, with other rules."""
        view = copy.copy(self)
        if scope is not None:
            view.scope = {**self.scope, **scope}
        if include_deleted is not None:
            view.include_deleted = include_deleted
        view._build_repositories()
        return view

    def bulk_writer(self, meta: ModelMeta) -> BulkWriter:
        """The core's bulk inserter for ``meta``'s rows, built on first use."""
        writer = self._bulk_writers.get(meta.name)
        if writer is None:
            writer = self._bulk_writers[meta.name] = BulkWriter(self.db, meta)
        return writer

    def forget_bulk_writer(self, meta: ModelMeta) -> None:
        """Drop ``meta``'s bulk writer, whose DateTime conversions follow the columns' forms
        as they were when it was built (after `strata.client.datetimes.rewrite`)."""
        self._bulk_writers.pop(meta.name, None)

    # -- the view's rules --------------------------------------------------------------------

    def implicit_where(self, meta: ModelMeta) -> dict[str, Any] | None:
        """The filter every statement on ``meta``'s rows carries in this view.

        A model without a scope field that belongs to a scoped parent (a Scene's
        required ``project``, whose Project has ``userId``) is scoped through it."""
        where: dict[str, Any] = {}
        for field, value in self.scope.items():
            if field in meta.scalars:
                where[field] = value
            elif (parent := self._scoped_parent(meta, field)) is not None:
                where[parent] = {"is": {}}  # the parent's own implicit filter does the rest
        deleted = self.soft_delete.get(meta.name)
        if deleted is not None and not self.include_deleted:
            where[deleted] = None
        return where or None

    def _scoped_parent(self, meta: ModelMeta, field: str) -> str | None:
        for name, link in meta.relations.items():
            target = self.metas[link.target]
            if link.holds_fk and not link.optional and not link.many and field in target.scalars:
                return name
        return None

    def stamp(self, meta: ModelMeta, data: dict[str, Any]) -> None:
        """Write the scope's values into a create's data; refuse a different value, and a
        parent (for a model scoped through its parent) outside the scope."""
        for field, value in self.scope.items():
            if field not in meta.scalars:
                parent = self._scoped_parent(meta, field)
                if parent is not None:
                    self._check_parent_visible(meta, parent, data)
                continue
            given = data.setdefault(field, value)
            if given != value:
                raise _out_of_scope(meta, field, value, f"cannot write {given!r}")

    def check_update(self, meta: ModelMeta, data: Mapping[str, Any]) -> None:
        """Refuse an update that would move a row out of the view's scope."""
        for field, value in self.scope.items():
            if field not in data:
                continue
            given = data[field]
            new = given.get("set") if isinstance(given, Mapping) else given
            if new != value:
                raise _out_of_scope(meta, field, value, f"cannot change it to {new!r}")

    def _check_parent_visible(self, meta: ModelMeta, parent: str, data: dict[str, Any]) -> None:
        link = meta.relations[parent]
        if not all(f in data for f in link.source_fields):
            return  # set through a nested connect/create, which is scoped itself
        key = {t: data[s] for s, t in zip(link.source_fields, link.target_fields, strict=True)}
        if self.repositories[link.target].find_first(where=key) is None:
            raise RecordNotFoundError(link.target, key)

    def sql(self) -> SqlBuilder:
        """A statement builder that applies this view's implicit filters."""
        return SqlBuilder(self.metas, self.implicit_where)

    def repository(self, model: str) -> Repository:
        try:
            return self.repositories[model]
        except KeyError:
            raise ValidationError(
                f"the schema has no model {model!r} (models: {', '.join(self.repositories)})",
                model=model,
                expected="a model of the schema",
            ) from None

    # -- running statements ------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return self.db.query_raw(sql, *params, as_tuples=True)

    def execute(self, sql: str, params: Sequence[Any]) -> int:
        return self.db.execute_raw(sql, *params)

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


def _out_of_scope(meta: ModelMeta, field: str, value: Any, what: str) -> ValidationError:
    return ValidationError(
        f"{meta.name}.{field}: this client is scoped to {field}={value!r} and {what}",
        model=meta.name,
        field=field,
        expected=repr(value),
    )
