"""The queue's concurrency claims, proven with real processes and SIGKILL, on SQLite and on
PostgreSQL (the ``backend`` fixture) unless a test says why not. Worker processes connect
with the backend's URL and the schema file it wrote."""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import strata
from backends import SEEDS, Backend

pytestmark = pytest.mark.slow

SCHEMA = Path(__file__).resolve().parents[1] / "schema" / "render_manager.prisma"
JOBS = 20_000
PROCESSES = 4

BINDING: dict[str, Any] = {
    "ready": {"status": "QUEUED"},
    "claimed": {"status": "RENDERING"},
    "done": {"status": "COMPLETED"},
    "failed": {"status": "FAILED"},
    "order_by": [{"priority": "desc"}, {"submittedAt": "asc"}],
}


def child_env() -> dict[str, str]:
    """The environment of a worker run with ``python -c``: this folder on its path (for
    the bindings above), before whatever path this process was given."""
    path = [str(Path(__file__).parent), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}


def seeded(backend: Backend, jobs: int) -> tuple[str, str]:
    """A database with ``jobs`` ready jobs; its URL and schema file, for worker processes."""
    with backend.connect(SCHEMA) as db:
        db.user.create(data={"id": "u1", "email": "a@x.io", "macUsernames": []})
        q = db.queue_("Job", **BINDING)
        q.enqueue_many(
            [
                {
                    "id": f"job-{n:05}",
                    "userId": "u1",
                    "projectPath": f"/p/{n}.aep",
                    "source": "bravo",
                    "macUsername": "alice",
                    "fileTimestamp": datetime(2026, 11, 22, tzinfo=UTC),
                    "nexrenderConfig": {},
                    "priority": n % 10,
                }
                for n in range(jobs)
            ]
        )
    return backend.url, str(backend.folder / f"schema.{backend.provider}.prisma")


def claim_and_complete(url: str, schema: str, worker: str, out: str, start: Any) -> None:
    """Claim in batches and complete each job, recording what this worker completed."""
    completed = []
    with strata.connect(url, schema=Path(schema), busy_timeout=60) as db:
        q = db.queue_("Job", **BINDING)
        start.wait()
        while True:
            claims = q.claim(worker, limit=16)
            if not claims:
                break
            for claim in claims:
                q.complete(claim, data={"outputPath": f"/out/{worker}"})
                completed.append(claim.id)
    Path(out).write_text(json.dumps(completed))


def test_every_job_is_completed_exactly_once_by_four_processes(
    backend: Backend, tmp_path: Path
) -> None:
    url, schema = seeded(backend, JOBS)
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    outputs = [tmp_path / f"worker-{n}.json" for n in range(PROCESSES)]
    workers = [
        context.Process(
            target=claim_and_complete, args=(url, schema, f"w{n}", str(outputs[n]), start)
        )
        for n in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=600)
    # A nonzero exit code means an exception (e.g. "database is locked") escaped a worker.
    assert [worker.exitcode for worker in workers] == [0] * PROCESSES
    done = [json.loads(out.read_text()) for out in outputs]
    every = [job for ids in done for job in ids]
    assert len(every) == JOBS
    assert len(set(every)) == JOBS
    assert all(ids for ids in done), "every process got some of the work"
    with strata.connect(url, schema=Path(schema)) as db:
        rows = db.query_raw_(
            'SELECT status, count(*), min("leaseToken"), max("leaseToken") FROM "Job" '
            "GROUP BY status",
            as_tuples=True,
        )
        assert [tuple(str(v) for v in row) for row in rows] == [
            ("COMPLETED", str(JOBS), "1", "1")  # each claimed once, by one worker
        ]
        for n, ids in enumerate(done):
            owned = db.job.find_many(where={"workerId": f"w{n}"})
            assert {r.outputPath for r in owned} == {f"/out/w{n}"}
            assert sorted(ids) == sorted(r.id for r in owned)


HOLDING_WORKER = textwrap.dedent(
    """
    import sys, time
    from datetime import timedelta
    import strata
    from pathlib import Path
    from test_queue_processes import BINDING
    db = strata.connect(sys.argv[1], schema=Path(sys.argv[2]))
    q = db.queue_("Job", **{**BINDING, "lease": timedelta(seconds=float(sys.argv[3]))})
    claims = q.claim("doomed", limit=3)
    print(" ".join(f"{c.id}:{c.token}" for c in claims), flush=True)
    time.sleep(600)  # "rendering", until SIGKILL
    """
)


def test_a_killed_workers_jobs_are_reclaimed_and_its_late_completion_refused(
    backend: Backend,
) -> None:
    url, schema = seeded(backend, 5)
    lease = 1.0
    env = child_env()
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDING_WORKER, url, schema, str(lease)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    held = dict(item.split(":") for item in child.stdout.readline().split())
    assert len(held) == 3
    os.kill(child.pid, signal.SIGKILL)
    child.wait()

    with strata.connect(url, schema=Path(schema)) as db:
        q = db.queue_("Job", **BINDING)
        others = q.claim("survivor", limit=10)
        assert {c.id for c in others}.isdisjoint(held)  # still leased to the dead worker
        for claim in others:
            q.complete(claim)
        time.sleep(lease + 0.2)
        reclaimed = q.claim("survivor", limit=10)
        assert {c.id for c in reclaimed} == set(held)
        assert all(c.token == int(held[c.id]) + 1 for c in reclaimed)
        assert all(c.attempt == 2 for c in reclaimed)

        # The dead worker's completion arrives late, with its token: refused, unchanged.
        stale = reclaimed[0]
        late = strata.queue.Claim(
            record=stale.record, token=int(held[stale.id]), id=stale.id, worker="doomed"
        )
        before = db.job.find_unique(where={"id": stale.id})
        with pytest.raises(strata.LeaseLostError):
            q.complete(late, data={"outputPath": "/from/the/dead"})
        assert db.job.find_unique(where={"id": stale.id}) == before
        for claim in reclaimed:
            q.complete(claim)
        assert db.job.count(where={"status": "COMPLETED"}) == 5
        if not backend.is_postgres:
            assert db.query_raw_("PRAGMA integrity_check") == [{"integrity_check": "ok"}]


LATE_JOB = {
    "userId": "u1",
    "projectPath": "/p/late.aep",
    "source": "plugin",
    "macUsername": "bob",
    "fileTimestamp": datetime(2026, 11, 22, tzinfo=UTC),
    "nexrenderConfig": {},
}


def enqueue_later(url: str, schema: str, delay: float, how: str) -> None:
    """After ``delay``: enqueue a job (``how`` = "enqueue"), create one behind the queue's
    back, so that no notification is sent ("create"), or enqueue one in a transaction that
    rolls back and then one that commits ("rollback")."""
    time.sleep(delay)
    with strata.connect(url, schema=Path(schema)) as db:
        q = db.queue_("Job", **BINDING)
        if how == "create":
            db.job.create(data={**LATE_JOB, **BINDING["ready"]})
            return
        if how == "rollback":
            with pytest.raises(RuntimeError), db.transaction_():
                q.enqueue({**LATE_JOB, "projectPath": "/p/never.aep"})
                raise RuntimeError("roll back")
            time.sleep(1.5)
        q.enqueue(LATE_JOB)


def test_a_waiting_worker_wakes_for_a_job_from_another_process(backend: Backend) -> None:
    """The wait itself ends when the other process's enqueue commits (PostgreSQL: its
    NOTIFY; SQLite: the commit seen through data_version), well before its timeout."""
    url, schema = seeded(backend, 0)
    context = multiprocessing.get_context("spawn")
    producer = context.Process(target=enqueue_later, args=(url, schema, 0.5, "enqueue"))
    with strata.connect(url, schema=Path(schema)) as db:
        q = db.queue_("Job", **BINDING)
        assert q.claim("w") == []
        producer.start()
        started = time.monotonic()
        woke = q._core.wait(30)
        waited = time.monotonic() - started
        claims = q.claim("w")
        producer.join()
    assert woke
    assert [c.record.projectPath for c in claims] == ["/p/late.aep"]
    assert waited < 10


def test_a_waiting_worker_finds_a_job_that_sent_no_notification(backend: Backend) -> None:
    """A job written without the queue (no NOTIFY on PostgreSQL) is still claimed: the
    waiter's timeout poll is the fallback for a lost notification."""
    url, schema = seeded(backend, 0)
    context = multiprocessing.get_context("spawn")
    producer = context.Process(target=enqueue_later, args=(url, schema, 0.5, "create"))
    with strata.connect(url, schema=Path(schema)) as db:
        q = db.queue_("Job", **BINDING)
        producer.start()
        claims = q.wait_and_claim("w", timeout=30)
        producer.join()
    assert [c.record.projectPath for c in claims] == ["/p/late.aep"]


def test_a_job_enqueued_in_a_transaction_that_rolls_back_never_runs(backend: Backend) -> None:
    url, schema = seeded(backend, 0)
    context = multiprocessing.get_context("spawn")
    producer = context.Process(target=enqueue_later, args=(url, schema, 0.2, "rollback"))
    with strata.connect(url, schema=Path(schema)) as db:
        q = db.queue_("Job", **BINDING)
        producer.start()
        claims = q.wait_and_claim("w", timeout=30)
        producer.join()
        assert producer.exitcode == 0
        assert [c.record.projectPath for c in claims] == ["/p/late.aep"]
        assert q.claim("w", limit=10) == []
        assert db.job.count() == 1


LOCK_HOLDER = textwrap.dedent(
    """
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")  # the write lock, as another app's long write holds it
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    conn.execute("COMMIT")
    """
)


def test_run_rides_out_a_write_lock_held_by_another_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # SQLite only: PostgreSQL has no database-wide write lock for another process to hold.
    jobs = 8
    url, _ = seeded(Backend("sqlite", str(tmp_path / "jobs.db"), tmp_path), jobs)
    path = Path(url)
    holders: list[subprocess.Popen[str]] = []
    first = threading.Lock()
    stop = threading.Event()
    caplog.set_level(logging.INFO, logger="strata")
    # strata gives up on the lock after 0.1 s, so every write meets BusyError for a while.
    with strata.connect(path, schema=SCHEMA, busy_timeout=0.1) as db:
        q = db.queue_("Job", **BINDING)

        def render(claim: strata.queue.Claim) -> dict[str, Any]:
            if first.acquire(blocking=False):  # never released: one job only
                # The first job waits for the others to finish, so the other workers are
                # idle and claiming when another process takes the write lock for 1.5 s.
                while db.job.count(where={"status": "COMPLETED"}) < jobs - 1:
                    time.sleep(0.01)
                holder = subprocess.Popen(
                    [sys.executable, "-c", LOCK_HOLDER, str(path), "1.5"],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                holders.append(holder)
                assert holder.stdout is not None
                assert holder.stdout.readline().strip() == "locked"
            return {"outputPath": f"/out/{claim.id}"}

        def stop_when_done() -> None:
            give_up = time.monotonic() + 60  # if the run lost jobs, the asserts say so
            while db.job.count(where={"status": "COMPLETED"}) < jobs:
                if time.monotonic() > give_up:
                    break
                time.sleep(0.05)
            stop.set()

        watcher = threading.Thread(target=stop_when_done)
        watcher.start()
        started = time.monotonic()
        handled = q.run(render, worker="node", concurrency=3, stop=stop)
        took = time.monotonic() - started
        watcher.join()
        rows = db.query_raw_(
            'SELECT status, "outputPath" = \'/out/\' || id, count(*), max("leaseToken") '
            'FROM "Job" GROUP BY 1, 2',
            as_tuples=True,
        )
    assert holders[0].wait(timeout=30) == 0
    assert handled == jobs
    assert rows == [("COMPLETED", 1, jobs, 1)]  # every job done once, none claimed twice
    assert took > 1.0  # the run waited the lock out
    retries = [r for r in caplog.records if r.name == "strata.queue" and "retry" in r.msg]
    assert all("BusyError" in r.getMessage() for r in retries)
    assert {r.levelno for r in retries} <= {logging.INFO, logging.WARNING}
    # Both a claim and the completion of the job in hand met the lock, and were retried.
    assert any(": claim failed" in r.getMessage() for r in retries)
    assert any("complete job" in r.getMessage() for r in retries)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


GPU_SCHEMA = SEEDS / "gpu_marketplace.prisma"
GPU_BINDING: dict[str, Any] = {
    "ready": {"status": "PENDING"},
    "claimed": {"status": {"in": ["ASSIGNED", "RUNNING"]}},
    "done": {"status": "COMPLETED"},
    "failed": {"status": "FAILED"},
}

RUNNING_WORKER = textwrap.dedent(
    """
    import sys, time
    from datetime import timedelta
    import strata
    from pathlib import Path
    from test_queue_processes import GPU_BINDING
    db = strata.connect(sys.argv[1], schema=Path(sys.argv[2]))
    q = db.queue_("Job", **{**GPU_BINDING, "lease": timedelta(seconds=float(sys.argv[3]))})
    (claim,) = q.claim("rig-doomed")
    q.mark(claim, {"status": "RUNNING", "progress": 10})
    print(f"{claim.id}:{claim.token}", flush=True)
    time.sleep(600)  # "computing", until SIGKILL
    """
)


def test_a_running_job_of_a_killed_worker_is_recovered_and_completed_once(
    backend: Backend,
) -> None:
    # Without order_by, SQLite claims by rowid through the status index and sorts;
    # PostgreSQL claims by primary key, which its index gives in order.
    advice: Any = (
        contextlib.nullcontext()
        if backend.is_postgres
        else pytest.warns(UserWarning, match="claims would sort")
    )
    with backend.seed("gpu_marketplace") as db:
        db.user.create(data={"id": "u1", "qubicAddress": "Q" * 60})
        with advice:
            q = db.queue_("Job", **GPU_BINDING)
        q.enqueue_many(
            [{"userId": "u1", "estimatedCost": 2, "inputData": {"n": n}} for n in (1, 2)]
        )
    url = backend.url
    schema = (
        GPU_SCHEMA.with_name("gpu_marketplace.postgresql.prisma")
        if backend.is_postgres
        else GPU_SCHEMA
    )
    lease = 1.0
    env = child_env()
    child = subprocess.Popen(
        [sys.executable, "-W", "ignore", "-c", RUNNING_WORKER, url, str(schema), str(lease)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    job_id, token = child.stdout.readline().strip().split(":")
    os.kill(child.pid, signal.SIGKILL)
    child.wait()

    with strata.connect(url, schema=schema) as db:
        assert db.job.find_unique_or_raise(where={"id": job_id}).status.name == "RUNNING"
        with advice:
            q = db.queue_("Job", **GPU_BINDING)
        (other,) = q.claim("rig-2", limit=5)  # the RUNNING job is still leased
        assert other.id != job_id
        q.complete(other)
        time.sleep(lease + 0.2)
        (recovered,) = q.claim("rig-2", limit=5)
        assert recovered.id == job_id
        assert recovered.record.status.name == "ASSIGNED"
        assert (recovered.token, recovered.attempt) == (int(token) + 1, 2)
        dead = strata.queue.Claim(
            record=recovered.record, token=int(token), id=job_id, worker="rig-doomed"
        )
        with pytest.raises(strata.LeaseLostError):
            q.complete(dead, data={"result": {"from": "the dead"}})
        q.mark(recovered, {"status": "RUNNING"})
        q.complete(recovered, data={"result": {"from": "rig-2"}})
        with pytest.raises(strata.LeaseLostError):
            q.complete(recovered)  # exactly once
        rows = [
            (r.id, r.status.name, r.workerId, r.leaseToken, r.attempts) for r in db.job.find_many()
        ]
        assert sorted(rows) == sorted(
            [
                (other.id, "COMPLETED", "rig-2", 1, 1),
                (job_id, "COMPLETED", "rig-2", int(token) + 1, 2),
            ]
        )
        assert db.job.find_unique_or_raise(where={"id": job_id}).result == {"from": "rig-2"}


CLAIMING_WORKER = textwrap.dedent(
    """
    import json, sys
    from datetime import timedelta
    import strata
    from test_queue_processes import BINDING, SCHEMA

    path, worker, datetime_format, advance = sys.argv[1:5]
    with strata.connect(path, schema=SCHEMA, datetime_format=datetime_format) as db:
        q = db.queue_("Job", **{**BINDING, "lease": timedelta(minutes=10)})
        q.advance_clock(float(advance))
        print(json.dumps([[c.id, c.token] for c in q.claim(worker, limit=10)]), flush=True)
    """
)


def claim_in_a_process(path: Path, worker: str, datetime_format: str, advance: float) -> Any:
    env = child_env()
    done = subprocess.run(
        [sys.executable, "-c", CLAIMING_WORKER, str(path), worker, datetime_format, str(advance)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    return json.loads(done.stdout)


def test_a_leased_job_is_not_handed_out_again_by_a_worker_with_another_datetime_format(
    tmp_path: Path,
) -> None:
    """SQLite only: a PostgreSQL timestamp has one form. The database holds integer
    milliseconds (Prisma's native engine writes them). One
    worker claims a job with a 10-minute lease; a second worker, connected with the default
    iso8601, must not take it while the lease has 10 minutes left: the lease column's form
    is detected, so the claim compares integers with integers."""
    path = tmp_path / "jobs.db"
    with strata.connect(path, schema=SCHEMA, datetime_format="unixepoch-ms") as db:
        db.migrate_.push()
        db.user.create(data={"id": "u1", "email": "a@x.io", "macUsernames": []})
        db.queue_("Job", **BINDING).enqueue(
            {
                "id": "job-1",
                "userId": "u1",
                "projectPath": "/p/1.aep",
                "source": "bravo",
                "macUsername": "alice",
                "fileTimestamp": datetime(2026, 11, 22, tzinfo=UTC),
                "nexrenderConfig": {},
            }
        )
    assert claim_in_a_process(path, "native", "unixepoch-ms", 0) == [["job-1", 1]]
    with strata.connect(path, schema=SCHEMA) as db:
        (lease,) = db.query_raw_('SELECT "leaseExpiresAt" AS lease FROM "Job"')
        assert isinstance(lease["lease"], int)
    assert claim_in_a_process(path, "second", "iso8601", 0) == []
    assert claim_in_a_process(path, "second", "iso8601", 9 * 60) == []
    # Once the lease has run out, the second worker recovers the job, with a new token,
    # and stamps the lease in the column's form.
    assert claim_in_a_process(path, "second", "iso8601", 11 * 60) == [["job-1", 2]]
    with strata.connect(path, schema=SCHEMA) as db:
        assert db.query_raw_(
            'SELECT typeof("leaseExpiresAt") AS t, typeof("startedAt") AS s FROM "Job"'
        ) == [{"t": "integer", "s": "integer"}]


WAITING_WORKER = textwrap.dedent(
    """
    import json, sys
    from datetime import timedelta
    import strata
    from test_queue_processes import BINDING, SCHEMA

    path, worker, datetime_format = sys.argv[1:4]
    with strata.connect(path, schema=SCHEMA, datetime_format=datetime_format) as db:
        q = db.queue_("Job", **{**BINDING, "lease": timedelta(minutes=10)})
        print("bound", flush=True)
        for line in sys.stdin:  # one claim per line: the clock advance in seconds
            q.advance_clock(float(line))
            print(json.dumps([[c.id, c.token] for c in q.claim(worker, limit=10)]), flush=True)
    """
)


def test_workers_that_bound_an_empty_lease_column_with_different_formats_never_share_a_job(
    tmp_path: Path,
) -> None:
    """SQLite only: a PostgreSQL timestamp has one form. Both workers bind while no job has
    a lease, so each takes its own datetime_format
    for the column; the first then claims with a 10-minute lease, in integers. The second
    compares only leases in its own form, so it never takes that job for expired."""
    url, _ = seeded(Backend("sqlite", str(tmp_path / "jobs.db"), tmp_path), 1)
    path = Path(url)
    env = child_env()
    workers = {
        name: subprocess.Popen(
            [sys.executable, "-c", WAITING_WORKER, str(path), name, datetime_format],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name, datetime_format in [("native", "unixepoch-ms"), ("adapter", "iso8601")]
    }

    def claim(name: str, advance: float = 0) -> Any:
        worker = workers[name]
        assert worker.stdin is not None
        assert worker.stdout is not None
        worker.stdin.write(f"{advance}\n")
        worker.stdin.flush()
        return json.loads(worker.stdout.readline())

    try:
        for worker in workers.values():
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "bound"
        assert claim("native") == [["job-00000", 1]]
        assert claim("adapter") == []
        assert claim("adapter", 11 * 60) == []  # not even once the lease has run out
        assert claim("native", 11 * 60) == [["job-00000", 2]]  # its own worker recovers it
    finally:
        for worker in workers.values():
            assert worker.stdin is not None
            worker.stdin.close()
            worker.wait(timeout=60)


def enqueue_keys(url: str, schema: str, keys: int, rounds: int, start: Any) -> None:
    with strata.connect(url, schema=Path(schema)) as db:
        q = db.queue_("Job", **BINDING)
        start.wait()
        for n in range(rounds):
            q.enqueue({**LATE_JOB, "projectPath": f"/p/{n}"}, unique_key=f"key-{n % keys}")


def test_processes_enqueueing_one_unique_key_at_once_make_one_job(backend: Backend) -> None:
    """Check-then-insert under concurrency: SQLite's write lock serialises it, PostgreSQL's
    enqueue takes an advisory lock for the table (read committed alone would let two
    processes both see no job with the key, and both insert one)."""
    text = SCHEMA.read_text()
    attempts = "  attempts       Int       @default(0)\n"
    with backend.connect(text.replace(attempts, attempts + "  uniqueKey      String?\n")) as db:
        db.user.create(data={"id": "u1", "email": "a@x.io", "macUsernames": []})
    schema = str(backend.folder / f"schema.{backend.provider}.prisma")
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    producers = [
        context.Process(target=enqueue_keys, args=(backend.url, schema, 5, 40, start))
        for _ in range(PROCESSES)
    ]
    for producer in producers:
        producer.start()
    start.set()
    for producer in producers:
        producer.join(timeout=120)
    assert [p.exitcode for p in producers] == [0] * PROCESSES
    with strata.connect(backend.url, schema=Path(schema)) as db:
        keys = sorted(r.uniqueKey for r in db.job.find_many())
    assert keys == [f"key-{n}" for n in range(5)]


def test_a_waiting_worker_holds_no_pooled_connection(backend: Backend) -> None:
    """With one pooled connection (PostgreSQL) or reader (SQLite), reads still run while a
    worker waits: the waiter listens, or polls, on a connection of its own."""
    url, schema = seeded(backend, 0)
    with strata.connect(url, schema=Path(schema), readers=1, busy_timeout=1) as db:
        q = db.queue_("Job", **BINDING)
        waiter = threading.Thread(target=q.wait_and_claim, args=("w",), kwargs={"timeout": 3})
        waiter.start()
        time.sleep(0.3)
        started = time.monotonic()
        for _ in range(20):
            assert db.job.count() == 0
        assert time.monotonic() - started < 1
        waiter.join()


def test_a_listener_the_server_dropped_is_opened_again(backend: Backend) -> None:
    if not backend.is_postgres:
        pytest.skip("PostgreSQL only: SQLite's waiters poll a reader, they do not listen")
    url, schema = seeded(backend, 0)
    context = multiprocessing.get_context("spawn")
    with strata.connect(url, schema=Path(schema)) as db:
        q = db.queue_("Job", **BINDING)
        assert q._core.wait(0.1) is False  # the listener is open now
        (ended,) = db.query_raw_(
            "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity "
            "WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
        )
        assert ended["n"] == 1
        # The broken listener delays the wake-up, but the job is found.
        producer = context.Process(target=enqueue_later, args=(url, schema, 0.3, "enqueue"))
        producer.start()
        (claim,) = q.wait_and_claim("w", timeout=30)
        producer.join()
        q.complete(claim)
        # And the next wait listens again: woken by the notification, not its timeout.
        producer = context.Process(target=enqueue_later, args=(url, schema, 0.3, "enqueue"))
        producer.start()
        started = time.monotonic()
        assert q._core.wait(20) is True
        assert time.monotonic() - started < 10
        producer.join()
