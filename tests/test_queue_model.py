"""A hypothesis state machine runs enqueue / claim / heartbeat / complete / fail / cancel /
the passing of time against a plain-Python reference model of the queue, on SQLite and on
PostgreSQL (the ``backend`` fixture: one database per test, emptied for each example)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

import strata
from backends import Backend
from strata.queue import Claim

SCHEMA = Path(__file__).resolve().parents[1] / "schema" / "render_manager.prisma"
LEASE = 60
MAX_ATTEMPTS = 3
RETRY = 20
#: Time moves in steps of 7 s, and leases (60 s), delays (30 s, 50 s) and retries (20 s)
#: are never multiples of 7, so no deadline falls exactly on "now": the milliseconds that
#: really pass during a run cannot decide an outcome.
STEP = 7
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Job:
    priority: int
    seq: int
    state: str = "QUEUED"
    not_before: float | None = None
    expires: float | None = None
    token: int = 0
    attempts: int = 0


class QueueMachine(RuleBasedStateMachine):
    claims = Bundle("claims")
    jobs = Bundle("jobs")
    #: The test's database (a subclass per test sets it), emptied of jobs for each run.
    db: Any = None

    def __init__(self) -> None:
        super().__init__()
        self.db.job.delete_many()
        # A new binding each run: its clock starts from now again.
        self.q = self.db.queue_(
            "Job",
            ready={"status": "QUEUED"},
            claimed={"status": "RENDERING"},
            done={"status": "COMPLETED"},
            failed={"status": "FAILED"},
            cancelled={"status": "CANCELLED"},
            order_by=[{"priority": "desc"}, {"submittedAt": "asc"}],
            lease=timedelta(seconds=LEASE),
            max_attempts=MAX_ATTEMPTS,
        )
        self.now = 0.0  # seconds since the machine started, on the queue's clock
        self.model: dict[str, Job] = {}

    # -- the reference -----------------------------------------------------------------

    def expected_claims(self, limit: int) -> list[str]:
        for job in self.model.values():
            # Expired leases: the job goes back to ready, or fails after its last attempt.
            if job.state == "RENDERING" and job.expires is not None and job.expires <= self.now:
                job.state = "FAILED" if job.attempts >= MAX_ATTEMPTS else "QUEUED"
                job.expires, job.not_before = None, self.now
        due = [
            (job_id, job)
            for job_id, job in self.model.items()
            if job.state == "QUEUED" and (job.not_before is None or job.not_before <= self.now)
        ]
        due.sort(key=lambda item: (-item[1].priority, item[1].seq))
        return [job_id for job_id, _ in due[:limit]]

    def settle_allowed(self, claim: Claim) -> tuple[Job, bool]:
        job = self.model[claim.id]
        return job, job.state == "RENDERING" and job.token == claim.token

    # -- rules ---------------------------------------------------------------------------

    @rule(target=jobs, priority=st.integers(0, 3), delay=st.sampled_from([None, 30, 50]))
    def enqueue(self, priority: int, delay: int | None) -> str:
        seq = len(self.model)
        record = self.q.enqueue(
            {
                "userId": "u1",
                "projectPath": f"/p/{seq}",
                "source": "bravo",
                "macUsername": "alice",
                "fileTimestamp": START,
                "nexrenderConfig": {},
                "priority": priority,
                "submittedAt": START + timedelta(seconds=seq),
            },
            run_at=None if delay is None else timedelta(seconds=delay),
        )
        self.model[record.id] = Job(
            priority, seq, not_before=None if delay is None else self.now + delay
        )
        return str(record.id)

    @rule(target=claims, limit=st.integers(1, 4))
    def claim(self, limit: int) -> Any:
        expected = self.expected_claims(limit)
        got = self.q.claim("w", limit=limit)
        assert [c.id for c in got] == expected
        for claim in got:
            job = self.model[claim.id]
            job.state, job.token, job.attempts = "RENDERING", job.token + 1, job.attempts + 1
            job.expires = self.now + LEASE
            assert claim.token == job.token
        return multiple(*got)

    @rule(claim=claims)
    def complete(self, claim: Claim) -> None:
        job, allowed = self.settle_allowed(claim)
        if not allowed:
            # A cancelled job says so; any other stale claim just lost its lease.
            stale = strata.JobCancelledError if job.state == "CANCELLED" else strata.LeaseLostError
            with pytest.raises(stale):
                self.q.complete(claim)
            return
        self.q.complete(claim)
        job.state, job.expires = "COMPLETED", None

    @rule(claim=claims)
    def fail(self, claim: Claim) -> None:
        job, allowed = self.settle_allowed(claim)
        try:
            self.q.fail(claim, "boom", retry_in=RETRY)
        except strata.LeaseLostError:
            assert not allowed
            return
        assert allowed
        if job.attempts >= MAX_ATTEMPTS:
            job.state, job.expires = "FAILED", None
        else:
            job.state, job.expires, job.not_before = "QUEUED", None, self.now + RETRY

    @rule(claim=claims)
    def heartbeat(self, claim: Claim) -> None:
        job, allowed = self.settle_allowed(claim)
        try:
            self.q.heartbeat(claim)
        except strata.LeaseLostError:
            assert not allowed
            return
        assert allowed
        job.expires = self.now + LEASE

    @rule(job_id=jobs)
    def cancel(self, job_id: str) -> None:
        job = self.model[job_id]
        cancellable = job.state in ("QUEUED", "RENDERING")
        assert self.q.cancel(job_id) is cancellable
        if cancellable:
            job.state, job.token, job.expires = "CANCELLED", job.token + 1, None

    @rule(steps=st.integers(1, 12))
    def time_passes(self, steps: int) -> None:
        self.q.advance_clock(steps * STEP)
        self.now += steps * STEP

    @invariant()
    def every_job_matches_the_model(self) -> None:
        rows = self.db.query_raw_(
            'SELECT id, status, "leaseToken", attempts FROM "Job"', as_tuples=True
        )
        actual = {row[0]: row[1:] for row in rows}
        expected = {i: (j.state, j.token, j.attempts) for i, j in self.model.items()}
        assert actual == expected


def test_queue_matches_its_model(backend: Backend) -> None:
    db = backend.connect(SCHEMA)
    db.user.create(data={"id": "u1", "email": "a@x.io", "macUsernames": []})
    machine = type("QueueMachineHere", (QueueMachine,), {"db": db})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=settings.default.max_examples // 4 or 5,
            stateful_step_count=30,
            deadline=None,
        ),
    )
