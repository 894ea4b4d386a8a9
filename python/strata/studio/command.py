"""The ``strata studio`` command: reads the bindings, opens the database, serves the page.

Imported by `strata.cli` with the rest of the commands, so it imports neither the web
framework nor the database until the command runs.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import click

__all__ = ["LOOPBACK", "studio"]

#: Hosts that only this machine reaches: the studio needs no token there.
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@click.command()
@click.argument("url", required=False)
@click.option(
    "--schema",
    "schema_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The schema file. Default: the project's (as for `strata migrate`).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A studio file: url, schema, and [queues.*], [rate_limiters.*], [metrics.*] tables "
    "(`strata demo` writes one).",
)
@click.option("--port", default=5555, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Where to listen. Any address but the loopback needs a token.",
)
@click.option("--read-only", is_flag=True, help="Refuse every write.")
@click.option(
    "--token",
    envvar="STRATA_STUDIO_TOKEN",
    help="Ask every request for this token (default: a random one when --host is not the "
    "loopback). Also read from STRATA_STUDIO_TOKEN.",
)
@click.option("--queue", "queues", multiple=True, metavar="NAME=JSON", help="Watch a queue.")
@click.option(
    "--rate-limiter", "limiters", multiple=True, metavar="NAME=JSON", help="Watch a rate limiter."
)
@click.option("--metrics", "metrics", multiple=True, metavar="NAME=JSON", help="Chart a model.")
def studio(
    url: str | None,
    schema_path: Path | None,
    config_path: Path | None,
    port: int,
    host: str,
    read_only: bool,
    token: str | None,
    queues: tuple[str, ...],
    limiters: tuple[str, ...],
    metrics: tuple[str, ...],
) -> None:
    """Browse, edit and watch the data in a web page (needs strata-db[studio]).

    Serves on the loopback by default and prints the URL. Queues, rate limiters and metrics
    come from [tool.strata.queues], [tool.strata.rate_limiters] and [tool.strata.metrics] in
    pyproject.toml, from --config, and from --queue, --rate-limiter and --metrics, each
    NAME=JSON with the binding's arguments (and "model" when NAME is not the model).
    """
    import strata
    from strata.migrate.commands import find_schema, project_url
    from strata.studio.bindings import parse_option, project_bindings, read_file

    try:
        import uvicorn

        from strata.studio.app import Settings, create_app
    except ImportError as error:
        from strata.errors import MissingExtraError

        if isinstance(error, MissingExtraError):
            raise
        MissingExtraError.reraise(error, "strata studio", error.name or "uvicorn", "studio")
    from strata.studio.watch import Watch

    bindings = project_bindings()
    if config_path is not None:
        found = read_file(config_path, bindings)
        url = url or found.url
        schema_path = schema_path or found.schema
    for kind, options in (("queues", queues), ("rate_limiters", limiters), ("metrics", metrics)):
        for option in options:
            parse_option(kind, option, bindings)
    if url is None:
        schema_path = find_schema(schema_path)
        url = project_url(schema_path)
    loopback = host in LOOPBACK
    if token is None and not loopback:
        token = secrets.token_urlsafe(18)
    db = strata.connect(url, schema=schema_path)
    try:
        db.client_  # noqa: B018 (reads the schema now: a wrong one stops the command here)
        Watch(db, bindings).check()
        app = create_app(
            db, bindings, Settings(read_only=read_only, token=token, loopback=loopback)
        )
        shown = f"[{host}]" if ":" in host else host
        address = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
        click.echo(
            f"strata studio on {db.path_}: {address}" + (" (read-only)" if read_only else "")
        )
        click.echo("Ctrl-C stops it.")
        sys.stdout.flush()
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        db.close_()
