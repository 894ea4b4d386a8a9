"""The package's shape, checked (docs/ARCHITECTURE.md, "Layers"): no import cycles, SQL
text only in `strata.dialects`, a concrete dialect chosen in one place, and source files of
a size a reader can hold. The layers' order itself is import-linter's contract in
pyproject.toml, run by ``make lint``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "python" / "strata"

#: Source files allowed past `MAX_LINES`, each with the reason it is one piece.
LONG_FILES: dict[str, str] = {}
MAX_LINES = 800


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every strata module ``name`` imports, wherever the import statement is (function
    bodies and ``if TYPE_CHECKING:`` blocks included). ``from strata import x`` imports
    module ``strata.x`` when there is one, else the package ``strata`` itself."""

    def known(dotted: str) -> str | None:
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            # The compiled core is a leaf: it imports nothing of the package.
            if target.startswith("strata") and not target.startswith("strata._core"):
                module = known(target)
                if module is not None and module != name:
                    found.add(module)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_the_import_graph_has_no_cycle() -> None:
    graph = _graph()
    assert "strata.dialects.sqlite" in graph["strata.dialects"]  # the graph sees imports
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_only_the_dialects_package_names_a_concrete_dialect() -> None:
    """Every other layer is handed a dialect (`strata.dialects.dialect_for` picks it), so a
    second database needs no change above the dialects. DuckDB's SQL
    (`strata.dialects.duckdb`) is not a choice: analytics always runs on DuckDB."""
    shared = {
        "strata.dialects",
        "strata.dialects.base",
        "strata.dialects.duckdb",
        "strata.dialects.values",
    }
    importers = {
        name
        for name, imported in _graph().items()
        if any(m.startswith("strata.dialects") and m not in shared for m in imported)
    }
    assert {m for m in importers if not m.startswith("strata.dialects")} == set()


# -- SQL lives in its dialect -----------------------------------------------------------------

_SQL = re.compile(
    r"\b(SELECT|INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM|PRAGMA|ON\s+CONFLICT"
    r"|CREATE\s+(TABLE|INDEX|UNIQUE|VIEW)|DROP\s+(TABLE|INDEX|VIEW)|ALTER\s+TABLE"
    r"|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RETURNING|WHERE|ORDER\s+BY|GROUP\s+BY|LIMIT|OFFSET"
    r"|JOIN|VALUES|IS\s+(NOT\s+)?NULL|COLLATE|ESCAPE|CASE\s+WHEN|FILTER\s*\(|EXISTS\s*\("
    r"|COPY\s*\(|ATTACH)\b"
    r"|\b(json_\w+|ifnull|instr|substr|coalesce|unixepoch|strftime|typeof|quantile_\w+)\s*\("
    r"|\browid\b|\bsqlite_master\b"
)


def _strings(tree: ast.AST) -> Iterator[ast.Constant]:
    """The string constants of a module that are not docstrings (f-string parts
    included)."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            yield node


def _sql_outside_dialects() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "dialects" in path.relative_to(PACKAGE).parts:
            continue
        for node in _strings(ast.parse(path.read_text())):
            if _SQL.search(node.value):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value[:60]!r}")
    return found


def test_no_sql_text_outside_the_dialects() -> None:
    assert _sql_outside_dialects() == []


def test_the_sql_detector_sees_sql_and_not_prose() -> None:
    for sql in (
        "SELECT 1",
        ' WHERE "id" = ?',
        "json_extract(data, '$.a')",
        "INSERT INTO t",
        "x ORDER BY y",
        "rowid",
        "ON CONFLICT DO NOTHING",
    ):
        assert _SQL.search(sql), sql
    for prose in ("select a model", "the order by which", "where it is", "limit must be > 0"):
        assert not _SQL.search(prose), prose


# -- rooms of a livable size -------------------------------------------------------------------


def test_no_source_file_is_too_long_to_read() -> None:
    sources = [*PACKAGE.rglob("*.py"), *(ROOT / "rust").rglob("*.rs")]
    long = {
        str(path.relative_to(ROOT)): n
        for path in sources
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert {k: v for k, v in long.items() if k not in LONG_FILES} == {}
