"""The ``strata`` loggers: migrations applied, queue failures, retries and lease recoveries,
slow statements over the handle's threshold, waits for a pooled connection; and the
library never prints. Each test runs on SQLite and on PostgreSQL (the ``backend`` fixture)
unless it says why not."""

from __future__ import annotations

import ast
import logging
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import strata
from backends import Backend
from strata.cli import main
from support import bind, job

SCHEMAS = Path(__file__).resolve().parents[1] / "schema"
PACKAGE = Path(strata.__file__).resolve().parent

SCHEMA = """
datasource db {
  provider = "sqlite"
}

model Note {
  id   Int    @id @default(autoincrement())
  body String
}
"""


def _records(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logger]


def _long_query(backend: Backend) -> str:
    """A read that keeps its connection for a few hundred milliseconds."""
    if backend.is_postgres:
        return "SELECT pg_sleep(0.3)"
    return (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1500000) "
        "SELECT count(*) FROM c"
    )


def test_migrations_applied_are_logged(
    backend: Backend, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: Any
) -> None:
    schema = tmp_path / "schema.prisma"
    from backends import for_provider

    schema.write_text(for_provider(SCHEMA, backend.provider))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", backend.url)
    caplog.set_level(logging.INFO, logger="strata.migrate")
    result = CliRunner().invoke(main, ["migrate", "dev", "--name", "init"])
    assert result.exit_code == 0, result.output
    (record,) = _records(caplog, "strata.migrate")
    assert record.levelno == logging.INFO
    assert record.getMessage().startswith("applied migration ")
    assert record.getMessage().split()[2].endswith("_init")


def test_slow_statements_are_logged_over_the_threshold(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    db = backend.connect(SCHEMA, slow_query_ms=100)
    caplog.set_level(logging.WARNING, logger="strata.slow")
    db.note.create(data={"body": "quick"})
    assert _records(caplog, "strata.slow") == []
    db.query_raw_(_long_query(backend))
    (record,) = _records(caplog, "strata.slow")
    assert record.levelno == logging.WARNING
    assert "slow statement" in record.getMessage()
    assert _long_query(backend) in record.getMessage()
    db.log_slow_queries_(None)
    db.query_raw_(_long_query(backend))
    assert len(_records(caplog, "strata.slow")) == 1


def test_no_threshold_by_default_and_one_from_pyproject(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: Any
) -> None:
    # The pyproject setting is read by connect on either database; SQLite keeps it short.
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.WARNING, logger="strata.slow")
    with strata.connect(tmp_path / "a.db") as db:
        db.query_raw_(_long_query(Backend("sqlite", "", tmp_path)))
    assert _records(caplog, "strata.slow") == []
    (tmp_path / "pyproject.toml").write_text("[tool.strata]\nslow_query_ms = 1\n")
    with strata.connect(tmp_path / "a.db") as db:
        db.query_raw_(_long_query(Backend("sqlite", "", tmp_path)))
    assert len(_records(caplog, "strata.slow")) == 1


@pytest.mark.parametrize("bad", [-1, "10", True])
def test_a_bad_threshold_is_refused(tmp_path: Path, bad: object) -> None:
    with pytest.raises(strata.ConfigurationError, match="slow_query_ms"):
        strata.connect(tmp_path / "a.db", slow_query_ms=bad)  # type: ignore[arg-type]


def test_a_wait_for_a_pooled_connection_is_logged(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    db = backend.connect(SCHEMA, readers=1)
    caplog.set_level(logging.WARNING, logger="strata.pool")
    db.query_raw_("SELECT 1")
    assert _records(caplog, "strata.pool") == []
    started = threading.Barrier(2)

    def read() -> None:
        started.wait()
        db.query_raw_(_long_query(backend))

    threads = [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (record,) = _records(caplog, "strata.pool")
    pool = "postgresql" if backend.is_postgres else "sqlite readers"
    assert f"all 1 of the {pool} pool were in use" in record.getMessage()


def test_a_wait_that_gives_up_is_logged(backend: Backend, caplog: pytest.LogCaptureFixture) -> None:
    db = backend.connect(SCHEMA, readers=1, busy_timeout=0.05)
    caplog.set_level(logging.WARNING, logger="strata.pool")
    started = threading.Event()
    errors: list[BaseException] = []

    def hold() -> None:
        started.set()
        db.query_raw_(_long_query(backend))

    def wait() -> None:
        started.wait()
        try:
            db.query_raw_(_long_query(backend))
        except strata.StrataError as exc:
            errors.append(exc)

    holder = threading.Thread(target=hold)
    holder.start()
    waiter = threading.Thread(target=wait)
    # Give the holder time to take the only connection.
    started.wait()
    threading.Event().wait(0.05)
    waiter.start()
    waiter.join()
    holder.join()
    assert len(errors) == 1
    messages = [r.getMessage() for r in _records(caplog, "strata.pool")]
    assert any(m.startswith("gave up after") for m in messages), messages


def test_lease_recoveries_are_logged(backend: Backend, caplog: pytest.LogCaptureFixture) -> None:
    db = backend.connect(SCHEMAS / "render_manager.prisma")
    db.user.create(data={"id": "u1", "email": "a@x.io", "macUsernames": ["alice"]})
    q = bind(db)
    q.enqueue(job())
    q.enqueue(job(projectPath="/p/b.aep"))
    q.claim("dead-worker", limit=2)
    caplog.set_level(logging.INFO, logger="strata.queue")
    assert q.claim("other") == []
    assert _records(caplog, "strata.queue") == []
    q.advance_clock(61)
    assert len(q.claim("other")) == 1
    (record,) = _records(caplog, "strata.queue")
    assert record.levelno == logging.WARNING
    assert "recovered 2 job(s) whose lease expired" in record.getMessage()


def test_job_failures_and_retries_are_logged(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    db = backend.connect(SCHEMAS / "render_manager.prisma")
    db.user.create(data={"id": "u1", "email": "a@x.io", "macUsernames": ["alice"]})
    q = bind(db, backoff=lambda attempt: timedelta(0))
    q.enqueue(job())
    caplog.set_level(logging.INFO, logger="strata.queue")

    def handler(claim: Any) -> None:
        raise RuntimeError("render crashed")

    q.run(handler, worker="w", exit_when_idle=True)
    failures = [
        r for r in _records(caplog, "strata.queue") if "failed on attempt" in r.getMessage()
    ]
    assert [r.getMessage().split(" failed")[1][:15] for r in failures] == [
        " on attempt 1 o",
        " on attempt 2 o",
        " on attempt 3 o",
    ]
    assert all("render crashed" in r.getMessage() for r in failures)


def _prints(tree: ast.AST) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("print", "breakpoint")
    ]


def test_the_library_never_prints() -> None:
    # The command line and the demo talk to a terminal; everything else logs.
    allowed = {PACKAGE / "cli", PACKAGE / "cli.py", PACKAGE / "demo.py", PACKAGE / "demo_report.py"}
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path in allowed or any(parent in allowed for parent in path.parents):
            continue
        lines = _prints(ast.parse(path.read_text(encoding="utf-8")))
        offenders += [f"{path.relative_to(PACKAGE)}:{line}" for line in lines]
        text = path.read_text(encoding="utf-8")
        for forbidden in ("sys.stdout.write", "sys.stderr.write"):
            if forbidden in text:
                offenders.append(f"{path.relative_to(PACKAGE)}: {forbidden}")
    assert offenders == []
