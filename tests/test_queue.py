"""The job queue on the render-manager seed: claims in priority order, leases, fencing,
retries, cancellation, delayed and unique jobs, and the binding's errors. Each test runs on
SQLite and on PostgreSQL (the ``backend`` fixture) unless it says why not."""

from __future__ import annotations

import logging
import re
import threading
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import strata
from backends import Backend
from strata.queue import Claim, Queue
from support import bind, job

SCHEMAS = Path(__file__).resolve().parents[1] / "schema"


@pytest.fixture
def db(backend: Backend) -> Any:
    database = backend.connect(SCHEMAS / "render_manager.prisma")
    database.user.create(data={"id": "u1", "email": "a@x.io", "macUsernames": ["alice"]})
    return database


def stored(db: Any, id: str) -> Any:
    return db.job.find_unique_or_raise(where={"id": id})


# -- claiming ------------------------------------------------------------------------------


def test_claims_follow_priority_then_submission(db: Any) -> None:
    q = bind(db)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for n, priority in enumerate([1, 5, 3, 5, 0]):
        q.enqueue(job(priority=priority, projectPath=f"/p/{n}", submittedAt=base + timedelta(n)))
    claims = q.claim("w1", limit=3)
    assert [(c.record.priority, c.record.projectPath) for c in claims] == [
        (5, "/p/1"),
        (5, "/p/3"),
        (3, "/p/2"),
    ]
    for claim in claims:
        assert claim.record.status.name == "RENDERING"
        assert claim.record.workerId == "w1"
        assert claim.token == 1
        assert claim.attempt == 1
        assert claim.record.startedAt is not None
    assert [c.record.priority for c in q.claim("w2", limit=10)] == [1, 0]
    assert q.claim("w3") == []


def test_only_ready_jobs_are_claimed(db: Any) -> None:
    q = bind(db)
    db.job.create_many(data=[job(status="PENDING"), job(status="VALIDATING"), job(status="FAILED")])
    assert q.claim("w", limit=10) == []


def test_a_delayed_job_is_not_claimed_early(db: Any) -> None:
    q = bind(db)
    q.enqueue(job(projectPath="/later"), run_at=timedelta(seconds=30))
    q.enqueue(job(projectPath="/at"), run_at=q.now() + timedelta(seconds=90))
    assert q.claim("w", limit=5) == []
    assert q.stats().delayed == 2
    q.advance_clock(31)
    (later,) = q.claim("w", limit=5)
    assert later.record.projectPath == "/later"
    q.complete(later)
    q.advance_clock(60)
    assert [c.record.projectPath for c in q.claim("w", limit=5)] == ["/at"]


# -- fencing -------------------------------------------------------------------------------


def test_complete_writes_the_data_and_the_done_state(db: Any) -> None:
    q = bind(db)
    q.enqueue(job())
    (claim,) = q.claim("w")
    record = q.complete(claim, data={"outputPath": "/renders/a.mov"})
    assert record.status.name == "COMPLETED"
    assert record.outputPath == "/renders/a.mov"
    assert record.completedAt is not None
    assert record.leaseExpiresAt is None


def test_an_expired_lease_is_reclaimed_and_the_old_token_is_fenced_off(db: Any) -> None:
    q = bind(db)
    q.enqueue(job())
    (first,) = q.claim("dead-worker")
    assert q.claim("other") == []  # the lease still holds
    q.advance_clock(61)
    (second,) = q.claim("other")
    assert second.id == first.id
    assert second.token == first.token + 1
    assert second.attempt == 2
    before = stored(db, first.id)
    for late in (
        lambda: q.complete(first, data={"outputPath": "/stale"}),
        lambda: q.fail(first, "stale"),
        lambda: q.heartbeat(first),
        lambda: q.progress(first, 50),
        lambda: q.release(first),
    ):
        with pytest.raises(strata.LeaseLostError):
            late()
    assert stored(db, first.id) == before  # nothing the stale worker did landed
    assert q.complete(second).status.name == "COMPLETED"


def test_complete_many_completes_the_current_claims_and_returns_the_stale(db: Any) -> None:
    q = bind(db)
    q.enqueue_many([job(priority=n) for n in range(5)])
    claims = q.claim("w", limit=5)
    q.complete(claims[1])
    lost = q.complete_many(claims, data={"outputPath": "/batch"})
    assert lost == [claims[1]]
    assert db.job.count(where={"status": "COMPLETED", "outputPath": "/batch"}) == 4
    assert db.job.count(where={"status": "COMPLETED"}) == 5


def test_settling_twice_is_refused(db: Any) -> None:
    q = bind(db)
    q.enqueue(job())
    (claim,) = q.claim("w")
    q.complete(claim)
    with pytest.raises(strata.LeaseLostError, match="lease on this job was lost"):
        q.complete(claim)


def test_heartbeat_and_progress_extend_the_lease(db: Any) -> None:
    q = bind(db)
    q.enqueue(job())
    (claim,) = q.claim("w")
    q.advance_clock(50)
    q.heartbeat(claim)
    q.advance_clock(50)
    q.progress(claim, 40.4, logs="frame 1\n")
    q.progress(claim, 80, logs="frame 2\n")
    q.advance_clock(50)
    assert q.claim("thief") == []  # 150 s after the claim, but renewed at 100 s
    record = stored(db, claim.id)
    assert (record.progress, record.logs) == (80, "frame 1\nframe 2\n")


def test_a_heartbeat_thread_keeps_a_long_job(db: Any) -> None:
    q = bind(db, lease=timedelta(seconds=0.3))
    q.enqueue(job())
    (claim,) = q.claim("w")
    with q.working(claim, every=0.05) as beat:
        # The GIL is held by a busy loop, not released: the beat runs in Rust anyway.
        deadline = time.monotonic() + 0.8
        while time.monotonic() < deadline:
            pass
        assert beat.state == "running"
        assert q.claim("thief") == []
    assert beat.state == "stopped"
    q.complete(claim)


# -- failure, retries and cancellation -----------------------------------------------------


def test_fail_retries_with_backoff_then_fails_for_good(db: Any) -> None:
    q = bind(db)
    q.enqueue(job())
    for attempt in (1, 2):
        (claim,) = q.claim("w")
        assert claim.attempt == attempt
        record = q.fail(claim, RuntimeError(f"crash {attempt}"))
        assert record.status.name == "QUEUED"
        assert record.error == f"RuntimeError: crash {attempt}"
        assert q.claim("w") == []  # backing off: 1 s, then 2 s
        q.advance_clock(2 ** (attempt - 1) + 0.01)
    (claim,) = q.claim("w")
    record = q.fail(claim, "out of memory")
    assert record.status.name == "FAILED"
    assert record.error == "out of memory"
    assert record.attempts == 3
    q.advance_clock(3600)
    assert q.claim("w") == []


def test_a_final_failure_skips_the_retries(db: Any) -> None:
    q = bind(db)
    q.enqueue(job())
    (claim,) = q.claim("w")
    assert q.fail(claim, "bad project file", final=True).status.name == "FAILED"


def test_a_job_whose_workers_keep_dying_is_failed(db: Any) -> None:
    q = bind(db)
    created = q.enqueue(job())
    for _ in range(3):
        assert len(q.claim("doomed")) == 1
        q.advance_clock(61)
    assert q.claim("w") == []
    record = stored(db, created.id)
    assert record.status.name == "FAILED"
    assert "presumed dead" in record.error


def test_release_gives_the_job_back_without_counting_the_attempt(db: Any) -> None:
    q = bind(db)
    q.enqueue(job())
    (claim,) = q.claim("w")
    assert q.release(claim).attempts == 0
    (again,) = q.claim("w2")
    assert again.attempt == 1


def test_cancel_a_ready_job_and_a_running_one(db: Any) -> None:
    q = bind(db)
    ready = q.enqueue(job(priority=0))
    q.enqueue(job(priority=9))
    (running,) = q.claim("w")
    assert q.cancel(ready.id) is True
    assert q.cancel(running.id) is True
    with pytest.raises(strata.JobCancelledError):
        q.heartbeat(running)
    with pytest.raises(strata.JobCancelledError):
        q.progress(running, 10)
    with pytest.raises(strata.LeaseLostError):  # JobCancelledError is a LeaseLostError
        q.complete(running)
    assert stored(db, running.id).status.name == "CANCELLED"
    assert q.cancel(running.id) is False  # already finished
    assert q.claim("w") == []
    with pytest.raises(strata.RecordNotFoundError):
        q.cancel("no-such-job")


def test_the_heartbeat_thread_sees_a_cancellation(db: Any) -> None:
    q = bind(db)
    q.enqueue(job())
    (claim,) = q.claim("w")
    with q.working(claim, every=0.02) as beat:
        q.cancel(claim.id)
        deadline = time.monotonic() + 2
        while beat.state == "running" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert beat.state == "cancelled"


@pytest.fixture
def blocked_heartbeat(tmp_path: Path) -> Any:
    """SQLite only: PostgreSQL has no database-wide write lock to block on. A heartbeat
    whose thread is waiting for the write lock, held by a transaction on another thread
    that needs the GIL to end it (after 0.5 s of sleep). Whoever then waits for the
    heartbeat with the GIL held stops everything until the heartbeat gives up, at the busy
    timeout (3 s): so a regression fails on the clock instead of hanging."""
    database = strata.connect(
        tmp_path / "render.db", schema=SCHEMAS / "render_manager.prisma", busy_timeout=3
    )
    database.migrate_.push()
    database.user.create(data={"id": "u1", "email": "a@x.io", "macUsernames": ["alice"]})
    q = bind(database)
    q.enqueue(job())
    (claim,) = q.claim("w")
    holding = threading.Event()

    def hold() -> None:
        with database.transaction_():
            holding.set()
            time.sleep(0.5)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(5)
    # In a list, so that a test can drop the only reference.
    beats = [q._core.heartbeat(claim.id, claim.token, q.lease, 0.01)]
    time.sleep(0.1)  # the heartbeat thread is now waiting for the write lock
    yield beats
    holder.join()
    database.close_()


def test_dropping_a_heartbeat_waits_for_its_thread_without_the_gil(
    blocked_heartbeat: list[Any],
) -> None:
    started = time.monotonic()
    blocked_heartbeat.clear()  # the only reference: the heartbeat is dropped here
    assert time.monotonic() - started < 2


def test_a_heartbeat_state_is_read_while_another_thread_stops_it(
    blocked_heartbeat: list[Any],
) -> None:
    (beat,) = blocked_heartbeat
    stopper = threading.Thread(target=beat.stop)
    stopper.start()
    time.sleep(0.1)  # the stopper now holds the heartbeat while it waits for its thread
    started = time.monotonic()
    state = beat.state
    assert time.monotonic() - started < 1
    assert state in ("running", "stopped")
    stopper.join()


# -- enqueueing ----------------------------------------------------------------------------


def test_unique_keys_deduplicate_while_a_job_is_active(backend: Backend) -> None:
    text = (SCHEMAS / "render_manager.prisma").read_text()
    attempts = "  attempts       Int       @default(0)\n"
    with backend.connect(text.replace(attempts, attempts + "  uniqueKey      String?\n")) as db:
        db.user.create(data={"id": "u1", "email": "a@x.io", "macUsernames": []})
        q = bind(db)
        first = q.enqueue(job(), unique_key="render:/p/a.aep")
        assert q.enqueue(job(priority=7), unique_key="render:/p/a.aep").id == first.id
        (claim,) = q.claim("w")
        assert q.enqueue(job(), unique_key="render:/p/a.aep").id == first.id  # running
        q.complete(claim)
        assert q.enqueue(job(), unique_key="render:/p/a.aep").id != first.id  # done: new job
        count = q.enqueue_many(
            [job(uniqueKey="render:/p/a.aep"), job(uniqueKey="k2"), job(uniqueKey="k2"), job()]
        )
        assert count == 2  # the active key and the repeated k2 are skipped
        assert db.job.count() == 4


def test_enqueue_many_is_bulk_and_wakes_waiters(db: Any) -> None:
    q = bind(db)
    got: list[list[Claim]] = []
    waiter = threading.Thread(target=lambda: got.append(q.wait_and_claim("w", timeout=5)))
    waiter.start()
    time.sleep(0.1)
    assert q.enqueue_many([job(priority=n) for n in range(500)]) == 500
    waiter.join()
    assert [c.record.priority for c in got[0]] == [499]
    assert q.stats().counts["ready"] == 499


def test_wait_and_claim_times_out(db: Any) -> None:
    q = bind(db)
    started = time.monotonic()
    assert q.wait_and_claim("w", timeout=0.3) == []
    assert 0.25 < time.monotonic() - started < 2


def test_run_works_jobs_until_idle(db: Any) -> None:
    q = bind(db)
    q.enqueue_many([job(priority=n) for n in range(20)])

    def render(claim: Claim) -> dict[str, Any] | None:
        if claim.record.priority == 13:
            raise ValueError("corrupt frame")
        return {"outputPath": f"/out/{claim.record.priority}.mov"}

    handled = q.run(render, worker="node", concurrency=2, exit_when_idle=True)
    assert handled == 20
    done = db.job.find_many(where={"status": "COMPLETED"})
    assert len(done) == 19
    assert all(r.outputPath == f"/out/{r.priority}.mov" for r in done)
    failed = db.job.find_unique_or_raise(where={"id": db.job.find_first(where={"priority": 13}).id})
    assert failed.status.name == "QUEUED"  # retried later
    assert failed.error == "ValueError: corrupt frame"


def test_a_handler_returning_no_mapping_fails_its_job_and_the_run_goes_on(
    db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    q = bind(db, max_attempts=1)
    q.enqueue_many([job(priority=n) for n in (3, 2, 1)])

    def render(claim: Claim) -> Any:
        if claim.record.priority == 2:
            return ["/out/2.mov"]  # a list, not {"outputPath": ...}
        if claim.record.priority == 1:
            return {"outptuPath": "/out/1.mov"}  # a field the model lacks
        return {"outputPath": "/out/3.mov"}

    with caplog.at_level(logging.WARNING, logger="strata"):
        handled = q.run(render, worker="node", exit_when_idle=True)
    assert handled == 3
    jobs = {r.priority: r for r in db.job.find_many()}
    assert {p: r.status.name for p, r in jobs.items()} == {
        3: "COMPLETED",
        2: "FAILED",
        1: "FAILED",
    }
    assert jobs[2].error == (
        "ValidationError: the handler returned list ['/out/2.mov']; it must return a "
        "mapping of fields to write on completion, or None"
    )
    assert jobs[1].error is not None
    assert "has no field 'outptuPath'" in jobs[1].error
    assert jobs[3].outputPath == "/out/3.mov"
    failures = [r for r in caplog.records if r.name == "strata.queue"]
    assert [r.levelno for r in failures] == [logging.WARNING, logging.WARNING]
    assert jobs[2].id in failures[0].getMessage()
    assert "the handler returned list" in failures[0].getMessage()


def test_a_fault_in_the_worker_loop_stops_run_with_the_error(
    db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_backoff(attempt: int) -> timedelta:
        raise ZeroDivisionError("a bug in the backoff")

    q = bind(db, backoff=broken_backoff)
    q.enqueue_many([job(priority=n) for n in range(40)])
    bad = db.job.find_first(where={"priority": 30}).id

    def render(claim: Claim) -> dict[str, Any]:
        if claim.id == bad:
            raise ValueError("corrupt frame")  # fail() then calls the broken backoff
        time.sleep(0.01)
        return {"outputPath": "/out/ok.mov"}

    stop = threading.Event()
    deadline = threading.Timer(30, stop.set)  # only if run() failed to stop by itself
    deadline.start()
    with (
        caplog.at_level(logging.WARNING, logger="strata"),
        pytest.raises(strata.WorkerError, match=r"died of ZeroDivisionError: a bug") as caught,
    ):
        q.run(render, worker="node", concurrency=2, stop=stop)  # not exit_when_idle
    deadline.cancel()
    assert isinstance(caught.value.__cause__, ZeroDivisionError)
    assert caught.value.worker in ("node/0", "node/1")
    # The other thread stopped after its job in hand: most jobs were never claimed.
    assert q.stats().counts["ready"] > 20
    # The job in hand when the loop broke is still leased: lease recovery will retry it.
    assert stored(db, bad).status.name == "RENDERING"
    (death,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert death.name == "strata.queue"
    assert caught.value.worker in death.getMessage()
    assert death.exc_info is not None
    assert death.exc_info[0] is ZeroDivisionError


def test_a_closed_database_stops_run_with_the_error(backend: Backend) -> None:
    db = backend.connect(SCHEMAS / "render_manager.prisma")
    db.user.create(data={"id": "u1", "email": "a@x.io", "macUsernames": ["alice"]})
    q = bind(db)
    q.enqueue_many([job(), job()])

    def render(claim: Claim) -> None:
        db.close_()  # the worker's own machinery is gone: completing must fail loudly

    with pytest.raises(strata.WorkerError) as caught:
        q.run(render, worker="node", exit_when_idle=True)
    assert isinstance(caught.value.__cause__, strata.ClosedError)


# -- several claimed states and FIFO -------------------------------------------------------


@pytest.fixture
def gpu(backend: Backend) -> Any:
    database = backend.seed("gpu_marketplace")
    database.user.create(data={"id": "u1", "qubicAddress": "Q" * 60})
    return database


def gpu_queue(db: Any, **overrides: Any) -> Queue:
    binding: dict[str, Any] = {
        "ready": {"status": "PENDING"},
        "claimed": {"status": {"in": ["ASSIGNED", "RUNNING"]}},
        "done": {"status": "COMPLETED"},
        "failed": {"status": "FAILED"},
        "lease": timedelta(seconds=30),
        **overrides,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # index advice: not what these tests are about
        return db.queue_("Job", **binding)


def gpu_job(n: int) -> dict[str, Any]:
    return {"userId": "u1", "estimatedCost": 1, "inputData": {"n": n}}


def test_without_order_by_jobs_are_claimed_in_insertion_order(gpu: Any, backend: Backend) -> None:
    """Insertion order is SQLite's rowid. PostgreSQL has no rowid, and a uuid shows nothing
    of the order rows came in: there, claims without an order follow the primary key."""
    q = gpu_queue(gpu, claimed={"status": "ASSIGNED"})
    for n in range(6):
        q.enqueue(gpu_job(n))
    q.enqueue_many([gpu_job(n) for n in range(6, 30)])
    ids = [r.id for r in gpu.job.find_many(order_by={"id": "asc"})]
    inserted = [r.id for r in sorted(gpu.job.find_many(), key=lambda r: r.inputData["n"])]
    assert ids != inserted  # uuid ids: their order is not the insertion order
    claimed = [c.id for c in q.claim("w", limit=4)]
    claimed += [c.id for c in q.claim("w", limit=26)]
    assert claimed == (ids if backend.is_postgres else inserted)


def test_a_job_moves_between_claimed_states_under_its_lease(gpu: Any) -> None:
    q = gpu_queue(gpu)
    q.enqueue(gpu_job(1))
    (claim,) = q.claim("rig-1")
    assert claim.record.status.name == "ASSIGNED"  # the first listed value
    record = q.mark(claim, {"status": "RUNNING", "progress": 5})
    assert (record.status.name, record.progress) == ("RUNNING", 5)
    assert record.leaseToken == claim.token
    assert q.stats().counts["claimed"] == 1
    with pytest.raises(strata.ValidationError, match=r"keeps a job in its claimed states"):
        q.mark(claim, {"status": "COMPLETED"})
    with pytest.raises(strata.ValidationError, match="queue bookkeeping"):
        q.mark(claim, {"leaseToken": 7})
    assert q.claim("rig-2") == []  # RUNNING is still claimed
    done = q.complete(claim, data={"result": {"ok": True}})
    assert done.status.name == "COMPLETED"
    with pytest.raises(strata.LeaseLostError):
        q.mark(claim, {"status": "RUNNING"})


def test_an_expired_lease_is_recovered_from_any_claimed_state(gpu: Any) -> None:
    q = gpu_queue(gpu, max_attempts=3)
    q.enqueue_many([gpu_job(1), gpu_job(2)])
    assigned, running = q.claim("rig-1", limit=2)
    q.mark(running, {"status": "RUNNING"})
    q.advance_clock(31)
    assert q.stats().expired_leases == 2
    again = {c.id: c for c in q.claim("rig-2", limit=2)}
    assert set(again) == {assigned.id, running.id}
    assert all(c.record.status.name == "ASSIGNED" and c.attempt == 2 for c in again.values())
    with pytest.raises(strata.LeaseLostError):
        q.mark(running, {"status": "RUNNING"})  # the first worker's token is fenced off
    q.mark(again[running.id], {"status": "RUNNING"})
    # Both claimed states complete together; the first worker's claims are stale.
    assert q.complete_many([assigned, running, *again.values()]) == [assigned, running]
    assert q.stats().counts["done"] == 2


# -- inspection and cleanup ----------------------------------------------------------------


def test_stats_count_states_and_measure_the_wait(db: Any) -> None:
    q = bind(db)
    q.enqueue_many([job(submittedAt=q.now() - timedelta(minutes=5)), job(), job()])
    claims = q.claim("w", limit=2)
    q.complete(claims[0])
    q.advance_clock(61)
    stats = q.stats()
    assert stats.counts == {"ready": 1, "claimed": 1, "done": 1, "failed": 0, "cancelled": 0}
    assert stats.expired_leases == 1
    assert stats.oldest_ready_age is not None
    assert stats.oldest_ready_age >= timedelta(seconds=60)


def test_purge_deletes_old_finished_jobs_in_batches(db: Any) -> None:
    q = bind(db)
    q.enqueue_many([job() for _ in range(2_500)])
    for claim in q.claim("w", limit=2_500):
        q.complete(claim)
    q.enqueue(job())
    assert q.purge(completed_before=timedelta(hours=1)) == 0
    q.advance_clock(2 * 3600)
    assert q.purge(completed_before=timedelta(hours=1)) == 2_500
    assert db.job.count() == 1


# -- binding errors: raised before any SQL runs --------------------------------------------


def test_missing_lease_fields_print_the_lines_to_add(tmp_path: Path) -> None:
    # SQLite only: the binding refuses the model before any SQL runs, on either database.
    schema = SCHEMAS / "music_api.prisma"
    with (
        strata.connect(tmp_path / "m.db", schema=schema) as db,
        pytest.raises(strata.ValidationError) as caught,
    ):
        db.queue_(
            "ApiKey",
            ready={"active": True},
            claimed={"active": False},
            done={"active": False},
            failed={"active": False},
        )
    message = str(caught.value)
    assert "leaseExpiresAt DateTime?" in message
    assert "leaseToken     Int       @default(0)" in message
    assert "workerId       String?" in message
    assert "attempts       Int       @default(0)" in message


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"ready": {"status": "WAITING"}}, "expected a JobStatus member"),
        ({"claimed": {"stauts": "RENDERING"}}, "has no field 'stauts'"),
        ({"claimed": {"status": "QUEUED"}}, "ready and claimed must differ"),
        ({"lease": timedelta(0)}, "lease must be more than zero"),
        ({"lease": -5}, "lease must be more than zero"),
        ({"max_attempts": 0}, "max_attempts must be an int of at least 1"),
        ({"order_by": [{"priority": "up"}]}, "order must be 'asc' or 'desc'"),
        ({"order_by": "priority"}, "order_by takes a dict or a list of dicts"),
        (
            {"order_by": {"priority": {"sort": "desc", "nulls": "last"}}},
            "a queue's order_by takes 'asc' or 'desc' without nulls",
        ),
        ({"ready": {"leaseToken": 0}}, "queue bookkeeping"),
        ({"fields": {"lease_token": "version"}}, "lacks the fields"),
        ({"claimed": {"status": {"in": []}}}, r"claimed=\{'status': \{'in': \[\]\}\} must list"),
        ({"claimed": {"status": {"in": "RENDERING"}}}, "must list at least one value"),
        (
            {"claimed": {"status": {"in": ["RENDERING", "QUEUED"]}}},
            r"ready and claimed must differ.*claimed=\{'status': \{'in': \['RENDERING', 'QUEUED'\]",
        ),
        (
            {"claimed": {"status": {"in": ["RENDERING", "COMPLETED"]}}},
            r"the claimed and done states overlap.*done=\{'status': 'COMPLETED'\}",
        ),
        ({"cancelled": {"status": "RENDERING"}}, "the claimed and cancelled states overlap"),
        ({"ready": {"status": {"in": ["QUEUED", "PENDING"]}}}, "only the claimed state may list"),
        ({"claimed": {"status": {"in": ["RENDERING", "GLOWING"]}}}, "expected a JobStatus"),
    ],
)
def test_bad_bindings_are_refused(db: Any, overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(strata.ValidationError, match=match):
        bind(db, **overrides)


def test_an_unknown_model_is_refused(db: Any) -> None:
    with pytest.raises(strata.ValidationError, match="no model 'Jobs'"):
        db.queue_("Jobs", ready={}, claimed={}, done={}, failed={})


@pytest.mark.parametrize("limit", [0, -1, 10_001, 2.5, True])
def test_claim_limits_are_checked(db: Any, limit: Any) -> None:
    q = bind(db)
    q.enqueue(job())
    with pytest.raises(strata.ValidationError, match="limit must be an int from 1 to 10000"):
        q.claim("w", limit=limit)
    assert q.stats().counts["claimed"] == 0


def test_bad_completion_data_changes_nothing(db: Any) -> None:
    q = bind(db)
    q.enqueue(job())
    (claim,) = q.claim("w")
    with pytest.raises(strata.ValidationError, match="has no field 'outptuPath'"):
        q.complete(claim, data={"outptuPath": "/x"})
    with pytest.raises(strata.ValidationError, match="queue bookkeeping"):
        q.complete(claim, data={"leaseToken": 99})
    assert stored(db, claim.id).status.name == "RENDERING"
    q.complete(claim)


def test_the_claimed_state_can_name_the_worker(backend: Backend) -> None:
    with backend.seed("gpu_marketplace") as db:
        user = db.user.create(data={"qubicAddress": "Q" * 60})
        provider = {
            "id": "provider-7",
            "workerId": "rig-7",
            "userId": user.id,
            "type": "BROWSER",
            "gpuModel": "A100",
            "gpuVramGb": 80,
            "pricePerHour": 2,
        }
        db.provider.create(data=provider)
        q = db.queue_(
            "Job",
            ready={"status": "PENDING", "providerId": None},
            claimed={"status": "ASSIGNED", "providerId": strata.WORKER},
            done={"status": "COMPLETED"},
            failed={"status": "FAILED"},
            order_by={"createdAt": "asc"},
        )
        q.enqueue({"userId": user.id, "estimatedCost": 3, "inputData": {}})
        (claim,) = q.claim("provider-7")
        assert claim.record.providerId == "provider-7"
        assert claim.record.status.name == "ASSIGNED"


def test_index_advice_names_the_missing_index(backend: Backend) -> None:
    text = (SCHEMAS / "render_manager.prisma").read_text()
    index = "  @@index([status, priority(sort: Desc), submittedAt])\n"
    with backend.connect(text.replace(index, "")) as db:
        with pytest.warns(
            UserWarning, match=r"@@index\(\[status, priority\(sort: Desc\), submittedAt\]\)"
        ):
            q = bind(db)
        assert q.index_advice() == "@@index([status, priority(sort: Desc), submittedAt])"
    with backend.connect(text) as db, warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bind(db).index_advice() is None


def test_the_plan_check_leaves_no_setting_behind(db: Any, backend: Backend) -> None:
    if not backend.is_postgres:
        pytest.skip("PostgreSQL only: SQLite's plan check changes no setting")
    with db.transaction_():
        assert bind(db).index_advice() is None
        assert db.query_raw_("SHOW enable_sort") == [{"enable_sort": "on"}]


def test_doctor_recommends_the_claim_index_for_declared_queues(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite only: doctor's report of a queue binding is tested on PostgreSQL with doctor.
    from click.testing import CliRunner

    from strata.cli import main

    schema = tmp_path / "schema.prisma"
    text = (SCHEMAS / "render_manager.prisma").read_text()
    schema.write_text(text.replace("  @@index([status, priority(sort: Desc), submittedAt])\n", ""))
    (tmp_path / "pyproject.toml").write_text(
        '[tool.strata]\nurl = "file:./app.db"\nschema = "schema.prisma"\n\n'
        "[tool.strata.queues.Job]\n"
        'ready = { status = "QUEUED" }\nclaimed = { status = "RENDERING" }\n'
        'done = { status = "COMPLETED" }\nfailed = { status = "FAILED" }\n'
        'order_by = [{ priority = "desc" }, { submittedAt = "asc" }]\nlease = 120\n'
    )
    monkeypatch.chdir(tmp_path)
    with strata.connect() as db:
        db.migrate_.push()
        with pytest.warns(UserWarning, match="claims would sort"):
            q = db.queue_("Job")  # the binding comes from pyproject.toml
        assert q.lease == 120
    result = CliRunner().invoke(main, ["doctor"])
    output = " ".join(result.output.split())  # rich wraps long lines
    assert "advice: queue Job" in output
    assert "@@index([status, priority(sort: Desc), submittedAt])" in output
    assert result.exit_code == 0


def test_doctor_reports_a_broken_queue_binding_instead_of_crashing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from strata.cli import main

    shutil_copy = (SCHEMAS / "render_manager.prisma").read_text()
    (tmp_path / "schema.prisma").write_text(shutil_copy)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.strata]\nurl = "file:./app.db"\nschema = "schema.prisma"\n\n'
        '[tool.strata.queues.Job]\nready = { status = "WAITING" }\n'
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["doctor"])
    output = " ".join(result.output.split())
    assert "queue Job: the binding in pyproject.toml fails" in output
    assert result.exception is None or isinstance(result.exception, SystemExit)


# -- DateTime forms written by other clients (issue 12) --------------------------------------


def test_each_datetime_column_is_stamped_in_its_own_form(tmp_path: Path) -> None:
    """A database another client wrote: submittedAt as integer ms, startedAt with
    CURRENT_TIMESTAMP's text, completedAt with Z, the lease empty. The queue stamps each
    column in its own form, and the empty lease in datetime_format's. SQLite only: a
    PostgreSQL timestamp has one form."""
    path = tmp_path / "render.db"
    with strata.connect(path, schema=SCHEMAS / "render_manager.prisma") as setup:
        setup.migrate_.push()
        setup.user.create(data={"id": "u1", "email": "a@x.io", "macUsernames": []})
        old = bind(setup).enqueue(job(id="old"))
        setup.execute_raw_(
            'UPDATE "Job" SET "submittedAt" = 1795339800000, "startedAt" = '
            "'2026-11-22 09:30:00', \"completedAt\" = '2026-11-22T09:31:00.000Z', "
            "status = 'COMPLETED' WHERE id = ?",
            old.id,
        )
    db = strata.connect(path, schema=SCHEMAS / "render_manager.prisma", datetime_format="iso8601")
    try:
        q = bind(db)
        q.enqueue(job(id="new"))
        (claim,) = q.claim("w1")
        q.complete(claim)
        row = db.query_raw_(
            'SELECT "submittedAt", "startedAt", "completedAt", "leaseExpiresAt" FROM "Job" '
            "WHERE id = 'new'"
        )[0]
        assert isinstance(row["submittedAt"], int)
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{3})?", row["startedAt"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", row["completedAt"])
        assert row["leaseExpiresAt"] is None
        # The lease column was empty: datetime_format's form while the job was claimed.
        q.enqueue(job(id="third"))
        (claim,) = q.claim("w1")
        lease = db.query_raw_('SELECT "leaseExpiresAt" AS l FROM "Job" WHERE id = ?', claim.id)
        assert lease[0]["l"].endswith("+00:00")
    finally:
        db.close_()


def test_a_lease_column_of_mixed_forms_is_refused_when_bound(tmp_path: Path) -> None:
    # SQLite only: a PostgreSQL timestamp column holds one form.
    db = strata.connect(tmp_path / "render.db", schema=SCHEMAS / "render_manager.prisma")
    db.migrate_.push()
    db.user.create(data={"id": "u1", "email": "a@x.io", "macUsernames": ["alice"]})
    q = bind(db)
    for n in range(3):
        q.enqueue(job(id=f"j{n}"), run_at=datetime(2026, 1, 1, tzinfo=UTC))
    db.execute_raw_("""UPDATE "Job" SET "leaseExpiresAt" = 1767225600000 WHERE id = 'j0'""")
    with strata.connect(db.path_, schema=SCHEMAS / "render_manager.prisma") as other:
        with pytest.raises(strata.MixedDateTimeError) as caught:
            bind(other)
        error = caught.value
        assert (error.model, error.field) == ("Job", "leaseExpiresAt")
        assert error.forms == {"iso8601": 2, "unixepoch-ms": 1}
        assert error.fix == (
            "strata datetime rewrite --model Job --field leaseExpiresAt --to iso8601"
        )
        # The client still reads and compares the column, by instant.
        assert (
            other.job.count(where={"leaseExpiresAt": {"lte": datetime(2026, 1, 1, tzinfo=UTC)}})
            == 3
        )
    db.close_()
