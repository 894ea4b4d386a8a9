"""One SQLite library per process (docs/ARCHITECTURE.md, decision 1)."""

from __future__ import annotations

import ctypes
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import strata
from strata import _core
from strata.doctor import diagnose, python_sqlite_library_address


def mapped_files() -> set[str]:
    with open("/proc/self/maps") as maps:
        return {
            os.path.realpath(fields[5])
            for line in maps
            if len(fields := line.split()) >= 6 and fields[5].startswith("/")
        }


def test_core_and_python_sqlite3_run_the_same_library() -> None:
    library = _core.sqlite_library()
    # The same version...
    assert library["version"] == sqlite3.sqlite_version
    # ...from the same loaded file...
    assert library["path"] is not None
    assert "libsqlite3.so" in library["path"]
    assert library["path"] in mapped_files()
    # ...and the very same copy of the code: the loader resolved sqlite3_libversion for
    # Python's _sqlite3 module to the address the core calls.
    assert python_sqlite_library_address() == library["libversion_address"]


def test_only_one_copy_is_loaded() -> None:
    import duckdb  # noqa: F401  DuckDB must not bring its own SQLite into the process

    assert _core.loaded_sqlite_copies() == [_core.sqlite_library()["path"]]
    report = diagnose()
    assert report.python_sqlite_same_library
    assert report.warnings == []


def test_a_second_copy_is_detected(tmp_path: Path) -> None:
    """Load a renamed copy of libsqlite3: the loader maps it separately, as a second copy."""
    original = _core.sqlite_library()["path"]
    assert original is not None
    copy = tmp_path / "libsqlite3-vendored.so"
    shutil.copyfile(original, copy)
    script = textwrap.dedent(
        f"""
        import ctypes
        from strata.doctor import diagnose
        ctypes.CDLL({str(copy)!r}, mode=ctypes.RTLD_LOCAL)
        report = diagnose()
        print(len(report.loaded_copies))
        print(report.warnings[0])
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    count, warning = result.stdout.splitlines()[:2]
    assert count == "2"
    assert "more than one SQLite copy" in warning
    assert str(copy) in warning


def test_doctor_reports_database_settings(db: strata.Database) -> None:
    report = diagnose(db)
    assert report.database == db.path_
    assert report.settings["journal_mode"] == "wal"
    assert report.settings["synchronous"] == "NORMAL"
    assert report.compile_options["THREADSAFE"] is not None
    assert "ENABLE_UPDATE_DELETE_LIMIT" in report.compile_options


def test_ctypes_sees_the_same_library_handle() -> None:
    # dlopen with RTLD_NOLOAD succeeds only for a library already mapped: the core did not
    # bring libsqlite3 under another name.
    library = _core.sqlite_library()["path"]
    assert library is not None
    ctypes.CDLL(library, mode=os.RTLD_NOLOAD)
