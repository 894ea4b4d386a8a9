"""Prisma's migration commands: dev, deploy, status, reset, resolve, diff, db push, db seed.

`Migrator` holds what every command needs (the database's core handle, its dialect, the
schema file, the migrations folder) and each method is one command. It reaches the database
only through the handle (`strata.engine.Engine`), and every statement it runs is the
dialect's. The ``strata`` CLI is a thin layer over it; from Python, ``db.migrate_`` gives
one.

How ``dev`` decides what to write, as Prisma's schema engine does:

1. replay the migrations folder into a *shadow* database (in memory on SQLite, a database
   created and dropped on the server on PostgreSQL) and read its tables;
2. compare them with the live database: a difference is *drift*, and nothing is written;
3. compare them with the tables the schema calls for: the difference is the new migration.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from strata.config import default_url, project_settings, resolve
from strata.dialects import Dialect, dialect_for, dialect_for_url, provider_for_url
from strata.engine import Engine
from strata.errors import ConfigurationError, MigrationError, StrataError
from strata.migrate import history
from strata.migrate.diff import diff
from strata.migrate.pull import pull
from strata.migrate.runner import ProgressCallback, apply_script, script_transaction
from strata.migrate.sql_schema import calculate
from strata.migrate.warnings import DataCounts, data_loss_warnings, render_warnings
from strata.schema import ir, load_schema_file
from strata.schema.parser import parse_file
from strata.schema.sql import (
    AlterTable,
    CreateIndex,
    DropTable,
    RedefineTable,
    RenameForeignKey,
    SqlSchema,
    Step,
    Table,
)

__all__ = ["Migrator", "Status", "execute_script", "find_schema", "project_url"]

_log = logging.getLogger("strata.migrate")


def find_schema(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The schema file: ``explicit``, else ``[tool.strata] schema``, else ``./schema.prisma``,
    else ``./prisma/schema.prisma`` (Prisma's lookup order)."""
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigurationError(f"no schema file at {path}")
        return path
    settings, folder = project_settings()
    configured = settings.get("schema")
    if isinstance(configured, str):
        return find_schema(folder / configured)
    for candidate in (Path("schema.prisma"), Path("prisma/schema.prisma")):
        if candidate.is_file():
            return candidate
    raise ConfigurationError(
        "no schema file: pass --schema PATH, set schema under [tool.strata] in "
        "pyproject.toml, or create ./schema.prisma or ./prisma/schema.prisma"
    )


def project_url(schema_file: Path) -> str:
    """Where the database a schema belongs to is, looking for its URL as Prisma does:
    ``DATABASE_URL``, then the schema's datasource ``url`` (a literal, or ``env("NAME")``),
    then ``url`` under ``[tool.strata]``. A relative SQLite path is relative to the schema
    file's folder, except in pyproject.toml, where it is relative to that file."""
    base = schema_file.resolve().parent
    url = os.environ.get("DATABASE_URL")
    if not url:
        declared = load_schema_file(schema_file).url
        if declared and declared.startswith("env:"):
            url = os.environ.get(declared.removeprefix("env:"))
        elif declared:
            url = declared
    if not url:
        found = default_url()
        if found is None:
            raise ConfigurationError(
                "no database URL: set DATABASE_URL, give the datasource a url, or set url "
                "under [tool.strata] in pyproject.toml"
            )
        url, base = found
    return resolve(url, base).path


@dataclass
class Status:
    """What ``migrate status`` reports."""

    local: list[str]
    applied: list[str]
    pending: list[str]
    failed: list[str]
    #: Applied migrations whose migration.sql changed since.
    edited: list[str]
    #: Applied migrations with no folder any more.
    missing: list[str]

    @property
    def up_to_date(self) -> bool:
        return not (self.pending or self.failed or self.edited or self.missing)


@dataclass
class DevResult:
    migration: str | None
    script: str
    warnings: list[str] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)


class Migrator:
    """Prisma's migration commands on the database ``engine`` reaches, in ``dialect``: by
    default the one ``engine``'s URL names. Not the schema's datasource provider: strata
    runs a schema on the database it is given whatever provider the schema names (a
    ``postgresql`` schema is pushed to SQLite)."""

    def __init__(
        self,
        engine: Engine,
        schema: str | os.PathLike[str] | None = None,
        migrations: str | os.PathLike[str] | None = None,
        progress: ProgressCallback | None = None,
        dialect: Dialect | None = None,
    ) -> None:
        self.engine = engine
        self._schema_arg = schema
        self._migrations_arg = migrations
        self.progress = progress
        self.dialect = dialect or dialect_for_url(engine.url_)
        self.history = history.History(engine, self.dialect.migrations)
        self._lock_depth = 0

    # -- locations ---------------------------------------------------------------------------

    @property
    def schema_path(self) -> Path:
        return find_schema(self._schema_arg)

    @property
    def migrations_dir(self) -> Path:
        if self._migrations_arg is not None:
            return Path(self._migrations_arg)
        return self.schema_path.parent / "migrations"

    def load_schema(self) -> ir.Schema:
        return load_schema_file(self.schema_path)

    def target(self) -> SqlSchema:
        """The tables the schema calls for, on this database."""
        return calculate(self._schema_for_this_database(), self.dialect.ddl)

    def _schema_for_this_database(self) -> ir.Schema:
        """The schema, refused when its datasource names another database than the one
        the migrator works on: its tables would be spelled for the wrong database."""
        schema = self.load_schema()
        database = provider_for_url(self.engine.url_)
        if schema.provider != database:
            schemes = {"postgresql": "postgresql:// or postgres://", "sqlite": "file:"}
            raise ConfigurationError(
                f"the schema's datasource provider is {schema.provider!r}, but "
                f"{self.engine.path_} is a {database} database: the URL must "
                f"start with {schemes.get(schema.provider, schema.provider)} (or change the "
                "provider)"
            )
        return schema

    # -- around the commands -------------------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the dialect's migration lock for the block (Prisma's advisory lock on
        PostgreSQL), on a connection of its own; a command inside another holds it
        already. Without such a lock (SQLite) each migration's write transaction keeps
        migrators apart."""
        lock = self.dialect.migrations.lock_sql()
        if lock is None or self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        take, release = lock
        with Engine.open_(self.engine.url_, readers=1) as holder:
            try:
                holder.execute_script_(take)
            except StrataError as exc:
                raise MigrationError(
                    f"Could not take the migration lock ({take.splitlines()[-1]}), which "
                    f"another migration command (strata's or Prisma's) holds: {exc}"
                ) from exc
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
                holder.execute_raw_(release)

    def _ensure_namespace(self, engine: Engine) -> None:
        """Create the database schema the URL names when it is missing, as Prisma does."""
        statement = self.dialect.migrations.namespace_sql(engine.url_)
        if statement is not None:
            engine.execute_raw_(statement)

    # -- commands ----------------------------------------------------------------------------

    def live(self) -> SqlSchema:
        """The tables the database holds now, as the schema sees them (see `_read`)."""
        return self._read(self.engine)

    def _read(self, engine: Engine) -> SqlSchema:
        """What introspection reads on ``engine``, as Prisma compares it with a schema: in
        the schema's own database schemas when it declares them (``schemas = [...]``),
        else in the connection's; and extensions only where the schema manages them (the
        ``postgresqlExtensions`` preview feature), so that one installed by hand is not
        drift."""
        try:
            schema: ir.Schema | None = self.load_schema()
        except ConfigurationError:  # no schema file: a migrations folder alone
            schema = None
        namespaces = () if schema is None else schema.db_schemas
        tables = self.dialect.introspection.introspect(engine, namespaces)
        if schema is None or "postgresqlExtensions" not in schema.preview_features:
            tables = replace(tables, extensions=())
        return tables

    def pull(self) -> str:
        """The schema file's text rewritten to describe what the database holds, keeping
        what still matches it (``strata db pull``, see `strata.migrate.pull`)."""
        tree = parse_file(self.schema_path)
        schema = self._schema_for_this_database()
        return pull(self.live(), self.dialect, (tree, schema, calculate(schema, self.dialect.ddl)))

    def status(self) -> Status:
        local = history.list_local(self.migrations_dir)
        applied_rows = self.history.read_applied()
        local_names = [m.name for m in local]
        checksums = {m.name: m.checksum for m in local}
        applied = [r.name for r in applied_rows if r.applied]
        failed = [r.name for r in applied_rows if r.failed]
        edited = [
            r.name
            for r in applied_rows
            if r.applied and checksums.get(r.name, r.checksum) != r.checksum
        ]
        missing = [name for name in applied if name not in checksums]
        done = set(applied) | set(failed)
        pending = [name for name in local_names if name not in done]
        return Status(local_names, applied, pending, failed, edited, missing)

    def deploy(self) -> list[str]:
        """Apply every pending migration, each in its own transaction, under the migration
        lock. Stops at the first failure, which is recorded in ``_prisma_migrations``."""
        history.check_lock(self.migrations_dir, self.dialect.provider)
        with self.locked():
            return self._deploy()

    def _deploy(self) -> list[str]:
        self._ensure_namespace(self.engine)
        state = self.status()
        if state.failed:
            raise MigrationError(
                f"The `{state.failed[0]}` migration failed earlier, so no migration was "
                "applied. Fix the database, then mark it with `strata migrate resolve "
                f"--rolled-back {state.failed[0]}` (or `--applied` if you finished it by hand)."
            )
        self.history.ensure_table()
        applied = []
        for migration in history.list_local(self.migrations_dir):
            if migration.name in state.pending and self._apply(migration):
                applied.append(migration.name)
        return applied

    def _apply(self, migration: history.LocalMigration) -> bool:
        """Apply one migration, recording it in the history in the same write transaction;
        False when another deployer applied it while this one waited for the write lock
        (two `deploy` processes started together apply each migration once)."""
        failure = None
        with script_transaction(self.engine, migration.script, self.dialect.migrations) as run:
            if migration.name in self.history.finished_names():
                return False
            row_id = self.history.record_start(migration)
            try:
                run(self.progress)
            except MigrationError as exc:
                # The script's savepoint is rolled back; the failure is recorded and kept.
                self.history.record_failure(row_id, str(exc))
                failure = exc
            else:
                self.history.record_finish(row_id)
        if failure is not None:
            _log.error("migration %s failed and was rolled back: %s", migration.name, failure)
            raise MigrationError(
                f"Migration `{migration.name}` failed and was rolled back; the database is "
                f"as it was before it.\n{failure}"
            ) from failure
        _log.info("applied migration %s to %s", migration.name, self.engine.url_)
        return True

    def shadow(self) -> SqlSchema:
        """The tables the migration history builds, replayed into a throwaway database
        (`strata.dialects.base.ScratchDatabase`) beside this one."""
        scratch = self.dialect.migrations.scratch_database(self.engine.url_)
        if scratch.create_sql is not None:
            self.engine.execute_raw_(scratch.create_sql)
        try:
            with Engine.open_(scratch.url) as shadow:
                self._ensure_namespace(shadow)
                for migration in history.list_local(self.migrations_dir):
                    try:
                        apply_script(shadow, migration.script, dialect=self.dialect.migrations)
                    except MigrationError as exc:
                        raise MigrationError(
                            f"Migration `{migration.name}` failed to apply cleanly to the "
                            f"shadow database.\n{exc}"
                        ) from exc
                return self._read(shadow)
        finally:
            if scratch.drop_sql is not None:
                self.engine.execute_raw_(scratch.drop_sql)

    def dev(self, name: str, *, create_only: bool = False) -> DevResult:
        """Apply pending migrations, then create (and apply) one for the schema's changes."""
        history.check_lock(self.migrations_dir, self.dialect.provider)
        with self.locked():
            return self._dev(name, create_only=create_only)

    def _dev(self, name: str, *, create_only: bool) -> DevResult:
        state = self.status()
        if state.failed or state.edited or state.missing:
            problem = (
                f"the migration `{state.failed[0]}` failed"
                if state.failed
                else f"the migration `{state.edited[0]}` was modified after it was applied"
                if state.edited
                else f"the migration `{state.missing[0]}` was applied but is missing locally"
            )
            raise MigrationError(
                f"Cannot create a migration: {problem}. Run `strata migrate reset` to start "
                "the development database over, or `strata migrate resolve`."
            )
        target = self.target()
        shadow = self.shadow()
        applied = [] if create_only else self.deploy()
        live = self.live()
        if not create_only:
            drift = diff(shadow, live, self.dialect.ddl)
            if drift:
                summary = "\n".join(f"  - {describe(step)}" for step in drift)
                raise MigrationError(
                    "Drift detected: your database schema is not in sync with your migration "
                    f"history.\n{summary}\nRun `strata migrate reset` to recreate the database "
                    "from the history (all data will be lost)."
                )
        steps = diff(shadow, target, self.dialect.ddl)
        if not steps:
            return DevResult(None, "", applied=applied)
        warnings, unexecutable = self.warnings(steps)
        # The header is Prisma's whatever the data: the migration runs on other databases.
        header = render_warnings(
            [w for found in self.warnings(steps, against_data=False) for w in found]
        )
        script = header + self.dialect.ddl.render_script(steps)
        if unexecutable and not create_only:
            raise MigrationError(
                "The migration cannot be applied to the existing data:\n"
                + "\n".join(f"  - {w}" for w in unexecutable)
                + "\nUse --create-only and edit the migration, or give the column a default."
            )
        migration = history.write_migration(
            self.migrations_dir, name, script, self.dialect.provider
        )
        if not create_only:
            self.history.ensure_table()
            self._apply(migration)
            applied.append(migration.name)
        return DevResult(migration.name, script, warnings + unexecutable, applied)

    def reset(self, *, force: bool, seed: bool = True) -> list[str]:
        """Drop every table, reapply all migrations, then run the seed command."""
        if not force:
            raise MigrationError("reset deletes all data; pass force=True (--force) to confirm")
        history.check_lock(self.migrations_dir, self.dialect.provider)
        with self.locked():
            self._drop_everything()
            applied = self.deploy()
        if seed:
            self.seed(required=False)
        return applied

    def _drop_everything(self) -> None:
        """Drop what the dialect says a reset drops (SQLite: every table and view;
        PostgreSQL: the schemas, recreated empty), in one transaction."""
        sql, quote = self.dialect.migrations, self.dialect.ddl.quote
        listed = sql.schema_objects_sql(self._declared_namespaces())
        names = self.engine.query_raw_(listed, as_tuples=True)
        switch_off, switch_on = (sql.foreign_keys_sql(enabled=e) for e in (False, True))
        if switch_off is not None:
            self.engine.execute_raw_(switch_off)
        try:
            with self.engine.transaction_():
                for kind, name in names:
                    self.engine.execute_script_(sql.drop_sql(kind, quote(name)))
        finally:
            if switch_on is not None:
                self.engine.execute_raw_(switch_on)

    def _declared_namespaces(self) -> tuple[str, ...]:
        """The database schemas the schema file declares (multiSchema), none without one."""
        try:
            return self.load_schema().db_schemas
        except ConfigurationError:  # no schema file: the migrations folder was given
            return ()

    def resolve(self, *, applied: str | None = None, rolled_back: str | None = None) -> None:
        if (applied is None) == (rolled_back is None):
            raise MigrationError(
                "resolve needs exactly one of --applied NAME or --rolled-back NAME"
            )
        history.check_lock(self.migrations_dir, self.dialect.provider)
        with self.locked():
            self._resolve(applied, rolled_back)

    def _resolve(self, applied: str | None, rolled_back: str | None) -> None:
        self._ensure_namespace(self.engine)
        self.history.ensure_table()
        state = self.status()
        if rolled_back is not None:
            if rolled_back not in state.failed:
                raise MigrationError(
                    f"Migration `{rolled_back}` cannot be rolled back because it is not in a "
                    "failed state."
                )
            self.history.record_rolled_back(rolled_back)
            return
        assert applied is not None
        local = {m.name: m for m in history.list_local(self.migrations_dir)}
        if applied not in local:
            raise MigrationError(
                f"Migration `{applied}` could not be found in {self.migrations_dir}."
            )
        if applied in state.applied:
            raise MigrationError(f"Migration `{applied}` is already recorded as applied.")
        with self.engine.transaction_():
            if applied in state.failed:
                self.history.record_rolled_back(applied)
            row_id = self.history.record_start(local[applied])
            self.history.record_finish(row_id)

    def push(self, *, accept_data_loss: bool = False) -> list[str]:
        """Make the database match the schema directly, without a migration history."""
        with self.locked():
            return self._push(accept_data_loss)

    def _push(self, accept_data_loss: bool) -> list[str]:
        self._ensure_namespace(self.engine)
        steps = diff(self.live(), self.target(), self.dialect.ddl)
        warnings, unexecutable = self.warnings(steps)
        if unexecutable or (warnings and not accept_data_loss):
            raise MigrationError(
                "db push would lose data or cannot run on the existing data:\n"
                + "\n".join(f"  - {w}" for w in warnings + unexecutable)
                + ("" if unexecutable else "\nRerun with --accept-data-loss to go ahead.")
            )
        if steps:
            apply_script(
                self.engine,
                self.dialect.ddl.render_script(steps),
                self.progress,
                self.dialect.migrations,
            )
        changes = [describe(step) for step in steps]
        for change in changes:
            _log.info("db push on %s: %s", self.engine.url_, change)
        return changes

    def seed(self, *, required: bool = True) -> bool:
        """Run ``[tool.strata] seed`` (a shell command) with DATABASE_URL set to this database."""
        settings, folder = project_settings()
        command = settings.get("seed")
        if not isinstance(command, str):
            if required:
                raise ConfigurationError(
                    'no seed command: add seed = "python seed.py" under [tool.strata] in '
                    "pyproject.toml"
                )
            return False
        url = self.dialect.migrations.seed_url(self.engine.url_, self.engine.path_)
        env = {**os.environ, "DATABASE_URL": url}
        argv = shlex.split(command)
        if argv and argv[0] == "python":
            argv[0] = sys.executable
        result = subprocess.run(argv, cwd=folder, env=env, check=False)
        if result.returncode != 0:
            raise MigrationError(f"the seed command `{command}` exited with {result.returncode}")
        return True

    # -- warnings ----------------------------------------------------------------------------

    def warnings(
        self, steps: list[Step], *, against_data: bool = True
    ) -> tuple[list[str], list[str]]:
        """Prisma's data-loss warnings for ``steps`` and the steps that cannot run: against
        the live data, or, with ``against_data`` False, whatever the data (the migration.sql
        header). See `strata.migrate.warnings`."""
        counts = DataCounts(self._count_rows, self._count_values)
        return data_loss_warnings(steps, counts if against_data else None)

    def _count_rows(self, table: Table) -> int:
        return self._count(table)

    def _count_values(self, table: Table, column: str) -> int:
        sql, quote = self.dialect.migrations, self.dialect.ddl.quote
        return self._count(table, sql.is_not_null(quote(column)))

    def _count(self, table: Table, condition: str | None = None) -> int:
        """The rows of ``table`` (in its own schema, for a multiSchema table), or of those
        where ``condition`` holds; 0 where the database does not have it."""
        sql = self.dialect.migrations
        exists = sql.table_exists_sql(table.namespace)
        if not self.engine.query_raw_(exists, table.name):
            return 0
        statement = sql.count_sql(sql.table_name(table.name, table.namespace), condition)
        (row,) = self.engine.query_raw_(statement, as_tuples=True)
        return int(row[0])


def describe(step: Step) -> str:
    """One line for a step, for drift reports and ``migrate diff`` without ``--script``."""
    match step:
        case AlterTable(
            table=table,
            added=added,
            dropped=(),
            altered=(),
            previous=None,
            renamed_primary_key=None,
        ):
            return f"Altered table `{table.name}`: added " + ", ".join(f"`{c.name}`" for c in added)
        case AlterTable(table=table, added=added, dropped=dropped, altered=altered):
            changes = [
                *(f"added `{c.name}`" for c in added),
                *(f"dropped `{c.name}`" for c in dropped),
                *(f"altered `{c.after.name}`" for c in altered),
            ]
            if step.previous is not None:
                changes.append("replaced the primary key")
            if step.renamed_primary_key is not None:
                changes.append("renamed the primary key")
            return f"Altered table `{table.name}`: " + ", ".join(changes)
        case RedefineTable(after=after):
            return f"Changed the `{after.name}` table"
        case RenameForeignKey(table=table, before=before, after=after):
            return f"Renamed the foreign key `{before.name}` on `{table.name}` to `{after.name}`"
        case DropTable(table=table):
            return f"Removed the `{table.name}` table"
        case CreateIndex(index=index, table=table):
            return f"Added index `{index.name}` on `{table}`"
        case _:
            kind = type(step).__name__
            name = getattr(getattr(step, "table", None), "name", None) or getattr(
                getattr(step, "index", None), "name", ""
            )
            return f"{kind} `{name}`"


def source_dialect(kind: str, value: str | None) -> Dialect | None:
    """The dialect one side of ``migrate diff`` is in: a schema file's datasource provider,
    a migrations folder's lock, a database URL's scheme; None for ``empty``, which fits
    any."""
    if value is None or kind == "empty":
        return None
    if kind == "schema":
        return dialect_for(load_schema_file(value).provider)
    if kind == "migrations":
        locked = history.locked_provider(Path(value))
        return None if locked is None else dialect_for(locked)
    if kind == "url":
        return dialect_for_url(value)
    raise ConfigurationError(f"unknown diff source {kind!r}")


def diff_dialect(sources: list[tuple[str, str | None]]) -> Dialect:
    """The one dialect both sides of ``migrate diff`` are in: SQLite, strata's default
    database, when no side names one."""
    dialects = [d for kind, value in sources if (d := source_dialect(kind, value)) is not None]
    providers = {d.provider for d in dialects}
    if len(providers) > 1:
        raise ConfigurationError(
            "cannot diff across databases: one side is " + " and the other ".join(sorted(providers))
        )
    return dialects[0] if dialects else dialect_for("sqlite")


def read_source(
    kind: str, value: str | None, dialect: Dialect | None = None, shadow_url: str | None = None
) -> SqlSchema:
    """One side of ``migrate diff``, in ``dialect`` (by default the side's own): ``empty``,
    ``schema`` (a schema file), ``migrations`` (a migrations folder, replayed into a shadow
    database: on a server, one created beside the database at ``shadow_url`` and dropped)
    or ``url`` (a live database)."""
    if kind == "empty":
        return SqlSchema()
    if value is None:
        raise ConfigurationError(f"--from-{kind} / --to-{kind} needs a value")
    if dialect is None:
        dialect = diff_dialect([(kind, value)])
    if kind == "schema":
        return calculate(load_schema_file(value), dialect.ddl)
    if kind == "migrations":
        if not Path(value).is_dir():
            raise ConfigurationError(f"no migrations folder at {value}")
        beside = shadow_url or dialect.migrations.scratch_database(None).url
        with Engine.open_(beside) as engine:
            return Migrator(engine, migrations=value, dialect=dialect).shadow()
    if kind == "url":
        target = resolve(value)
        # A diff only reads: a mistyped path must not leave an empty database behind.
        if target.provider == "sqlite" and not target.in_memory and not Path(target.path).exists():
            raise ConfigurationError(f"no database at {target.path} (from {value!r})")
        with Engine.open_(value) as engine:
            return dialect.introspection.introspect(engine)
    raise ConfigurationError(f"unknown diff source {kind!r}")


def diff_script(
    before: SqlSchema, after: SqlSchema, dialect: Dialect | None = None
) -> tuple[list[Step], str]:
    """The steps from ``before`` to ``after`` and Prisma's script for them, in ``dialect``
    (SQLite when not given)."""
    ddl = (dialect or dialect_for("sqlite")).ddl
    steps = diff(before, after, ddl)
    return steps, ddl.render_script(steps)


def execute_script(url: str, script: str) -> None:
    """Run ``script`` on the database at ``url`` as it is (``strata db execute``): on
    PostgreSQL one simple query, a transaction unless the script manages its own."""
    with Engine.open_(url) as engine:
        engine.execute_script_(script)
