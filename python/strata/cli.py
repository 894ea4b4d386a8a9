"""The ``strata`` command."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

import strata
from strata.doctor import IMPORTANT_COMPILE_OPTIONS, Diagnosis, diagnose
from strata.errors import StrataError

console = Console()


@click.group()
@click.version_option(strata.__version__, prog_name="strata")
def main() -> None:
    """strata: a Prisma schema in, an embedded Python data layer out."""


@main.command()
@click.argument("url", required=False)
def doctor(url: str | None) -> None:
    """Report the SQLite library, its compile options and the pragmas in force.

    URL is the database to inspect; by default DATABASE_URL or [tool.strata] url.
    Exits with status 1 when something is unsafe, such as two SQLite copies in one process.
    """
    try:
        db = strata.connect(url) if url or _has_default_url() else None
    except StrataError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        report = diagnose(db)
    finally:
        if db is not None:
            db.close()
    render_diagnosis(report)
    if report.warnings:
        raise SystemExit(1)


def _has_default_url() -> bool:
    from strata.config import default_url

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
        console.print(pragmas)

    for warning in report.warnings:
        console.print(f"[bold red]warning:[/] {warning}")
    if not report.warnings:
        console.print(
            "[green]ok:[/] one SQLite library in this process, shared with Python's sqlite3"
        )


@main.command()
@click.option(
    "--db",
    "database",
    default="strata-demo.db",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the demo database.",
)
@click.option("--fresh", is_flag=True, help="Delete the demo database first.")
def demo(database: Path, fresh: bool) -> None:
    """Run the end-to-end demo on a SQLite file in the working directory."""
    from strata.demo import run

    try:
        run(database, fresh=fresh, console=console)
    except StrataError as exc:
        raise click.ClickException(str(exc)) from exc
