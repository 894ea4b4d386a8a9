"""The dialect protocol: everything strata writes in SQL, and every stored-value encoding.

A dialect is one object per database kind (`strata.dialects.sqlite.SqliteDialect`), made of
one part per concern. Each part is a protocol below; the SQLite dialect implements each as a
module of `strata.dialects.sqlite` (a module satisfies a protocol of functions). The layers
above (the migrator, the client, the queue, the rate limiter, metrics) are handed a dialect
and reach the database only through it and the core handle: none of them spells SQL.

Names passed in are quoted already (the dialect's ``quote``) unless a parameter says
otherwise; SQL text passed in is text a function of the same part returned.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from strata.schema import ir
    from strata.schema.sql import Column, Index, Step, Table

__all__ = ["DdlDialect", "Dialect", "QueueDialect"]


# -- DDL ------------------------------------------------------------------------------------


class DdlDialect(Protocol):
    """Column types and defaults from the schema IR, and migration scripts in Prisma's
    layout."""

    def quote(self, identifier: str) -> str:
        """``identifier`` as a quoted SQL name."""

    def column_type(self, field: ir.ScalarField, schema: ir.Schema) -> str:
        """The SQL type of a field's column, spelled as introspection reads it back."""

    def column_default(self, field: ir.ScalarField, schema: ir.Schema) -> str | None:
        """The SQL after ``DEFAULT``, or None when the database has no default."""

    def autoincrement(self, model: ir.Model, field: ir.ScalarField) -> bool:
        """Whether the column is an auto-incrementing key."""

    def join_column_type(self, id_field: ir.ScalarField) -> str:
        """The type of a many-to-many join table column referencing ``id_field``."""

    def render_create_table(self, table: Table, name: str | None = None) -> str: ...

    def render_create_index(self, table: str, index: Index) -> str: ...

    def render_column(self, column: Column, table: Table) -> str: ...

    def render_script(self, steps: list[Step]) -> str:
        """A migration script in Prisma's layout: one ``-- StepName`` comment per step."""


# -- the queue --------------------------------------------------------------------------------


class QueueDialect(Protocol):
    """The job queue's statements, built once when a queue is bound (`strata.queue.binding`)
    and compiled by the core. The binding decides what goes in (which column plays which
    role, the states, the claim order); these say how it is written. Named parameters are
    the core's (``:now``, ``:expires``, ``:id``, ``:token``, ...) or the binding's."""

    def one_of(self, column: str, parameters: Sequence[str], *, null: bool) -> str: ...
    def all_of(self, conditions: Sequence[str]) -> str: ...
    def lease_passed(self, lease: str, form: str) -> str: ...
    def exhausted(self, attempts: str, *, final: bool) -> str: ...
    def assignment(self, column: str, value: str) -> str: ...
    def cleared(self, column: str) -> str: ...
    def bumped(self, column: str, step: int) -> str: ...
    def lease_extended(self, lease: str) -> str: ...
    def appended(self, column: str, parameter: str) -> str: ...
    def when(self, column: str, condition: str, then: str, otherwise: str) -> str: ...
    def retry_or_fail(
        self,
        condition: str,
        fields: Iterable[tuple[str, str, str]],
        lease: str,
        finished: tuple[str, str] | None,
    ) -> list[str]: ...
    def column_list(self, columns: Iterable[str]) -> str: ...
    def ready_sql(
        self, table: str, ready: str, lease: str, passed: str, order: Sequence[tuple[str, bool]]
    ) -> str: ...
    def claim_sql(
        self, table: str, assignments: Sequence[str], ready: str, returning: str, *, rowid: bool
    ) -> str: ...
    def recover_sql(
        self, table: str, assignments: Sequence[str], claimed: str, passed: str
    ) -> str: ...
    def why_sql(self, table: str, id_column: str, cancelled: str | None) -> str: ...
    def fenced_sql(
        self,
        table: str,
        assignments: Sequence[str],
        id_column: str,
        token: str,
        claimed: str,
        returning: str,
    ) -> str: ...
    def active_with_keys_sql(
        self,
        table: str,
        key: str,
        id_column: str,
        parameters: Iterable[str],
        ready: str,
        claimed: str,
    ) -> str: ...
    def cancel_sql(
        self, table: str, assignments: Sequence[str], id_column: str, ready: str, claimed: str
    ) -> str: ...
    def stats_sql(
        self,
        table: str,
        states: Iterable[str],
        ready: str,
        claimed: str,
        lease: str,
        passed: str,
        created: str | None,
    ) -> str: ...
    def purge_sql(self, table: str, states: Sequence[str], finished: str, batch: int) -> str: ...
    def plan_sql(self, statement: str) -> str: ...
    def plan_sorts(self, plan: Iterable[Sequence[object]]) -> bool: ...


# -- the client's queries (filled in with strata.dialects.sqlite.query) -----------------------

# -- stored values (filled in with strata.dialects.sqlite.codecs) -----------------------------

# -- introspection and migration history (strata.dialects.sqlite.introspect, .ddl) ----------

# -- the rate limiter (strata.dialects.sqlite.ratelimit) --------------------------------------

# -- metrics (strata.dialects.sqlite.metrics) ---------------------------------------------------


# -- the whole ----------------------------------------------------------------------------------


class Dialect(Protocol):
    """One database kind's SQL, part by part."""

    #: The Prisma provider name: ``"sqlite"``, ``"postgresql"``.
    @property
    def provider(self) -> str: ...
    @property
    def ddl(self) -> DdlDialect: ...
    @property
    def queue(self) -> QueueDialect: ...
