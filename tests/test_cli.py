"""The `strata` command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import browser
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
def test_demo_runs_resumes_and_starts_fresh(tmp_path: Path) -> None:
    runner = CliRunner()
    database = tmp_path / "demo.db"
    arguments = ["demo", "--db", str(database), "--jobs", "3000"]
    for run in (arguments, arguments, [*arguments, "--fresh"]):
        result = runner.invoke(main, run)
        assert result.exit_code == 0, result.output
        output = " ".join(result.output.split())
        assert "jobs submitted │ 3,000" in output
    assert "killed render process" in output  # the fresh run killed one worker again
    # It ends with the command that opens the studio on its database (test_studio_browser.py
    # opens it so).
    assert output.rstrip().endswith(
        f"strata studio {database} --config {tmp_path / 'strata-demo.studio.toml'}"
    )
    schema = Path(strata.__file__).resolve().parents[2] / "schema" / "render_manager.prisma"
    with strata.connect(database, schema=schema) as db:
        assert db.job.count() == 3_000
        assert db.job.count(where={"status": {"not_in": ["COMPLETED", "FAILED"]}}) == 0
        assert db.api_token.count() == 2  # the seed is idempotent
        assert db.node_metric_rollup.count() > 0
    report = tmp_path / "strata-demo-report.html"
    assert "<svg" in report.read_text()
    assert "3,000 jobs" in report.read_text()
    # It renders: headless Chromium (installed by `make test`) takes a screenshot, and the
    # page is not blank (a blank page compresses to a few kilobytes). CI must check it.
    chromium = browser.require("chromium", "that the demo's report renders")
    screenshot = tmp_path / "report.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--screenshot={screenshot}",
            "--window-size=1200,1400",
            report.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 40_000


@pytest.mark.slow
def test_demo_runs_on_a_postgresql_server(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same story on a server: the workers are processes with connections of their own,
    a second run resumes, and --fresh resets the database."""
    monkeypatch.chdir(tmp_path)  # the report goes to the working directory
    runner = CliRunner()
    arguments = ["demo", "--url", pg_url, "--jobs", "2000"]
    for run in (arguments, [*arguments, "--fresh"]):
        result = runner.invoke(main, run)
        assert result.exit_code == 0, result.output
        output = " ".join(result.output.split())
        assert "jobs submitted │ 2,000" in output
        assert "PostgreSQL 1" in output
    assert "killed render process" in output
    schema = Path(strata.__file__).resolve().parents[2] / "schema"
    with strata.connect(pg_url, schema=schema / "render_manager.postgresql.prisma") as db:
        assert db.job.count() == 2_000
        assert db.job.count(where={"status": {"not_in": ["COMPLETED", "FAILED"]}}) == 0
        assert db.api_token.count() == 2
        assert db.node_metric_rollup.count() > 0
    assert (
        "A render farm on a PostgreSQL server" in (tmp_path / "strata-demo-report.html").read_text()
    )


def test_demo_refuses_a_read_only_directory() -> None:
    """Permission checks do not apply to root, so the demo runs as an unprivileged user."""
    folder = tempfile.mkdtemp(prefix="strata-demo-ro-")
    try:
        os.chmod(folder, 0o555)
        script = (
            # Imported first: the unprivileged user may not read the interpreter's files.
            "import os, sys, strata.demo\n"
            "from strata.cli import main\n"
            + ("os.setgid(65534); os.setuid(65534)\n" if os.geteuid() == 0 else "")
            + f"os.chdir({folder!r})\n"
            "sys.argv = ['strata', 'demo']\n"
            "main()\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 1, result.stdout + result.stderr
        message = " ".join(result.stderr.split())
        assert "the directory is read-only" in message
        assert "Traceback" not in result.stderr
        assert os.listdir(folder) == []  # nothing was written
    finally:
        subprocess.run(["rm", "-rf", folder], check=False)


def test_demo_refuses_a_database_of_another_schema(tmp_path: Path) -> None:
    database = tmp_path / "other.db"
    with strata.connect(database) as db:
        db.execute_script_("CREATE TABLE invoices (id INTEGER PRIMARY KEY);")
    result = CliRunner().invoke(main, ["demo", "--db", str(database)])
    assert result.exit_code == 1
    assert "another schema" in " ".join(result.output.split())
    with strata.connect(database) as db:  # left as it was
        assert db.query_raw_("SELECT name FROM sqlite_master", as_tuples=True) == [("invoices",)]


@pytest.mark.slow
def test_demo_stops_cleanly_on_ctrl_c_and_the_next_run_resumes(tmp_path: Path) -> None:
    database = tmp_path / "demo.db"
    # Enough jobs that the demo cannot finish between the first completion seen and the
    # Ctrl-C, however fast the workers or slow the polling on a loaded machine.
    JOBS = 12_000
    strata_command = str(Path(sys.executable).parent / "strata")
    command = [strata_command, "demo", "--db", str(database), "--jobs", str(JOBS)]
    # Its own process group, as a terminal's foreground job: Ctrl-C reaches every process.
    # And Ctrl-C's default disposition, as a terminal gives it: a shell without job control
    # starts background commands (a CI runner's, say) with SIGINT ignored, which children
    # inherit.
    demo = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    schema = Path(strata.__file__).resolve().parents[2] / "schema" / "render_manager.prisma"
    deadline = time.monotonic() + 120
    started_rendering = False
    while time.monotonic() < deadline and not started_rendering:
        time.sleep(0.2)
        if database.exists():
            with strata.connect(database, schema=schema) as db:
                try:
                    started_rendering = db.job.count(where={"status": "COMPLETED"}) > 0
                except strata.StrataError:  # the file exists; its tables may not yet
                    continue
    assert started_rendering
    os.killpg(demo.pid, signal.SIGINT)
    output, _ = demo.communicate(timeout=120)
    assert demo.returncode != 0
    assert "run `strata demo` again to resume" in " ".join(output.split())
    with strata.connect(database, schema=schema) as db:
        left = db.job.count(where={"status": {"not_in": ["COMPLETED", "FAILED"]}})
    assert left > 0  # it really stopped part-way
    # No worker outlived the demo: its process group empties (multiprocessing's resource
    # tracker notices its parent is gone a moment later).
    deadline = time.monotonic() + 10
    while _group_alive(demo.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _group_alive(demo.pid), subprocess.run(
        ["ps", "-o", "pid,pgid,args", "-g", str(demo.pid)], capture_output=True, text=True
    ).stdout

    resumed = CliRunner().invoke(main, ["demo", "--db", str(database), "--jobs", str(JOBS)])
    assert resumed.exit_code == 0, resumed.output
    with strata.connect(database, schema=schema) as db:
        assert db.job.count() == JOBS
        assert db.job.count(where={"status": {"not_in": ["COMPLETED", "FAILED"]}}) == 0


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


# -- hostile schema files: an `Error: ...` line and exit status 1, never a traceback ----------


def _strata(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed `strata` command, run as users run it."""
    command = str(Path(sys.executable).parent / "strata")
    return subprocess.run([command, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(
            "model Caf\u00e9 {\n  id Int @id\n}\n".encode("latin-1"),
            "schema.prisma:1:10: error: The file is not valid UTF-8: byte 0xE9 at byte offset 9",
            id="latin-1",
        ),
        pytest.param(
            ("model M {\n  id Int @id @default(" + "[" * 1200 + "]" * 1200 + ")\n}\n").encode(),
            "error: Lists and parentheses nest more than 64 levels deep here.",
            id="deep nesting",
        ),
    ],
)
@pytest.mark.parametrize("command", ["validate", "format", "generate"])
def test_a_hostile_schema_file_gives_an_error_not_a_traceback(
    tmp_path: Path, content: bytes, expected: str, command: str
) -> None:
    (tmp_path / "schema.prisma").write_bytes(content)
    result = _strata(command, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("Error: "), result.stderr[:2000]
    assert "Traceback" not in result.stderr
    assert expected in result.stderr
    assert len(result.stderr) < 100_000
    assert (tmp_path / "schema.prisma").read_bytes() == content  # format wrote nothing
