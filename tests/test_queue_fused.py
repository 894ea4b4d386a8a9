"""Fewer transactions per job: `Queue.complete_and_claim` (a completion and the next claim in
one transaction), `run`'s claims ahead and group commits, and the file lock strata
processes queue on for SQLite's write lock, proven with real processes and SIGKILL. Each
test runs on SQLite and PostgreSQL (the ``backend`` fixture) unless it says why not."""

from __future__ import annotations

import fcntl
import json
import logging
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import strata
from backends import Backend
from strata.queue import Claim
from strata.queue.worker import PREFETCH_MAX
from support import bind, job
from test_queue_processes import BINDING, child_env, seeded

SCHEMAS = Path(__file__).resolve().parents[1] / "schema"


@pytest.fixture
def db(backend: Backend) -> Any:
    database = backend.connect(SCHEMAS / "render_manager.prisma")
    database.user.create(data={"id": "u1", "email": "a@x.io", "macUsernames": ["alice"]})
    return database


def states(db: Any) -> dict[str, int]:
    rows = db.query_raw_('SELECT status, count(*) FROM "Job" GROUP BY status', as_tuples=True)
    return {str(status): int(count) for status, count in rows}


# -- complete_and_claim ------------------------------------------------------------------------


def test_complete_and_claim_completes_and_claims_in_one_call(db: Any) -> None:
    q = bind(db)
    q.enqueue_many([job(priority=p, projectPath=f"/p/{p}") for p in (1, 4, 2, 3)])
    (first,) = q.claim("w")
    assert first.record.priority == 4
    nxt = q.complete_and_claim(first, {"outputPath": "/out/4"}, worker="w2", limit=2)
    assert [c.record.priority for c in nxt] == [3, 2]
    assert all(c.worker == "w2" and c.record.workerId == "w2" and c.token == 1 for c in nxt)
    done = db.job.find_unique_or_raise(where={"id": first.id})
    assert (done.status.name, done.outputPath, done.leaseExpiresAt) == ("COMPLETED", "/out/4", None)
    last = q.complete_and_claim(nxt[0], worker="w2", limit=5)
    assert [c.record.priority for c in last] == [1]
    q.complete(nxt[1])
    assert q.complete_and_claim(last[0], worker="w2") == []  # nothing due: [] without waiting
    assert states(db) == {"COMPLETED": 4}


def test_a_stale_claim_completes_nothing_and_claims_nothing(db: Any) -> None:
    q = bind(db)
    q.enqueue(job(projectPath="/a"))
    (claim,) = q.claim("w", limit=1)
    q.advance_clock(61)  # the lease runs out and another worker takes the job
    (thief,) = q.claim("thief", limit=1)
    assert thief.id == claim.id
    assert thief.token == 2
    q.enqueue(job(projectPath="/b"))
    with pytest.raises(strata.LeaseLostError, match="lease on this job was lost"):
        q.complete_and_claim(claim, {"outputPath": "/stale"}, worker="w", limit=5)
    # Neither half happened: the other ready job is still ready, the thief's job untouched.
    assert states(db) == {"QUEUED": 1, "RENDERING": 1}
    record = db.job.find_unique_or_raise(where={"id": claim.id})
    assert (record.outputPath, record.workerId, record.leaseToken) == (None, "thief", 2)
    assert db.job.find_first(where={"status": "QUEUED"}).leaseToken == 0


def test_complete_and_claim_takes_a_batch_all_or_nothing(db: Any) -> None:
    q = bind(db)
    q.enqueue_many([job(priority=p) for p in range(6)])
    batch = q.claim("w", limit=3)
    nxt = q.complete_and_claim(batch, {"outputPath": "/out"}, worker="w", limit=3)
    assert sorted(c.record.priority for c in nxt) == [0, 1, 2]
    assert states(db) == {"COMPLETED": 3, "RENDERING": 3}
    assert {db.job.find_unique_or_raise(where={"id": c.id}).outputPath for c in batch} == {"/out"}
    # One stale claim in the batch: no job of it completes and nothing is claimed.
    q.advance_clock(61)
    (stolen,) = q.claim("thief", limit=1)  # the lease ran out: three ready again
    assert stolen.id in {c.id for c in nxt}
    q.enqueue(job(priority=9))
    with pytest.raises(strata.LeaseLostError):
        q.complete_and_claim(nxt, worker="w", limit=5)
    assert states(db) == {"COMPLETED": 3, "RENDERING": 1, "QUEUED": 3}
    assert q.complete_and_claim([], worker="w", limit=1)[0].record.priority == 9


def test_a_cancelled_claim_raises_job_cancelled_and_claims_nothing(db: Any) -> None:
    q = bind(db)
    q.enqueue_many([job(), job()])
    (claim,) = q.claim("w")
    assert q.cancel(claim.id)
    with pytest.raises(strata.JobCancelledError):
        q.complete_and_claim(claim, worker="w")
    assert states(db) == {"CANCELLED": 1, "QUEUED": 1}


def test_complete_and_claim_checks_its_arguments_before_writing(db: Any) -> None:
    q = bind(db)
    q.enqueue_many([job(), job()])
    (claim,) = q.claim("w")
    with pytest.raises(strata.ValidationError, match="noSuchField"):
        q.complete_and_claim(claim, {"noSuchField": 1}, worker="w")
    with pytest.raises(strata.ValidationError, match="limit must be"):
        q.complete_and_claim(claim, worker="w", limit=0)
    with pytest.raises(strata.ValidationError, match="worker must be"):
        q.complete_and_claim(claim, worker="")
    with pytest.raises(strata.ValidationError, match="expected a Claim"):
        q.complete_and_claim("job-1", worker="w")  # type: ignore[arg-type]
    assert states(db) == {"QUEUED": 1, "RENDERING": 1}
    assert q.complete_and_claim(claim, worker="w") != []


# -- run(): claims ahead, group commits --------------------------------------------------------


def test_run_claims_ahead_and_completes_every_job_once(db: Any) -> None:
    q = bind(db)
    q.enqueue_many([job(priority=n % 7) for n in range(150)])
    seen: list[str] = []
    handled = q.run(lambda c: seen.append(c.id) or None, worker="node", exit_when_idle=True)
    assert handled == 150
    assert len(set(seen)) == 150
    rows = db.query_raw_(
        'SELECT status, min("leaseToken"), max("leaseToken"), min(attempts) FROM "Job" '
        "GROUP BY status",
        as_tuples=True,
    )
    assert [tuple(int(v) if i else str(v) for i, v in enumerate(r)) for r in rows] == [
        ("COMPLETED", 1, 1, 1)
    ]


def test_stopping_releases_the_jobs_claimed_ahead(db: Any) -> None:
    """Jobs claimed ahead but not started go back at once (ready, the attempt uncounted)
    in the transaction that records the last outcome; their leases are not left to run
    out."""
    q = bind(db)
    q.enqueue_many([job(priority=0) for _ in range(200)])
    stop = threading.Event()
    handled: list[str] = []

    def render(claim: Claim) -> None:
        handled.append(claim.id)
        if len(handled) == 40:  # by now the thread claims PREFETCH_MAX at a time
            stop.set()

    assert q.run(render, worker="node", stop=stop) == 40
    assert states(db) == {"COMPLETED": 40, "QUEUED": 160}
    rows = db.query_raw_(
        'SELECT count(*), max(attempts), count("leaseExpiresAt") FROM "Job" '
        "WHERE status = 'QUEUED' AND \"leaseToken\" = 1",
        as_tuples=True,
    )
    released, attempts, leased = (int(v) for v in rows[0])
    assert 0 < released < PREFETCH_MAX  # claimed ahead, handed back unstarted
    assert (attempts, leased) == (0, 0)
    assert q.claim("other", limit=200) != []  # claimable at once


def test_group_commit_with_threads_loses_and_repeats_nothing(db: Any) -> None:
    q = bind(db)
    q.enqueue_many([job(priority=n % 3) for n in range(300)])
    lock = threading.Lock()
    seen: list[str] = []

    def render(claim: Claim) -> dict[str, Any]:
        with lock:
            seen.append(claim.id)
        return {"outputPath": f"/out/{claim.worker}"}

    assert q.run(render, worker="node", concurrency=4, exit_when_idle=True) == 300
    assert len(set(seen)) == 300
    assert states(db) == {"COMPLETED": 300}
    outputs = {r.outputPath for r in db.job.find_many()}
    assert outputs <= {f"/out/node/{n}" for n in range(4)}


@pytest.mark.parametrize("concurrency", [1, 3])
def test_an_unstorable_result_fails_only_its_own_job(db: Any, concurrency: int) -> None:
    """A completion the database refuses (a foreign key here) would roll back a group's
    transaction, other threads' outcomes and claims included; each outcome is then written
    alone, so only that job fails, and the other threads claim again."""
    q = bind(db)
    q.enqueue_many([job(priority=0) for _ in range(30)])
    bad = db.job.find_many()[7].id

    def render(claim: Claim) -> dict[str, Any]:
        return {"userId": "nobody"} if claim.id == bad else {"outputPath": "/ok"}

    assert q.run(render, worker="node", concurrency=concurrency, exit_when_idle=True) == 30
    counts = states(db)
    assert counts["COMPLETED"] == 29
    assert counts.get("QUEUED", 0) == 1
    failed = db.job.find_unique_or_raise(where={"id": bad})
    assert failed.status.name == "QUEUED"
    assert "ForeignKey" in (failed.error or "")


def test_run_drops_a_job_cancelled_while_it_runs(db: Any, caplog: pytest.LogCaptureFixture) -> None:
    """The loop's heartbeat (one thread, moved from claim to claim) sees the cancellation;
    the outcome is not written and the cancellation is logged."""
    q = bind(db, lease=timedelta(seconds=0.3))
    q.enqueue(job())
    caplog.set_level(logging.INFO, logger="strata.queue")

    def render(claim: Claim) -> None:
        q.cancel(claim.id)
        time.sleep(0.35)  # past a beat (lease / 3)

    assert q.run(render, worker="node", exit_when_idle=True) == 1
    assert states(db) == {"CANCELLED": 1}
    assert any("was cancelled while it ran" in r.getMessage() for r in caplog.records)


def test_the_loop_heartbeat_keeps_a_long_job(db: Any) -> None:
    q = bind(db, lease=timedelta(seconds=0.3))
    q.enqueue(job())
    thief: list[Claim] = []

    def render(claim: Claim) -> None:
        deadline = time.monotonic() + 0.8  # the GIL held throughout: the beat is in Rust
        while time.monotonic() < deadline:
            pass
        thief.extend(q.claim("thief", limit=5))

    assert q.run(render, worker="node", exit_when_idle=True) == 1
    assert thief == []
    assert states(db) == {"COMPLETED": 1}


# -- processes: the write lock handed on through a file lock -----------------------------------

FUSED_WORKER = textwrap.dedent(
    """
    import json, sys
    import strata
    from pathlib import Path
    from test_queue_processes import BINDING
    with strata.connect(sys.argv[1], schema=Path(sys.argv[2]), busy_timeout=60) as db:
        q = db.queue_("Job", **BINDING)
        claims = q.claim(sys.argv[3], limit=1)
        while claims:
            (claim,) = claims
            claims = q.complete_and_claim(claim, worker=sys.argv[3])
            print(claim.id, flush=True)
    """
)


@pytest.mark.slow
def test_fused_workers_survive_a_sigkill_and_complete_each_job_once(
    backend: Backend, tmp_path: Path
) -> None:
    jobs = 6_000
    url, schema = seeded(backend, jobs)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", FUSED_WORKER, url, schema, f"w{n}"],
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        for n in range(4)
    ]
    assert workers[0].stdout is not None
    first = [workers[0].stdout.readline().strip() for _ in range(50)]  # it is at work
    workers[0].kill()  # SIGKILL, whatever it holds: the flock, a transaction, a claim
    outputs = [w.communicate(timeout=300)[0].split() for w in workers]
    outputs[0] = first + outputs[0]
    assert [w.returncode for w in workers] == [-9, 0, 0, 0]
    with strata.connect(url, schema=Path(schema)) as db:
        q = db.queue_("Job", **{**BINDING, "lease": timedelta(seconds=60)})
        q.advance_clock(120)  # the killed worker's claim is recovered
        while claims := q.claim("sweeper", limit=100):
            q.complete_many(claims)
        printed = [job for out in outputs for job in out]
        assert len(printed) == len(set(printed))  # no job completed twice
        rows = db.query_raw_(
            'SELECT status, count(*), max("leaseToken") FROM "Job" GROUP BY status',
            as_tuples=True,
        )
    status, count, token = rows[0]
    assert (len(rows), str(status), int(count)) == (1, "COMPLETED", jobs)
    assert int(token) <= 2  # only the killed worker's claim was claimed twice


FLOCK_HOLDER = textwrap.dedent(
    """
    import fcntl, sys, time
    lock = open(sys.argv[1] + "-strata-lock", "a")
    fcntl.flock(lock, fcntl.LOCK_EX)
    print("locked", flush=True)
    time.sleep(60)
    """
)


def test_a_write_waits_in_the_kernel_for_the_lock_and_a_killed_holder_lets_go(
    tmp_path: Path,
) -> None:
    # SQLite only: the file lock queues strata processes for SQLite's write lock.
    with strata.connect(tmp_path / "jobs.db", schema=SCHEMAS / "render_manager.prisma") as db:
        db.migrate_.push()
        db.user.create(data={"id": "u1", "email": "a@x.io", "macUsernames": []})
        q = bind(db)
        q.enqueue_many([job(), job()])
        holder = subprocess.Popen(
            [sys.executable, "-c", FLOCK_HOLDER, db.path_], stdout=subprocess.PIPE, text=True
        )
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        claimed: list[Claim] = []
        waited = threading.Thread(target=lambda: claimed.extend(q.claim("w")))
        waited.start()
        waited.join(timeout=0.5)
        assert waited.is_alive()
        assert claimed == []
        killed = time.monotonic()
        holder.kill()
        holder.wait()
        waited.join(timeout=10)
        assert not waited.is_alive()
        assert len(claimed) == 1
        assert Path(f"{db.path_}-strata-lock").exists()
        assert time.monotonic() - killed < 2  # woken by the release, not by a poll
        # The lock is free for the next holder too.
        with open(f"{db.path_}-strata-lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(lock, fcntl.LOCK_UN)
        assert json.loads(json.dumps(states(db))) == {"QUEUED": 1, "RENDERING": 1}


def test_a_holder_that_never_lets_go_delays_a_write_by_the_busy_timeout_at_most(
    tmp_path: Path,
) -> None:
    """SQLite only: a strata process stopped while it holds the turn (SIGSTOP, a frozen
    container) must not stop the others: past the busy timeout a write goes on without its
    turn, and SQLite's own lock (free here) decides."""
    schema = SCHEMAS / "render_manager.prisma"
    with strata.connect(tmp_path / "jobs.db", schema=schema, busy_timeout=0.5) as db:
        db.migrate_.push()
        db.user.create(data={"id": "u1", "email": "a@x.io", "macUsernames": []})
        q = bind(db)
        q.enqueue_many([job()])
        holder = subprocess.Popen(
            [sys.executable, "-c", FLOCK_HOLDER, db.path_], stdout=subprocess.PIPE, text=True
        )
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "locked"
            began = time.monotonic()
            claimed = q.claim("w")
            waited = time.monotonic() - began
        finally:
            holder.kill()
            holder.wait()
        assert len(claimed) == 1
        assert 0.4 <= waited < 3
