"""``strata init``: a new project's schema and ``.env``, laid out as ``prisma init`` lays
them out, and the ``.env`` reader the command line uses.

``init`` writes ``prisma/schema.prisma`` (a datasource whose ``url`` is
``env("DATABASE_URL")``, a generator block, optionally one example model), a ``.env``
holding ``DATABASE_URL`` (appended to an existing ``.env`` that lacks it; left alone, with
a warning, when it has one), and ``.env`` in ``.gitignore``. It never overwrites a schema.

The command line reads ``.env`` in the working directory before each command, as Prisma's
CLI does: a variable already set in the environment wins. The library does not read it;
an application sets its environment itself.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from strata.errors import ConfigurationError

__all__ = ["PROVIDERS", "InitResult", "init_project", "load_env_file"]

#: The datasource providers strata runs on, and the URL ``init`` writes for each.
PROVIDERS = {
    "sqlite": "file:./dev.db",
    "postgresql": "postgresql://USER:PASSWORD@localhost:5432/DATABASE?schema=public",
}

_SCHEMA = """\
// The data model and where it lives. strata reads this file at run time
// (strata.connect(schema=...)) and for every command: strata migrate dev, db push,
// generate. The syntax is Prisma's: https://pris.ly/d/prisma-schema

generator client {{
  // `strata generate` writes typed sync and async clients (strata_client.py beside this
  // file, or -o PATH).
  provider = "strata"
}}

datasource db {{
  provider = "{provider}"
  url      = env("DATABASE_URL")
}}
{model}"""

_EXAMPLE_MODEL = """
model User {
  id        Int      @id @default(autoincrement())
  email     String   @unique
  name      String?
  createdAt DateTime @default(now())
}
"""

_ENV_HEADER = """\
# Settings read by the strata command line (a variable set in the environment wins).
# SQLite: a file, relative to the schema's folder: file:./dev.db
# PostgreSQL: postgresql://USER:PASSWORD@HOST:5432/DATABASE?schema=public
"""

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


@dataclass
class InitResult:
    """What `init_project` wrote, and what it left alone and why."""

    schema: Path
    env: Path
    written: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def init_project(
    folder: Path,
    *,
    provider: str = "sqlite",
    url: str | None = None,
    with_model: bool = False,
) -> InitResult:
    """Write ``prisma/schema.prisma``, ``.env`` and the ``.gitignore`` line in ``folder``."""
    if provider not in PROVIDERS:
        raise ConfigurationError(
            f"unknown datasource provider {provider!r}; strata runs on " + " and ".join(PROVIDERS)
        )
    schema = folder / "prisma" / "schema.prisma"
    if schema.exists():
        raise ConfigurationError(
            f"{schema} already exists; strata init starts a project and never overwrites a schema"
        )
    result = InitResult(schema, folder / ".env")
    schema.parent.mkdir(parents=True, exist_ok=True)
    schema.write_text(
        _SCHEMA.format(provider=provider, model=_EXAMPLE_MODEL if with_model else ""),
        encoding="utf-8",
    )
    result.written.append(schema)

    line = f'DATABASE_URL="{url or PROVIDERS[provider]}"\n'
    env = result.env
    if not env.exists():
        env.write_text(_ENV_HEADER + "\n" + line, encoding="utf-8")
        result.written.append(env)
    elif "DATABASE_URL" in read_env_file(env):
        result.warnings.append(
            f"{env} already sets DATABASE_URL; it was left as it is. Check that it points "
            f"to a {provider} database."
        )
    else:
        text = env.read_text(encoding="utf-8")
        separator = "" if not text or text.endswith("\n") else "\n"
        env.write_text(text + separator + "\n" + _ENV_HEADER + line, encoding="utf-8")
        result.written.append(env)

    ignore = folder / ".gitignore"
    ignored = ignore.read_text(encoding="utf-8").splitlines() if ignore.exists() else []
    if ".env" not in (entry.strip() for entry in ignored):
        text = ignore.read_text(encoding="utf-8") if ignore.exists() else ""
        separator = "" if not text or text.endswith("\n") else "\n"
        ignore.write_text(text + separator + ".env\n", encoding="utf-8")
        result.written.append(ignore)
    return result


def read_env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines of a dotenv file: ``#`` comments, optional ``export``, values in
    single quotes (taken literally) or double quotes (``\\n`` and ``\\"`` understood)."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            continue
        name, raw = match.groups()
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
            value = raw[1:-1]
            if raw[0] == '"':
                value = value.replace("\\n", "\n").replace('\\"', '"')
        else:
            value = raw.split(" #", 1)[0].strip()
        values[name] = value
    return values


def load_env_file(path: Path) -> list[str]:
    """Set the variables of ``path`` (if it exists) that the environment does not have;
    returns their names."""
    if not path.is_file():
        return []
    loaded = []
    for name, value in read_env_file(path).items():
        if name not in os.environ:
            os.environ[name] = value
            loaded.append(name)
    return loaded
