"""The ``strata`` command."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

import strata
from strata.config import default_url
from strata.doctor import IMPORTANT_COMPILE_OPTIONS, Diagnosis, diagnose
from strata.errors import MissingExtraError, StrataError
from strata.migrate.commands import (
    Migrator,
    describe,
    diff_dialect,
    diff_script,
    execute_script,
    find_schema,
    project_url,
    read_source,
)
from strata.migrate.runner import ProgressCallback
from strata.schema import load_schema_file
from strata.schema.format import format_text
from strata.schema.parser import read_schema_text
from strata.studio.command import studio

console = Console()
#: Warnings go to stderr, so that a command's output can be piped or redirected as it is.
err_console = Console(stderr=True)

T = TypeVar("T")


class _Main(click.Group):
    """The ``strata`` group: a strata error, a file that cannot be read or written, or text
    that is not UTF-8 ends the command with one ``Error: ...`` line and status 1, never a
    traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except StrataError as exc:
            raise click.ClickException(str(exc)) from exc
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise click.ClickException(f"{where}{exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise click.ClickException(f"not UTF-8 text: {exc}") from exc


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(strata.__version__, prog_name="strata")
def main() -> None:
    """strata: a Prisma schema in, an embedded Python data layer out.

    Each command first reads .env in the working directory, as Prisma's CLI does (variables
    already set win). Shell completion: see docs/CLI.md.
    """
    from strata.scaffold import load_env_file

    load_env_file(Path(".env"))


@main.command()
@click.argument("url", required=False)
@click.option(
    "--schema",
    "schema_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The schema file, for the DateTime column report. Default: the project's.",
)
def doctor(url: str | None, schema_path: Path | None) -> None:
    """Report the SQLite library, its compile options, the pragmas in force (on PostgreSQL:
    the server's version and the connection pool) and the stored forms of every DateTime
    column.

    URL is the database to inspect; by default DATABASE_URL or [tool.strata] url.
    Exits with status 1 when something is unsafe, such as two SQLite copies in one process,
    or a DateTime column holding more than one stored form.
    """
    try:
        db = strata.connect(url, schema=schema_path) if url or _has_default_url() else None
    except StrataError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        report = diagnose(db)
    finally:
        if db is not None:
            db.close_()
    render_diagnosis(report)
    if report.warnings:
        raise SystemExit(1)


def _has_default_url() -> bool:

    return default_url() is not None


def render_diagnosis(report: Diagnosis) -> None:
    summary = Table(title="SQLite", show_header=False, title_justify="left")
    summary.add_column(style="bold")
    summary.add_column(overflow="fold")
    summary.add_row("version", f"{report.version}  ({report.source_id[:19]})")
    summary.add_row("library", report.library_path or "unknown")
    same = "[green]yes[/]" if report.python_sqlite_same_library else "[red]NO[/]"
    summary.add_row("same library as Python's sqlite3", same)
    copies = len(report.loaded_copies)
    summary.add_row(
        "SQLite copies in this process", f"{copies}" if copies <= 1 else f"[red]{copies}[/]"
    )
    console.print(summary)

    options = Table(title="Compile options", title_justify="left")
    options.add_column("option")
    options.add_column("value")
    options.add_column("why it matters", style="dim")
    for name, why in IMPORTANT_COMPILE_OPTIONS.items():
        value = report.compile_options.get(name)
        options.add_row(name, value if value is not None else "[dim]absent[/]", why)
    console.print(options)

    if report.database is not None:
        pragmas = Table(title=f"Database {report.database}", title_justify="left")
        pragmas.add_column("setting")
        pragmas.add_column("value")
        for key, setting in report.settings.items():
            pragmas.add_row(key, str(setting))
        if report.server_version is not None:
            pragmas.add_row("server version", report.server_version)
        if report.pool is not None:
            pragmas.add_row("pool", ", ".join(f"{k} {v}" for k, v in report.pool.items()))
        console.print(pragmas)

    if report.datetime_columns:
        forms = Table(title="DateTime columns: values per stored form", title_justify="left")
        forms.add_column("field")
        forms.add_column("forms")
        forms.add_column("state")
        for column in report.datetime_columns:
            counts = ", ".join(f"{form} {count}" for form, count in column.forms.items())
            state = "[red]mixed[/]" if column.mixed else "[green]ok[/]"
            forms.add_row(f"{column.model}.{column.field}", counts or "[dim]empty[/]", state)
        console.print(forms)

    for warning in report.warnings:
        console.print(f"[bold red]warning:[/] {escape(warning)}")
    for advice in report.advice:
        console.print(f"[bold yellow]advice:[/] {escape(advice)}")
    if not report.warnings:
        console.print(
            "[green]ok:[/] one SQLite library in this process, shared with Python's sqlite3"
        )


# -- schema and migrations ---------------------------------------------------------------

schema_option = click.option(
    "--schema",
    "schema_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The schema file. Default: [tool.strata] schema, ./schema.prisma, ./prisma/schema.prisma.",
)


def _fail(exc: StrataError) -> NoReturn:
    raise click.ClickException(str(exc)) from exc


def _with_project(schema_path: Path | None, command: Callable[[Migrator], T]) -> T:
    """Run one command on the project's database (see `project_url`) and close it;
    a StrataError becomes a clean command-line error."""
    try:
        schema = find_schema(schema_path)
        with strata.connect(project_url(schema), schema=schema) as db:
            return command(Migrator(db, schema, progress=_copy_progress()))
    except StrataError as exc:
        _fail(exc)


def _copy_progress() -> ProgressCallback:
    """A rich progress bar for large table copies during redefinitions."""
    bars: dict[str, tuple[Progress, TaskID]] = {}

    def report(table: str, copied: int, total: int) -> None:
        if table not in bars:
            progress = Progress(
                TextColumn(f"copying {table}"), BarColumn(), MofNCompleteColumn(), console=console
            )
            progress.start()
            bars[table] = (progress, progress.add_task(table, total=total))
        progress, task = bars[table]
        progress.update(task, completed=copied)
        if copied >= total:
            progress.stop()

    return report


@main.command()
@schema_option
def validate(schema_path: Path | None) -> None:
    """Check the schema; print every problem and exit 1 when it is invalid."""
    try:
        path = find_schema(schema_path)
        schema = load_schema_file(path)
    except StrataError as exc:
        _fail(exc)
    for warning in schema.warnings:
        # Each already reads "path:line:col: warning: ..."; it quotes the schema, whose
        # brackets rich would read as markup, and keeps its excerpt's lines as they are.
        err_console.print(escape(warning), soft_wrap=True)
    console.print(f"The schema at {escape(str(path))} is valid 🚀")


@main.command("format")
@schema_option
@click.option("--check", is_flag=True, help="Exit 1 if the file is not formatted; change nothing.")
def format_command(schema_path: Path | None, check: bool) -> None:
    """Rewrite the schema file in canonical form (or check that it is)."""
    try:
        path = find_schema(schema_path)
        text = read_schema_text(path)
        formatted = format_text(text, str(path))
    except StrataError as exc:
        _fail(exc)
    if formatted == text:
        console.print(f"{escape(str(path))} is formatted")
        return
    if check:
        click.echo(f"{path} is not formatted; run `strata format`", err=True)
        raise SystemExit(1)
    path.write_text(formatted, encoding="utf-8")
    console.print(f"Formatted {escape(str(path))}")


@main.command()
@schema_option
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The module to write. Default: strata_client.py beside the schema.",
)
def generate(schema_path: Path | None, output: Path | None) -> None:
    """Write a typed Python module: models, repositories and TypedDict inputs."""
    from strata.codegen import write_module

    try:
        path = find_schema(schema_path)
        schema = load_schema_file(path)
    except StrataError as exc:
        _fail(exc)
    target = output or path.parent / "strata_client.py"
    write_module(schema, path, target)
    console.print(f"Wrote {target}")


@main.command()
@click.option(
    "--datasource-provider",
    "provider",
    type=click.Choice(["sqlite", "postgresql"]),
    default="sqlite",
    show_default=True,
    help="The database the schema is for.",
)
@click.option("--url", help="The DATABASE_URL to write to .env. Default: an example URL.")
@click.option("--with-model", is_flag=True, help="Add an example User model.")
def init(provider: str, url: str | None, with_model: bool) -> None:
    """Start a project here: prisma/schema.prisma, DATABASE_URL in .env, and .env in
    .gitignore, as `prisma init` writes them. Never overwrites a schema."""
    from strata.scaffold import init_project

    result = init_project(Path.cwd(), provider=provider, url=url, with_model=with_model)
    for warning in result.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    for path in result.written:
        console.print(f"Wrote {escape(str(path.relative_to(Path.cwd())))}")
    console.print(
        "Next: set DATABASE_URL in .env, add models to prisma/schema.prisma, then run "
        "`strata migrate dev --name init` and `strata generate`."
    )


@main.group()
def migrate() -> None:
    """Migrations, as Prisma's `prisma migrate` runs them."""


@migrate.command("dev")
@schema_option
@click.option("--name", "-n", default="", help="The migration's name.")
@click.option("--create-only", is_flag=True, help="Write the migration without applying it.")
def migrate_dev(schema_path: Path | None, name: str, create_only: bool) -> None:
    """Create a migration from the schema's changes and apply it."""
    result = _with_project(schema_path, lambda m: m.dev(name, create_only=create_only))
    for applied in result.applied:
        console.print(f"Applied migration {applied}")
    if result.migration is None:
        console.print("Already in sync, no schema change or pending migration was found.")
        return
    for warning in result.warnings:
        # Warnings quote column lists in brackets, which rich would read as markup.
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    verb = "Created" if create_only else "Created and applied"
    console.print(f"{verb} migrations/{result.migration}/migration.sql")


@migrate.command("deploy")
@schema_option
def migrate_deploy(schema_path: Path | None) -> None:
    """Apply every pending migration."""
    applied = _with_project(schema_path, lambda m: m.deploy())
    for name in applied:
        console.print(f"Applied migration {name}")
    console.print(
        "All migrations have been successfully applied."
        if applied
        else "No pending migrations to apply."
    )


@migrate.command("status")
@schema_option
def migrate_status(schema_path: Path | None) -> None:
    """Compare the migrations folder with the database; exit 1 unless up to date."""
    folder, state = _with_project(schema_path, lambda m: (m.migrations_dir, m.status()))
    console.print(f"{len(state.local)} migrations found in {folder}")
    for label, names in (
        ("not yet applied", state.pending),
        ("failed", state.failed),
        ("modified after they were applied", state.edited),
        ("applied but missing from the migrations folder", state.missing),
    ):
        if names:
            console.print(f"Following migrations {label}:")
            for name in names:
                console.print(f"  {name}")
    if state.up_to_date:
        console.print("Database schema is up to date!")
        return
    raise SystemExit(1)


@migrate.command("reset")
@schema_option
@click.option("--force", is_flag=True, help="Confirm: all data will be lost.")
@click.option("--skip-seed", is_flag=True, help="Do not run the seed command afterwards.")
def migrate_reset(schema_path: Path | None, force: bool, skip_seed: bool) -> None:
    """Drop the database's tables, reapply every migration and seed."""
    if not force:
        raise click.ClickException("reset deletes all data; rerun with --force to confirm")
    applied = _with_project(schema_path, lambda m: m.reset(force=True, seed=not skip_seed))
    console.print(f"Database reset; applied {len(applied)} migration(s).")


@migrate.command("resolve")
@schema_option
@click.option("--applied", metavar="NAME", help="Record a migration as applied.")
@click.option("--rolled-back", metavar="NAME", help="Record a failed migration as rolled back.")
def migrate_resolve(schema_path: Path | None, applied: str | None, rolled_back: str | None) -> None:
    """Mark a migration applied or rolled back, after fixing things by hand."""
    _with_project(schema_path, lambda m: m.resolve(applied=applied, rolled_back=rolled_back))
    console.print(
        f"Migration {applied or rolled_back} marked as {'applied' if applied else 'rolled back'}."
    )


def _diff_side(side: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The four ways to name one side of `migrate diff`, as Prisma 7 spells them."""

    options = [
        click.option(f"--{side}-empty", is_flag=True, help="An empty database."),
        click.option(f"--{side}-schema", help="A schema file."),
        click.option(f"--{side}-migrations", help="A migrations folder."),
        click.option(f"--{side}-url", help="A live database URL."),
    ]

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def _one_source(side: str, given: dict[str, object]) -> tuple[str, str | None]:
    """The one source the user gave for ``side``, as (kind, value)."""
    chosen = [
        (kind, None if kind == "empty" else str(value))
        for kind in ("empty", "schema", "migrations", "url")
        if (value := given[f"{side}_{kind}"]) not in (None, False)
    ]
    if len(chosen) != 1:
        raise click.UsageError(
            f"give exactly one of --{side}-empty, --{side}-schema, --{side}-migrations, "
            f"--{side}-url"
        )
    return chosen[0]


@migrate.command("diff")
@_diff_side("from")
@_diff_side("to")
@click.option(
    "--shadow-database-url",
    help="PostgreSQL: a database on the server where a migrations folder is replayed "
    "(into a database created beside it and dropped).",
)
@click.option("--script", is_flag=True, help="Print the SQL script instead of a summary.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the script or summary to this file instead of stdout.",
)
@click.option("--exit-code", is_flag=True, help="Exit 2 when there are differences, 0 when none.")
def migrate_diff(
    script: bool,
    output: Path | None,
    exit_code: bool,
    shadow_database_url: str | None,
    **sources: object,
) -> None:
    """Compare two schemas (empty, a schema file, a migrations folder or a database)."""
    try:
        sides = [_one_source("from", sources), _one_source("to", sources)]
        dialect = diff_dialect(sides)
        before = read_source(*sides[0], dialect, shadow_database_url)
        after = read_source(*sides[1], dialect, shadow_database_url)
        steps, sql = diff_script(before, after, dialect)
    except StrataError as exc:
        _fail(exc)
    if script:
        text = sql if sql.endswith("\n") else sql + "\n"
    elif not steps:
        text = "No difference detected.\n"
    else:
        text = "".join(f"[*] {describe(step)}\n" for step in steps)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
    if exit_code and steps:
        raise SystemExit(2)


@main.group()
def db() -> None:
    """Work on the database directly, without migration history."""


@db.command("push")
@schema_option
@click.option("--accept-data-loss", is_flag=True, help="Go ahead even if data will be lost.")
def db_push(schema_path: Path | None, accept_data_loss: bool) -> None:
    """Make the database match the schema without writing a migration."""
    changes = _with_project(schema_path, lambda m: m.push(accept_data_loss=accept_data_loss))
    for change in changes:
        console.print(f"[*] {change}")
    console.print(
        "The database is now in sync with the schema."
        if changes
        else "The database is already in sync with the schema."
    )


@db.command("pull")
@schema_option
@click.option("--print", "print_only", is_flag=True, help="Print the schema instead of writing it.")
def db_pull(schema_path: Path | None, print_only: bool) -> None:
    """Rewrite the schema's models from the tables the database holds."""
    pulled = _with_project(schema_path, lambda m: (m.schema_path, m.pull()))
    path, text = pulled
    if print_only:
        click.echo(text, nl=False)
        return
    path.write_text(text, encoding="utf-8")
    console.print(f"Introspected the database into {path}.")


@db.command("execute")
@click.option(
    "--file",
    "script_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The SQL script to run.",
)
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the SQL script from stdin.")
@click.option("--url", help="The database to run it on.")
@schema_option
def db_execute(
    script_file: Path | None, from_stdin: bool, url: str | None, schema_path: Path | None
) -> None:
    """Run a SQL script on a database: --file or --stdin, on --url or the schema's."""
    if (script_file is None) == (not from_stdin):
        raise click.UsageError("give exactly one of --file PATH and --stdin")
    if url is not None and schema_path is not None:
        raise click.UsageError("give at most one of --url and --schema")
    script = sys.stdin.read() if script_file is None else script_file.read_text(encoding="utf-8")
    try:
        execute_script(url or project_url(find_schema(schema_path)), script)
    except StrataError as exc:
        _fail(exc)
    console.print("Script executed successfully.")


@db.command("seed")
@schema_option
def db_seed(schema_path: Path | None) -> None:
    """Run the seed command set as seed under [tool.strata]."""
    _with_project(schema_path, lambda m: m.seed())
    console.print("The seed command has been executed.")


# -- the demo -------------------------------------------------------------------------------


@main.command()
@click.option(
    "--db",
    "database",
    default="strata-demo.db",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the demo database.",
)
@click.option(
    "--url",
    default=None,
    metavar="URL",
    help="Run on this database instead (postgresql://...): workers connect from their own "
    "processes, and the report is written to the working directory.",
)
@click.option(
    "--fresh", is_flag=True, help="Delete the demo database first (on a server: reset it)."
)
@click.option(
    "--jobs",
    default=50_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many render jobs to submit.",
)
def demo(database: Path, url: str | None, fresh: bool, jobs: int) -> None:
    """Run a render farm end to end on one SQLite file (by default in the working
    directory) or, with --url, on a PostgreSQL server: rate-limited submission, validator
    and render processes (one of them killed), metrics, and a DuckDB report written to
    strata-demo-report.html. A second run resumes; --fresh starts over."""
    from strata.demo import run

    try:
        run(url or database, fresh=fresh, console=console, jobs=jobs)
    except StrataError as exc:
        raise click.ClickException(str(exc)) from exc


# -- analytics ------------------------------------------------------------------------------


def _project_db(schema_path: Path | None) -> strata.Database:
    try:
        schema = find_schema(schema_path)
        return strata.connect(project_url(schema), schema=schema)
    except StrataError as exc:
        _fail(exc)


def _print_result(title: str | None, columns: list[str], rows: list[tuple[object, ...]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("NULL" if value is None else str(value) for value in row))
    console.print(table)
    console.print(f"{len(rows)} row{'s' if len(rows) != 1 else ''}")


@main.command()
@click.argument("sql", required=False)
@click.option(
    "--query",
    "query_name",
    metavar="NAME",
    help="Run a ready-made query instead of SQL (names below).",
)
@click.option(
    "--tables",
    "-t",
    multiple=True,
    help="Make only this model or table a view (repeatable). Default: every table.",
)
@schema_option
def analytics(
    sql: str | None, query_name: str | None, tables: tuple[str, ...], schema_path: Path | None
) -> None:
    """Run SQL in DuckDB over the schema's tables and print the result as a table.

    Tables are views named after the table (and the model), fed by Arrow streams from the
    core: DuckDB never opens the SQLite file. Ready-made queries: request-latency,
    request-latency-by-status, error-rate, gpu-utilisation.
    """
    # DuckDB is imported here, not with the CLI: it takes longer than every other command,
    # and it is an extra (strata-db[analytics]); a missing one is reported as one line.
    try:
        from strata.analytics import QUERIES, run_query
    except MissingExtraError as exc:
        _fail(exc)
    import duckdb

    if (sql is None) == (query_name is None):
        raise click.UsageError("give either SQL or --query NAME")
    db = _project_db(schema_path)
    try:
        if query_name is not None:
            columns, rows = run_query(db.client_, query_name)
            _print_result(QUERIES[query_name].description, columns, rows)
            return
        assert sql is not None
        duck = db.analytics_(list(tables) or None)
        try:
            result = duck.execute(sql)
            columns = [d[0] for d in result.description or ()]
            _print_result(None, columns, result.fetchall() if columns else [])
        finally:
            duck.close()
    except StrataError as exc:
        _fail(exc)
    except duckdb.Error as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.close_()


@main.group("datetime")
def datetime_group() -> None:
    """DateTime storage: rewrite a column into one stored form."""


@datetime_group.command("rewrite")
@click.option("--model", required=True, help="The model whose field to rewrite.")
@click.option("--field", "field_name", required=True, help="The DateTime field.")
@click.option(
    "--to",
    "target",
    required=True,
    type=click.Choice(["iso8601", "iso8601-z", "sqlite-datetime", "unixepoch-ms"]),
    help="The stored form to rewrite every value into.",
)
@click.option(
    "--batch",
    default=10_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Rows per transaction.",
)
@schema_option
def datetime_rewrite(
    model: str, field_name: str, target: str, batch: int, schema_path: Path | None
) -> None:
    """Rewrite every value of a DateTime column into one stored form, in batches.

    Each batch is its own transaction, so other processes keep writing in between. An
    interrupted run keeps what it committed; running it again continues (values already in
    the target form are skipped). See docs/DATETIME.md.
    """
    from strata.client.datetime_rewrite import rewrite

    db = _project_db(schema_path)
    try:
        with Progress(
            TextColumn(f"rewriting {model}.{field_name}"),
            TextColumn("{task.completed} values"),
            console=console,
        ) as progress:
            task = progress.add_task("rewrite", total=None)
            done = rewrite(
                db.client_,
                model,
                field_name,
                target,
                batch=batch,
                progress=lambda count: progress.update(task, completed=count),
            )
    except StrataError as exc:
        _fail(exc)
    finally:
        db.close_()
    forms = ", ".join(f"{form}: {count}" for form, count in done.forms.items()) or "empty"
    console.print(f"Rewrote {done.rewritten} values of {model}.{field_name} into {target}.")
    console.print(f"The column now holds {forms}.")
    left = sum(count for form, count in done.forms.items() if form != target)
    if done.unreadable:
        err_console.print(
            f"[yellow]{done.unreadable} values are not DateTimes any reader understands; "
            "they were left as they are.[/]"
        )
    if left > done.unreadable:
        err_console.print(
            "[yellow]Values in other forms were written while the rewrite ran; run it again.[/]"
        )
    if left:
        raise SystemExit(1)


@main.group()
def export() -> None:
    """Write the database's tables out for other tools."""


@export.command("parquet")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--tables",
    "-t",
    multiple=True,
    help="Export only this model or table (repeatable). Default: every table.",
)
@schema_option
def export_parquet_command(
    directory: Path, tables: tuple[str, ...], schema_path: Path | None
) -> None:
    """Write one Parquet file per table into DIRECTORY, for DuckDB outside the app."""
    from strata.analytics import export_parquet

    db = _project_db(schema_path)
    try:
        names = list(tables) or [meta.model.table for meta in db.client_.metas.values()]
        with Progress(
            TextColumn("exporting {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("tables", total=len(names))
            written: list[tuple[str, int]] = []

            def advance(table: str, rows: int) -> None:
                written.append((table, rows))
                progress.update(task, advance=1, description=table)

            export_parquet(db.client_, directory, names, progress=advance)
        for table, rows in written:
            console.print(f"{directory / (table + '.parquet')}: {rows} rows")
    except StrataError as exc:
        _fail(exc)
    finally:
        db.close_()


main.add_command(studio)
