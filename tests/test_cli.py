"""The `strata` command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import strata
from strata.cli import main


def test_doctor_prints_library_and_pragmas(tmp_path: Path) -> None:
    url = f"file:{tmp_path}/app.db"
    result = CliRunner().invoke(main, ["doctor", url])
    assert result.exit_code == 0, result.output
    for expected in (
        "3.",
        "libsqlite3.so",
        "ENABLE_UPDATE_DELETE_LIMIT",
        "journal_mode",
        "wal",
        "synchronous",
        "NORMAL",
        "foreign_keys",
        "busy_timeout",
        "one SQLite library in this process",
    ):
        assert expected in result.output


def test_doctor_reports_a_bad_url(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["doctor", f"{tmp_path}/missing/dir/app.db"])
    assert result.exit_code == 1
    assert "does not exist" in result.output


def test_doctor_fails_with_a_second_sqlite_copy(tmp_path: Path) -> None:
    library = strata._core.sqlite_library()["path"]
    copy = tmp_path / "libsqlite3-other.so"
    copy.write_bytes(Path(str(library)).read_bytes())
    # strata is imported first: a library loaded earlier under the same soname would
    # satisfy the core's own dependency and be the only copy.
    script = (
        "import ctypes\n"
        "from strata.cli import main\n"
        f"ctypes.CDLL({str(copy)!r}, mode=ctypes.RTLD_LOCAL)\n"
        "main(['doctor'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 1
    assert "more than one SQLite copy" in " ".join(result.stdout.split())


@pytest.mark.slow
def test_demo_runs_twice_and_fresh(tmp_path: Path) -> None:
    runner = CliRunner()
    database = tmp_path / "demo.db"
    for arguments in (["demo", "--db", str(database)], ["demo", "--db", str(database), "--fresh"]):
        result = runner.invoke(main, arguments)
        assert result.exit_code == 0, result.output
        # Rich wraps the title (it holds the tmp path) to the table's width.
        assert "jobs by priority" in " ".join(result.output.split())
    with strata.connect(database) as db:
        assert db.query_raw('SELECT count(*) AS n FROM "Job"') == [{"n": 10_000}]
        assert db.query_raw('SELECT count(*) AS n FROM "Job" WHERE "status" = ?', "CANCELLED") == [
            {"n": 0}
        ]
