"""Concurrency claims, proven with real processes, real threads and SIGKILL."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import strata

pytestmark = pytest.mark.slow

INCREMENTS = 2_000
PROCESSES = 4


def increment_counter(path: str, start: multiprocessing.synchronize.Event) -> None:
    """Read-modify-write inside a transaction: lost updates would show as a short count."""
    with strata.connect(path, busy_timeout=60) as db:
        start.wait()
        for _ in range(INCREMENTS):
            with db.transaction_():
                (row,) = db.query_raw_("SELECT n FROM counter WHERE id = 1", as_tuples=True)
                db.execute_raw_("UPDATE counter SET n = ? WHERE id = 1", row[0] + 1)


def test_processes_increment_one_counter_exactly(db: strata.Database) -> None:
    db.execute_script_("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);")
    db.execute_raw_("INSERT INTO counter VALUES (1, 0)")
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [
        context.Process(target=increment_counter, args=(db.path_, start)) for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=300)
    # A nonzero exit code means an exception (e.g. "database is locked") escaped a worker.
    assert [worker.exitcode for worker in workers] == [0] * PROCESSES
    assert db.query_raw_("SELECT n FROM counter", as_tuples=True) == [(PROCESSES * INCREMENTS,)]


def test_a_read_completes_while_another_thread_writes(db: strata.Database) -> None:
    """If the core held the GIL during the long INSERT, the main thread could not run."""
    db.execute_script_("CREATE TABLE big (n INTEGER); CREATE TABLE small (n INTEGER);")
    db.execute_raw_("INSERT INTO small VALUES (42)")
    writer_done = threading.Event()

    def long_write() -> None:
        db.execute_raw_(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) "
            "INSERT INTO big SELECT x FROM c"
        )
        writer_done.set()

    writer = threading.Thread(target=long_write)
    writer.start()
    time.sleep(0.05)  # let the writer enter SQLite
    reads_during_write = 0
    while not writer_done.is_set():
        assert db.query_raw_("SELECT n FROM small", as_tuples=True) == [(42,)]
        if not writer_done.is_set():
            reads_during_write += 1
    writer.join()
    assert reads_during_write > 0
    assert db.query_raw_("SELECT count(*) AS n FROM big") == [{"n": 3_000_000}]


CRASHING_WRITER = textwrap.dedent(
    """
    import sys, strata
    db = strata.connect(sys.argv[1])
    batch = 0
    while True:
        with db.transaction_():
            db.execute_many_raw_(
                "INSERT INTO t (batch, n) VALUES (?, ?)", ((batch, n) for n in range(100))
            )
            if batch == int(sys.argv[2]):
                # Hold an open transaction with uncommitted rows until killed.
                print("holding", flush=True)
                sys.stdin.read()
        print(batch, flush=True)
        batch += 1
    """
)


@pytest.mark.parametrize("hold_at_batch", [5, 10_000_000], ids=["idle-in-transaction", "busy"])
def test_sigkill_mid_transaction_keeps_every_committed_row(
    db_path: Path, hold_at_batch: int
) -> None:
    with strata.connect(db_path) as db:
        db.execute_raw_("CREATE TABLE t (batch INTEGER NOT NULL, n INTEGER NOT NULL)")
    child = subprocess.Popen(
        [sys.executable, "-c", CRASHING_WRITER, str(db_path), str(hold_at_batch)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    committed: list[int] = []
    deadline = time.monotonic() + 60
    for line in child.stdout:
        if line.strip() == "holding" or len(committed) >= 40 or time.monotonic() > deadline:
            break
        committed.append(int(line))
    # Kill while the child is inside a transaction (held, or one of many in flight).
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    assert committed, "the child committed nothing before the kill"

    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        batches = dict(conn.execute("SELECT batch, count(*) FROM t GROUP BY batch").fetchall())
    finally:
        conn.close()
    # Every batch the child reported as committed is there in full...
    assert all(batches.get(batch) == 100 for batch in committed)
    # ...and no batch is there in part: the killed transaction left nothing behind.
    assert set(batches.values()) == {100}
    if hold_at_batch == 5:
        assert sorted(batches) == committed == [0, 1, 2, 3, 4]
    # The lock died with the child: a new writer gets in at once.
    with strata.connect(db_path, busy_timeout=0) as db:
        db.execute_raw_("INSERT INTO t VALUES (-1, 0)")


OPENER = """
import sys, time
from pathlib import Path
import strata
database, start = sys.argv[1], Path(sys.argv[2])
while not start.exists():
    time.sleep(0.0005)
with strata.connect(database) as db:
    db.execute_raw_('CREATE TABLE IF NOT EXISTS seen (pid INTEGER)')
    db.execute_raw_('INSERT INTO seen VALUES (?)', 1)
"""


@pytest.mark.slow
def test_processes_opening_a_new_database_together_all_open_it(tmp_path: Path) -> None:
    """Switching a new file to WAL takes an exclusive lock that SQLite does not wait for:
    the core waits for it itself (up to the busy timeout), so processes starting together
    on a database that does not exist yet all open it."""
    start = tmp_path / "start"
    for attempt in range(5):
        database = tmp_path / f"new-{attempt}.db"
        openers = [
            subprocess.Popen(
                [sys.executable, "-c", OPENER, str(database), str(start)],
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(6)
        ]
        time.sleep(0.8)
        start.touch()
        for opener in openers:
            _, err = opener.communicate(timeout=60)
            assert opener.returncode == 0, err
        start.unlink()
        with strata.connect(database) as db:
            assert db.query_raw_("SELECT count(*) AS n FROM seen")[0]["n"] == 6
