"""The typed client of one database: its schema's models, codecs and repositories.

`strata.Database` creates one the first time a repository is used (``db.user``,
``db.model("User")``); everything in it is derived from the schema once. Repositories run
their statements on the database handle, so inside ``with db.transaction():`` they join
the transaction like any other statement of that thread.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from strata.client.codecs import DateTimeFormat
from strata.client.meta import ModelMeta, build_meta, snake_case
from strata.client.models import ModelClasses, build_models
from strata.client.repository import Repository
from strata.errors import ConstraintError, ValidationError
from strata.schema import ir

if TYPE_CHECKING:
    from strata.database import Database

__all__ = ["Client"]


class Client:
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
        self.metas: dict[str, ModelMeta] = build_meta(schema, self.classes, datetime_format)
        self.repositories = {name: Repository(self, meta) for name, meta in self.metas.items()}
        #: ``db.media_request`` -> the MediaRequest repository.
        self.attributes = {snake_case(name): repo for name, repo in self.repositories.items()}
        self._by_table = {meta.model.table: meta for meta in self.metas.values()}

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
