"""What the studio watches: queue, rate limiter and metrics bindings, and where they come from.

Three sources, later ones winning by name:

* the project's pyproject.toml: ``[tool.strata.queues.<Model>]`` (the tables
  `strata.Database.queue_` reads), ``[tool.strata.rate_limiters.<Model>]`` and
  ``[tool.strata.metrics.<Model>]``;
* a studio file given with ``--config``: the same tables without the ``tool.strata.``
  prefix (``[queues.render]``), plus ``url`` and ``schema`` (relative to the file). This is
  what `strata demo` writes beside its database;
* ``--queue NAME=JSON``, ``--rate-limiter NAME=JSON`` and ``--metrics NAME=JSON``.

A binding is named by its table's key; ``model`` names its model when the name is not the
model's (two queues over one model, as the demo's validation and render queues are).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strata._compat import tomllib
from strata.config import project_settings
from strata.errors import ConfigurationError

__all__ = ["KINDS", "Bindings", "StudioFile", "parse_option", "read_file"]

#: The kinds of binding, as tables are named in the files.
KINDS = ("queues", "rate_limiters", "metrics")


@dataclass
class Bindings:
    """Binding arguments by kind and name, each with its ``model``."""

    queues: dict[str, dict[str, Any]] = field(default_factory=dict)
    rate_limiters: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, kind: str, tables: Any, where: str) -> None:
        if not isinstance(tables, dict) or not all(isinstance(t, dict) for t in tables.values()):
            raise ConfigurationError(f"{where}: [{kind}] must hold one table per binding")
        target: dict[str, dict[str, Any]] = getattr(self, kind)
        for name, table in tables.items():
            target[name] = {"model": name, **table}


@dataclass
class StudioFile:
    """A ``--config`` file: bindings, and optionally the database and schema."""

    bindings: Bindings
    url: str | None = None
    schema: Path | None = None


def project_bindings() -> Bindings:
    """The bindings under ``[tool.strata]`` in the nearest pyproject.toml."""
    settings, folder = project_settings()
    bindings = Bindings()
    for kind in KINDS:
        if kind in settings:
            bindings.add(kind, settings[kind], f"{folder / 'pyproject.toml'} [tool.strata]")
    return bindings


def read_file(path: Path, into: Bindings) -> StudioFile:
    """Read a ``--config`` file, adding its bindings to ``into``."""
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"{path}: not valid TOML: {error}") from None
    for kind in KINDS:
        if kind in data:
            into.add(kind, data[kind], str(path))
    url, schema = data.get("url"), data.get("schema")
    for key, value in (("url", url), ("schema", schema)):
        if value is not None and not isinstance(value, str):
            raise ConfigurationError(f"{path}: {key} must be a string")
    base = path.resolve().parent
    if url is not None and not url.startswith(("postgres://", "postgresql://", "file:", ":")):
        url = str(base / url)
    return StudioFile(into, url, None if schema is None else base / schema)


def parse_option(kind: str, text: str, into: Bindings) -> None:
    """``NAME=JSON`` from the command line: ``render={"model": "Job", "ready": ...}``."""
    name, sep, arguments = text.partition("=")
    option = "--" + kind.rstrip("s").replace("_", "-")
    try:
        table = json.loads(arguments) if sep else None
    except json.JSONDecodeError as error:
        raise ConfigurationError(f"{option} {name}=...: not valid JSON: {error}") from None
    if not name or not isinstance(table, dict):
        raise ConfigurationError(
            f"{option} takes NAME=JSON, such as {option} "
            + 'Job=\'{"ready": {"status": "QUEUED"}, ...}\''
        )
    into.add(kind, {name: table}, option)
