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

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypedDict, overload

from strata._compat import NotRequired, StrEnum
from strata.dialects.shapes import PulledColumn, RowCopy, ScratchDatabase

if TYPE_CHECKING:
    from datetime import datetime

    from strata.dialects.values import Codec, DateTimeForm, DateTimeFormat, Encoder, FastPath
    from strata.schema import ir
    from strata.schema.sql import Column, Enum, Index, SqlSchema, Step, Table, TypeChange

#: A migration step with its sort key among steps of its kind (`strata.migrate.diff`).
KeyedStep = tuple[tuple[int, ...], "Step"]

__all__ = [
    "Bind",
    "BulkInsertSql",
    "CodecsDialect",
    "DdlDialect",
    "Dialect",
    "HealthDialect",
    "IntrospectionDialect",
    "KeyedStep",
    "MetricsDialect",
    "MetricsSourceSql",
    "MigrationsDialect",
    "PulledColumn",
    "QueryDialect",
    "Queryable",
    "QueueDialect",
    "RateLimitDialect",
    "RateLimitStatements",
    "RollupSql",
    "RowCopy",
    "ScratchDatabase",
]

#: Records a value as a statement's next parameter and returns its placeholder.
Bind = Callable[[Any], str]


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

    def not_null(self, field: ir.ScalarField) -> bool:
        """Whether the field's column is ``NOT NULL``."""

    def index_algorithm(self, index: ir.Index) -> str | None:
        """The index method after ``USING`` (``GIN``), or None for the default one."""

    def operator_class(self, column: ir.IndexColumn) -> str | None:
        """The operator class of an indexed column as SQL spells it, or None."""

    def enums(self, schema: ir.Schema) -> tuple[Enum, ...]:
        """The enum types the database holds for ``schema``: none where enums are stored
        as text."""

    def namespaces(self, schema: ir.Schema) -> tuple[str, ...]:
        """The database schemas (namespaces) ``schema`` lives in: none where the database
        has no such thing."""

    @property
    def join_table_primary_key(self) -> bool:
        """Whether a many-to-many join table gets a primary key on (A, B) rather than a
        unique index."""

    @property
    def separate_foreign_keys(self) -> bool:
        """Whether foreign keys are added by their own steps after the tables are created
        (and dropped by their own steps) rather than written inside ``CREATE TABLE``."""

    @property
    def renames_keys(self) -> bool:
        """Whether the database keeps primary and foreign key names, so that a key whose name
        alone changes is renamed rather than left as it is (or dropped and added again)."""

    def type_change(self, before: Column, after: Column) -> TypeChange | None:
        """How a column's data fares when its type changes from ``before``'s to ``after``'s
        in place (Prisma's grading for the database); None when the types are the same."""

    def alters_in_place(self, before: Table, after: Table) -> bool:
        """Whether ``ALTER TABLE`` statements can turn ``before`` into ``after``; if not,
        the differ redefines the table."""

    def order_steps(self, steps: list[KeyedStep]) -> list[Step]:
        """``steps`` in the order the database's migration scripts run them (Prisma's):
        each comes with where Prisma sorts it among steps of its kind (`strata.migrate.diff`
        says how that is found)."""

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

    #: Whether the claim statement returns its rows in the queue's order (else the core
    #: sorts them, by the rowid `claim_sql` appends when the queue has no order).
    claims_in_order: bool

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
        self,
        table: str,
        ready: str,
        lease: str,
        passed: str,
        order: Sequence[tuple[str, bool]],
        *,
        id_column: str,
    ) -> str: ...
    def claim_sql(
        self,
        table: str,
        assignments: Sequence[str],
        ready: str,
        returning: str,
        *,
        rowid: bool,
        id_column: str,
        order: Sequence[tuple[str, bool]],
    ) -> str: ...
    def recover_sql(
        self, table: str, assignments: Sequence[str], claimed: str, passed: str, *, id_column: str
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
    def fenced_many_sql(
        self,
        table: str,
        assignments: Sequence[str],
        id_column: str,
        token: str,
        claimed: str,
        returning: str,
    ) -> str | None:
        """`fenced_sql` for the claims in the arrays ``:ids`` and ``:tokens`` at once, or
        None where the core runs `fenced_sql` per claim."""

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
    def purge_sql(
        self, table: str, states: Sequence[str], finished: str, batch: int, *, id_column: str
    ) -> str: ...
    def plan_setup_sql(self) -> list[str]:
        """Statements run before `plan_sql`, in the same transaction."""

    def plan_sql(self, statement: str) -> str: ...
    def plan_sorts(self, plan: Iterable[Sequence[object]]) -> bool: ...
    def changes_sql(self) -> str | None:
        """What an idle worker polls to learn that another connection committed: one row,
        one integer that changes when the database does; None where waiters are notified
        instead (`listen_sql`)."""

    def listen_sql(self, table: str) -> str | None:
        """What a waiting worker runs once on a connection of its own to be notified of
        enqueues to ``table`` (unquoted), or None where it polls `changes_sql`."""

    def notify_sql(self, table: str) -> str | None:
        """Run inside an enqueue's transaction to wake the listeners when it commits, or
        None."""

    def unique_lock_sql(self, table: str) -> str | None:
        """Run first in an enqueue that checks unique keys, to serialise such enqueues on
        ``table`` until the transaction ends; None where the transaction's own lock does."""


# -- the client's queries (filled in with strata.dialects.sqlite.query) -----------------------


class QueryDialect(Protocol):
    """The typed client's statements and the conditions, expressions and clauses they are
    made of (`strata.client`): the client decides what a read selects, what each filter
    means and the order of nested writes; these say how it is written. Values are
    positional parameters (`placeholder` is told each one's position, for databases that
    number them); a function taking ``bind`` (records a value, returns its placeholder)
    binds in the order the values appear in the SQL it returns, for those that do not."""

    #: Whether `upsert_sql` is the race-free upsert the client uses where the call allows
    #: it (`strata.client.repository.Repository.upsert`); where not, an upsert reads and
    #: then writes inside a transaction that already holds the database's write lock.
    native_upsert: bool

    # names and parameters
    def quote(self, identifier: str) -> str: ...
    def qualified(self, alias: str, column: str) -> str: ...
    def row_id(self, alias: str, key: Sequence[str]) -> str:
        """What finds a row of the table aliased ``alias`` again within one transaction;
        ``key`` is the table's primary key columns (quoted), for databases without a row
        id of their own."""

    def placeholder(self, index: int) -> str:
        """The statement's ``index``-th positional parameter (from 1)."""

    def table_as(self, table: str, alias: str) -> str: ...
    def joined(self, left: str, right: str, on: str) -> str: ...

    # conditions
    def always(self) -> str: ...
    def never(self) -> str: ...
    def all_of(self, conditions: Sequence[str]) -> str: ...
    def any_of(self, conditions: Sequence[str]) -> str: ...
    def negated(self, condition: str) -> str: ...
    def grouped(self, condition: str) -> str: ...
    def not_true(self, condition: str) -> str: ...
    def is_null(self, expression: str) -> str: ...
    def is_not_null(self, expression: str) -> str: ...
    def compare(self, left: str, operator: str, right: str) -> str: ...
    def in_list(self, expression: str, values: Sequence[str], *, negated: bool = False) -> str: ...
    def keys_in(self, columns: Sequence[str], keys: Sequence[Sequence[str]]) -> str:
        """``columns`` (qualified) equal to one of ``keys``, each key's values given as
        expressions (placeholders) in column order."""

    def lower(self, expression: str) -> str: ...
    def string_match(
        self, column: str, operator: str, text: str, bind: Bind, *, insensitive: bool
    ) -> str: ...
    def json_match(
        self, column: str, path: Sequence[str | int], operator: str, operand: Any, bind: Bind
    ) -> str:
        """Json ``column`` tested at ``path`` (keys and array indices) with ``operator``
        (``equals``, ``is_null``, ``string_contains``, ``string_starts_with``,
        ``string_ends_with``, ``array_contains``, ``array_starts_with``,
        ``array_ends_with``) against ``operand`` (a JSON-serialisable value, checked), with
        the semantics `strata.client.where` documents: NULL (unknown) on a NULL column or a
        path that leads nowhere, except ``is_null``."""

    def list_empty(self, column: str, empty: bool) -> str: ...
    def list_overlaps(
        self, column: str, given: Callable[[], str], *, every: bool, by_text: bool
    ) -> str: ...

    # row sets and subqueries
    def rows(self, source: str, condition: str) -> str: ...
    def narrowed(self, rows: str, condition: str) -> str: ...
    def exists(self, rows: str) -> str: ...
    def count_rows(self, rows: str) -> str: ...
    def value_of(self, expression: str, rows: str) -> str: ...

    # ordering, paging, aggregates
    def order_term(self, expression: str, direction: str, nulls: str | None = None) -> str: ...
    def pagination(self, limit: int | None, offset: int, bind: Bind) -> str: ...
    def count_all(self) -> str: ...
    def aggregate(self, function: str, expression: str) -> str: ...
    def collected(self, column: str) -> str: ...

    # statements
    def select_sql(
        self,
        columns: Sequence[str],
        table: str,
        alias: str,
        condition: str,
        *,
        group_by: Sequence[str] = (),
        having: str | None = None,
        order_by: Sequence[str] = (),
        limit: int | None = None,
        window: str | None = None,
    ) -> str: ...
    def exists_sql(self, table: str, alias: str, condition: str) -> str: ...
    def locking(self, select: str) -> str:
        """``select`` (a `select_sql` without grouping) locking the rows it reads against
        other writers until the transaction ends, for a read-modify-write; as it is where
        a write transaction already keeps every other writer out."""

    def count_sql(self, table: str, alias: str, condition: str) -> str: ...
    def load_sql(
        self,
        columns: Sequence[str],
        source: str,
        condition: str,
        order_by: Sequence[str],
        *,
        partition: Sequence[str] = (),
        skip: str | None = None,
        take: str | None = None,
    ) -> str: ...
    def insert_sql(
        self, table: str, columns: Sequence[str], returning: Sequence[str] = ()
    ) -> str: ...
    def upsert_sql(
        self,
        table: str,
        alias: str,
        columns: Sequence[str],
        conflict: Sequence[str],
        assignments: Sequence[str],
        returning: Sequence[str],
    ) -> str:
        """One statement that inserts a row (``columns``: parameters 1 to n) or, when a row
        holding the same ``conflict`` columns (a unique key) exists, applies
        ``assignments`` to it (their expressions read the stored row as ``alias``); either
        way returning the row's ``returning`` columns. Only where `native_upsert`."""

    def link_sql(self, table: str, source: str, target: str) -> str: ...
    def update_sql(
        self,
        table: str,
        alias: str,
        assignments: Sequence[str],
        condition: str,
        returning: Sequence[str] = (),
    ) -> str: ...
    def delete_sql(
        self, table: str, alias: str | None, condition: str, returning: Sequence[str] = ()
    ) -> str: ...

    # assignments
    def assignment(self, column: str, value: str) -> str: ...
    def null(self) -> str: ...
    def first_non_null(self, expression: str, otherwise: str) -> str: ...
    def arithmetic(self, column: str, operation: str, operand: str) -> str: ...
    def list_appended(self, column: str, array: Callable[[], str], count: int) -> str: ...

    # DateTime forms (`strata.client.datetimes`; a form as `strata.dialects.values` names it),
    # for a database without a date-time type; one with (`CodecsDialect.native_datetime`) is
    # never asked and raises `ConfigurationError`
    def instant_sql(self, column: str) -> str: ...
    def census_sql(self, table: str, column: str, forms: Sequence[str], otherwise: str) -> str: ...
    def first_form_sql(
        self, table: str, column: str, forms: Sequence[str], otherwise: str
    ) -> str: ...
    def foreign_value_sql(self, table: str, column: str, form: str) -> str: ...
    def rewrite_batch_sql(self, table: str, column: str, target: str) -> str: ...
    def rewrite_update_sql(self, table: str, column: str) -> str: ...


# -- stored values (strata.dialects.sqlite.codecs) -------------------------------------------


class CodecsDialect(Protocol):
    """How each kind of field is stored: the `strata.dialects.values.Codec` of every scalar
    field the client reads and writes, and the DateTime forms (named as
    `strata.dialects.values.DateTimeFormat` names them) written one by one, for a DateTime
    column whose form the client detects (`strata.client.datetimes`)."""

    def build_codecs(
        self,
        model: ir.Model,
        enums: Mapping[str, tuple[ir.Enum, type[StrEnum]]],
        datetime_format: DateTimeFormat,
    ) -> dict[str, Codec]:
        """A codec for every scalar field of ``model`` that the client reads and writes;
        ``enums`` gives each enum's IR and Python class, ``datetime_format`` the form
        DateTime values are written in."""

    #: Whether DateTime columns have the database's own date-time type (one form,
    #: `strata.dialects.values.NATIVE_DATETIME`, nothing to detect), rather than text or
    #: integer forms the client detects per column (`strata.client.datetimes`).
    native_datetime: bool

    def datetime_writer(self, form: DateTimeForm) -> Encoder:
        """The encoder of ``form``: an aware datetime in, the stored value out."""

    def datetime_fast_path(self, form: DateTimeForm) -> FastPath:
        """How the core writes ``form`` itself in bulk inserts."""


# -- introspection and migrations (strata.dialects.sqlite.introspect, .migrations) ----------


class Queryable(Protocol):
    """What introspection reads through: the core handle's raw queries
    (`strata.engine.Engine`), which the migrator passes in."""

    @overload
    def query_raw_(
        self, sql: str, *params: str, as_tuples: Literal[False] = False
    ) -> list[dict[str, Any]]: ...
    @overload
    def query_raw_(
        self, sql: str, *params: str, as_tuples: Literal[True]
    ) -> list[tuple[Any, ...]]: ...


class IntrospectionDialect(Protocol):
    """Reading a live database's tables back into `strata.schema.sql` shapes, spelled as
    the DDL part spells them (so that a database built from a schema compares equal to
    it)."""

    def introspect(self, engine: Queryable, namespaces: tuple[str, ...] = ()) -> SqlSchema:
        """The tables of the database ``engine`` reaches, without the database's own and
        the migration history table. ``namespaces`` are the database schemas to read (a
        datasource's ``schemas``), for databases that have them; none means the
        connection's own, read without namespaces."""

    def pulled(self, column: Column) -> PulledColumn:
        """How ``strata db pull`` writes ``column`` as a Prisma field, such that the DDL
        part renders that field back as the same column."""


class MigrationsDialect(Protocol):
    """The migrator's statements: Prisma's migration history table, what the runner
    wraps a script in (`strata.migrate.runner`), the lock that keeps migrators apart, and
    the reads behind ``migrate reset`` and the data-loss warnings."""

    def scratch_database(
        self,
        url: str | None,
        *,
        template: str | None = None,
        prefix: str = "prisma_migrate_shadow_db",
    ) -> ScratchDatabase:
        """A throwaway database beside the one at ``url`` (None: no database at hand), for
        the shadow database of ``migrate dev``; on a server, named ``prefix`` and a UUID and,
        given ``template``, a copy of that database (`strata.testing`'s per-test
        databases). SQLite copies files, and refuses ``template``."""

    def namespace_sql(self, url: str) -> str | None:
        """Creates the database schema ``url`` names when it is missing, as Prisma's
        schema engine does on connecting; None where a database has no such thing."""

    def lock_sql(self) -> tuple[str, str] | None:
        """The statements that take and release the lock that keeps two migrators apart,
        run on a connection of their own; None where each migration's write transaction
        is that lock."""

    def seed_url(self, url: str, path: str) -> str:
        """The URL a child process (the seed command) opens the database with, from the
        engine's ``url_`` and ``path_``."""

    # the history table
    def history_table_sql(self) -> str: ...
    def history_exists_sql(self) -> str: ...
    def read_history_sql(self) -> str: ...
    def record_start_sql(self) -> str: ...
    def record_finish_sql(self) -> str: ...
    def record_failure_sql(self) -> str: ...
    def record_rolled_back_sql(self) -> str: ...
    def history_time(self, moment: datetime) -> int | str | datetime:
        """``moment`` as the history table stores it."""

    # running a script
    def split_statements(self, script: str) -> Iterator[str]:
        """A migration script's statements, without comments."""

    def turns_foreign_keys_off(self, statement: str) -> bool: ...
    def handled_around_script(self, statement: str) -> bool:
        """Whether the runner handles ``statement`` around the script's transaction (or
        that transaction is what it asks for) rather than running it inside."""

    def foreign_keys_sql(self, *, enabled: bool) -> str | None:
        """Switches foreign key enforcement (outside a transaction); None where it is
        never switched off."""

    def foreign_key_check_sql(self) -> str:
        """One row per violation: table, row key, parent table, key number."""

    def read_secure_delete_sql(self) -> str | None:
        """One row: the secure_delete setting; None where there is no such setting, and
        the other two are never asked."""

    def fast_secure_delete_sql(self) -> str: ...
    def restore_secure_delete_sql(self, previous: int) -> str: ...
    def row_copy(self, statement: str) -> RowCopy | None: ...

    # reset and the data-loss warnings
    def schema_objects_sql(self, namespaces: Sequence[str] = ()) -> str:
        """One row per object ``migrate reset`` drops: kind, unquoted name. ``namespaces``
        are the database schemas the Prisma schema declares (multiSchema)."""

    def drop_sql(self, kind: str, name: str) -> str:
        """The statements (a script) that drop an object `schema_objects_sql` gave."""

    def table_exists_sql(self, namespace: str | None) -> str:
        """A row when the table the one parameter names (unquoted) exists, in
        ``namespace`` (a multiSchema table's schema) or where tables are created."""

    def table_name(self, name: str, namespace: str | None) -> str:
        """The quoted name of table ``name``, in ``namespace`` when it has one."""

    def count_sql(self, table: str, condition: str | None = None) -> str: ...
    def is_null(self, column: str) -> str: ...
    def is_not_null(self, column: str) -> str: ...


# -- the rate limiter (strata.dialects.sqlite.ratelimit) --------------------------------------


class RateLimitStatements(TypedDict):
    """A rate limiter's statements, compiled by the core (rust/ratelimit) when it is bound.
    Parameters are positional, in the order each statement's docstring gives. PostgreSQL's
    hit is one statement on the server's clock, with its own parameters and result
    (`strata.dialects.postgresql.ratelimit` lists them)."""

    #: The key's state: its newest two ``(window start, count)`` rows, newest first
    #: (windows), or its ``(tat)`` row (gcra). Parameters: the key values.
    state: str
    #: The conditional upsert. Parameters: the id (when the client makes ids), the key
    #: values, the stored values (window start and cost, or the new arrival time), the
    #: created and then updated stamps, and the guard (the bound the count may reach, or
    #: the arrival time the decision was made from, NULL for none). Returns the stored
    #: count or arrival time; no row when the guard refused the update.
    upsert: str
    #: Deletes every row of a key. Parameters: the key values.
    delete_key: str
    #: Deletes at most a batch of rows older than a bound. Parameters: the bound, the batch.
    cleanup: str
    #: The ``rule=`` config row's limit and window (seconds), or None without a config
    #: model. Parameter: the rule's name.
    rule: str | None
    #: A hit with a given limit in one statement that counts it only when allowed (gcra,
    #: or a fixed window; `strata.dialects.sqlite.ratelimit` gives the parameters), and
    #: the same for a sliding window; None where ``upsert`` is already the whole hit
    #: (PostgreSQL).
    hit: str | None
    hit_sliding: str | None


class RateLimitDialect(Protocol):
    """The rate limiter's statements, written once when `strata.ratelimit.bind` binds a
    model. The binding decides the columns (all quoted): the key, what the shape stores,
    the id the client makes (or None), the ``created`` and ``updated`` columns stamped
    with the time (``updated`` on every update too), the unique constraint the upsert
    conflicts on, and ``config``, the ``rule=`` model's (table, key, value) or None."""

    def window_statements(
        self,
        table: str,
        keys: Sequence[str],
        conflict: Sequence[str],
        *,
        count: str,
        window_start: str,
        id: str | None,
        created: Sequence[str],
        updated: Sequence[str],
        config: tuple[str, str, str] | None,
        count_optional: bool = False,
    ) -> RateLimitStatements:
        """Fixed and sliding windows: a row per key and window holding a count.
        ``count_optional``: the count column may hold NULL (an optional field), which a
        dialect whose hit relies on its NOT NULL must allow for."""

    def gcra_statements(
        self,
        table: str,
        keys: Sequence[str],
        conflict: Sequence[str],
        *,
        tat: str,
        id: str | None,
        created: Sequence[str],
        updated: Sequence[str],
        config: tuple[str, str, str] | None,
        tat_optional: bool = False,
    ) -> RateLimitStatements:
        """gcra: a row per key holding its theoretical arrival time (``tat_optional``: as
        ``count_optional``)."""


# -- metrics (strata.dialects.sqlite.metrics) ---------------------------------------------------


class BulkInsertSql(TypedDict):
    """The pieces of the bulk writer's multi-row inserts into one table (rust/bulk.rs),
    which the core assembles per batch for the columns the rows give:
    ``head + names joined by column_separator + values + row_tuples[width] repeated and
    joined by row_separator``, then ``skip_duplicates`` and ``returning_rowid`` as asked.
    PostgreSQL's row tuples mark each parameter with a bare ``$``, which the core numbers
    (``$1``, ``$2``...) across the statement.
    A row that gives no column is ``default_values`` (plus ``returning_rowid``)."""

    head: str
    #: The quoted columns a run of rows may give, which the core picks from.
    columns: list[str]
    column_separator: str
    values: str
    #: ``row_tuples[n]`` is one row of ``n`` positional parameters.
    row_tuples: list[str]
    row_separator: str
    skip_duplicates: str
    returning_rowid: str
    default_values: str
    #: PostgreSQL's binary COPY around the column list: ``copy_head + names joined by
    #: column_separator + copy_tail``; absent where the database has no COPY (the core
    #: then inserts).
    copy_head: NotRequired[str]
    copy_tail: NotRequired[str]


class MetricsSourceSql(TypedDict):
    """How the core's aggregation (rust/metrics.rs) reads a metric model: the statement
    that streams its rows in ``(series, time)`` order (series, time, then the values'
    columns) is ``head + condition + tail``, the condition on the table aliased ``t0``."""

    head: str
    tail: str
    #: The condition that keeps every row (a rollup's first run).
    all_rows: str
    #: The condition that keeps rows from a time on (a rollup from its watermark); one
    #: parameter, the time in the column's stored form.
    since: str
    #: Ends the same statement without its ``ORDER BY``: the core reads the table in its own
    #: order when the statistics need none (no percentile) and groups in a hash map, which
    #: spares the index walk a lookup per row. Absent: the ordered statement always.
    unordered_tail: NotRequired[str]


class RollupSql(TypedDict):
    """Where a rollup writes (rust/metrics.rs `rollup`; on PostgreSQL rust/metrics/pg.rs)."""

    #: The latest bucket the rollup holds: one row, one value (NULL when empty).
    watermark: str
    #: Deletes the buckets from a start on; one parameter, the start in the bucket's form.
    delete_from: str
    #: The rows: series, bucket, then one column per statistic (SQLite's bulk writer).
    insert: NotRequired[BulkInsertSql]
    #: PostgreSQL writes a batch of rows in one statement whose one parameter is a JSON
    #: array of rows, each an array of the same columns in the same order.
    insert_json: NotRequired[str]
    #: PostgreSQL reads the source through a cursor between writes, on one connection:
    #: ``declare`` followed by the source's select opens it, ``fetch`` reads the next
    #: batch (empty at the end), ``close`` closes it.
    declare: NotRequired[str]
    fetch: NotRequired[str]
    close: NotRequired[str]
    #: PostgreSQL takes this lock first, so that rollups into one table from several
    #: processes run one after another, as SQLite's write lock makes them.
    lock: NotRequired[str]


class MetricsDialect(Protocol):
    """The statements of metrics (`strata.metrics`), of the bulk writer behind ingest and
    ``create_many`` (`strata.client.bulk`), of the Arrow export behind analytics and of the
    health checks. Statements are built when a model is bound; the core runs them."""

    #: Rows per transaction of ``Metrics.ingest`` when the caller gives no ``chunk_rows``.
    ingest_chunk_rows: int

    def source_sql(
        self, table: str, series: str, time: str, values: Sequence[str]
    ) -> MetricsSourceSql: ...

    def rollup_sql(
        self, table: str, series: str, bucket: str, columns: Sequence[str]
    ) -> RollupSql: ...

    def bulk_insert(
        self, table: str, columns: Sequence[str], key: Sequence[str] = ()
    ) -> BulkInsertSql:
        """``key``: the table's primary key columns, which ``returning_rowid`` returns
        where the database has no rowid (PostgreSQL, a single-column key)."""

    def watermark_sql(self, table: str, bucket: str) -> str:
        """The latest value of ``bucket`` in ``table``: one row, one value."""

    def retain_batch_sql(self, table: str, time: str) -> str:
        """Deletes at most a batch of rows whose ``time`` is before a bound. Parameters:
        the bound, the batch size."""

    def export_sql(self, table: str, columns: Sequence[str], condition: str) -> str:
        """The rows of ``columns`` of ``table`` (aliased ``t0``) that meet ``condition``,
        for the core's Arrow export."""

    def ping_sql(self) -> str:
        """The cheapest statement that round-trips to the database."""

    def row_count_sql(self, table: str) -> str:
        """The number of rows of ``table``: one row, one value."""

    def export_kind(self, field: ir.ScalarField) -> str:
        """The Arrow type the core exports ``field``'s values as (`strata._core.ArrowStream`):
        ``int64``, ``float64``, ``bool``, ``utf8``, ``binary``, ``timestamp`` (ms, UTC),
        ``timestamp_us`` or ``decimal128(p,s)``."""


# -- the whole ----------------------------------------------------------------------------------


class HealthDialect(Protocol):
    """``db.health_()``, ``db.stats_()`` and ``strata doctor``: the ping, the server's
    version (SQLite's library version on SQLite) and row counts."""

    def ping_sql(self) -> str: ...
    def server_version_sql(self) -> str: ...
    def row_count_sql(self, table: str) -> str: ...


class Dialect(Protocol):
    """One database kind's SQL, part by part."""

    #: The Prisma provider name: ``"sqlite"``, ``"postgresql"``.
    @property
    def provider(self) -> str: ...
    @property
    def ddl(self) -> DdlDialect: ...
    @property
    def introspection(self) -> IntrospectionDialect: ...
    @property
    def migrations(self) -> MigrationsDialect: ...
    @property
    def queue(self) -> QueueDialect: ...
    @property
    def query(self) -> QueryDialect: ...
    @property
    def ratelimit(self) -> RateLimitDialect: ...
    @property
    def metrics(self) -> MetricsDialect: ...
    @property
    def codecs(self) -> CodecsDialect: ...
    @property
    def health(self) -> HealthDialect: ...
