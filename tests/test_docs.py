"""The documentation site: every Python example of the guide pages runs, and the site builds
with ``mkdocs build --strict`` (the API reference included).

A page's examples run in order in one namespace, in a folder of their own, as a reader would
paste them: a ```` ```prisma ```` block is written to ``schema.prisma`` there first (a later
one replaces it), and each ```` ```python ```` block is executed. Examples state what they
show with ``assert``, so a page that drifts from the code fails here. The PostgreSQL page
runs against a fresh database on the tests' server, its URL in ``DATABASE_URL``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from postgres import fresh_database

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
#: The guide pages whose examples run; the others (CLI.md, ARCHITECTURE.md...) show
#: commands and design, not programs.
GUIDES = [
    "index.md",
    "install.md",
    "tour/client.md",
    "tour/transactions.md",
    "tour/queue.md",
    "tour/ratelimit.md",
    "tour/metrics.md",
    "tour/postgresql.md",
    "tour/migrations.md",
    "prisma.md",
]
_FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def blocks(page: str) -> list[tuple[str, str]]:
    """The page's fenced blocks as ``(language, text)``, in order."""
    return [(m[1], m[2]) for m in _FENCE.finditer((DOCS / page).read_text())]


def run_page(page: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(folder)
    namespace: dict[str, Any] = {"__name__": f"docs:{page}"}
    for number, (language, text) in enumerate(blocks(page)):
        if language == "prisma":
            (folder / "schema.prisma").write_text(text)
        elif language == "python":
            code = compile(text, f"{page} (block {number})", "exec")
            exec(code, namespace)
    for value in namespace.values():  # databases the page left open
        close = getattr(value, "close_", None)
        if callable(close) and type(value).__name__ == "Database":
            close()


@pytest.mark.parametrize("page", [p for p in GUIDES if p != "tour/postgresql.md"])
def test_the_examples_of_each_page_run(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert any(language == "python" for language, _ in blocks(page)), "a page without examples"
    monkeypatch.delenv("DATABASE_URL", raising=False)
    run_page(page, tmp_path, monkeypatch)


def test_the_postgresql_page_runs_on_a_server(
    pg_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fresh_database(pg_server, "docs_tour") as url:
        monkeypatch.setenv("DATABASE_URL", url)
        run_page("tour/postgresql.md", tmp_path, monkeypatch)


def test_every_guide_is_in_the_navigation() -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert set(GUIDES) <= pages
    for page in pages:
        assert f": {page}" in config, f"{page} is not in mkdocs.yml's nav"


@pytest.mark.skipif(
    shutil.which("mkdocs", path=str(Path(sys.executable).parent)) is None,
    reason="mkdocs is not installed (pip install -e '.[docs]')",
)
def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """What ``make docs`` runs; offline, and a broken link or reference fails it."""
    mkdocs = Path(sys.executable).parent / "mkdocs"
    result = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "reference" / "api" / "index.html").exists()
