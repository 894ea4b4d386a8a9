"""What the client's parts (repositories, writes, relations, aggregates) use of the
`strata.client.client.Client` that built them, as a `Protocol`: the parts are typed with it
and `Client` satisfies it by its shape, so no part imports the module that builds it.

Generic in the class of the client's repositories: `strata.client.repository.Repository`
reaches other repositories of its own class (`ClientBase[Repository]`); the other parts
reach none or only call ``create_many`` (`ClientBase[Any]`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from strata.client.bulk import BulkWriter
    from strata.client.meta import ModelMeta
    from strata.client.where import SqlBuilder
    from strata.dialects.base import Dialect
    from strata.engine import Engine

__all__ = ["ClientBase"]

RepositoryT = TypeVar("RepositoryT", covariant=True)


class ClientBase(Protocol[RepositoryT]):
    """A client view as its parts see it: the database, the schema's metas, the view's
    rules (scope, soft delete) and the statements run through it."""

    @property
    def db(self) -> Engine: ...

    @property
    def dialect(self) -> Dialect: ...

    @property
    def metas(self) -> Mapping[str, ModelMeta]: ...

    @property
    def repositories(self) -> Mapping[str, RepositoryT]: ...

    @property
    def scope(self) -> Mapping[str, Any]: ...

    @property
    def soft_delete(self) -> Mapping[str, str]: ...

    @property
    def include_deleted(self) -> bool: ...

    def meta(self, model: str) -> ModelMeta: ...

    def sql(self) -> SqlBuilder: ...

    def with_deleted_rows(self) -> ClientBase[RepositoryT]: ...

    def bulk_writer(self, meta: ModelMeta) -> BulkWriter: ...

    def reviving(self, meta: ModelMeta) -> str | None: ...

    def implicit_where(self, meta: ModelMeta) -> dict[str, Any] | None: ...

    def stamp(self, meta: ModelMeta, data: dict[str, Any]) -> None: ...

    def check_update(self, meta: ModelMeta, data: Mapping[str, Any]) -> None: ...

    def naming_constraints(self) -> AbstractContextManager[None]: ...

    def query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]: ...

    def execute(self, sql: str, params: Sequence[Any]) -> int: ...

    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int: ...
