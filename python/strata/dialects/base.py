"""What a dialect provides. The schema IR and the migration differ call only these."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from strata.migrate.diff import Step
    from strata.migrate.sql_schema import Column, Index, Table
    from strata.schema import ir


class Dialect(Protocol):
    #: The Prisma provider name: ``"sqlite"``, ``"postgresql"``.
    provider: str

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
