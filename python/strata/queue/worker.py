"""The worker loop behind `strata.queue.Queue.run`: threads that claim ahead and handle
jobs, the group commit that writes their outcomes with the next claims in one transaction,
the retrying of transient database errors, the logging of failures, signal handling and
what a worker's death does to the others. Apart from the facade because it is the one
part of the queue that runs threads and sleeps; it reaches the queue only through what
`_Jobs` names (its settings, and the pieces of its calls that the loop batches: an
outcome as the core writes it, the fused transaction, the moving heartbeat), so it can be
read (and tested) without the binding.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from strata.dialects.values import describe_value
from strata.errors import (
    ConstraintError,
    JobCancelledError,
    LeaseLostError,
    StrataError,
    ValidationError,
    ValueTooLongError,
    WorkerError,
)
from strata.queue.common import Claim, _error_text

if TYPE_CHECKING:
    from strata._core import Beater

#: `Queue.run` retries a transient database error after this many seconds, doubling up
#: to `RETRY_CAP`; each wait is scaled by a random factor from 0.5 to 1 (jitter), so that
#: workers which met the same lock do not retry in step.
RETRY_FIRST = 0.05
RETRY_CAP = 2.0
#: Consecutive retries logged at INFO; later ones at WARNING, as the outage persists.
_QUIET_RETRIES = 4

#: How long a finished job's outcome may wait to share a transaction: with the outcomes of
#: the jobs its thread claimed with it, and with other threads' outcomes and claims. Each
#: outcome is committed within about this long of its handler's return (plus the
#: transaction itself), so a crash in between loses at most that much work, which lease
#: recovery then runs again.
GROUP_WINDOW = 0.002
#: The most jobs one thread claims ahead of the one it works on (doubling from 1 while
#: jobs stay short).
PREFETCH_MAX = 32
#: A job that ran longer than this (seconds) sets its thread back to one claim at a time.
PREFETCH_BELOW = 0.005

#: Failures, retries and worker deaths of `Queue.run`.
_log = logging.getLogger("strata.queue")
_T = TypeVar("_T")


class _Jobs(Protocol):
    """What the loop uses of the queue it works (`strata.queue.Queue`): its settings, and
    the pieces of its calls (an outcome as the core writes it, the fused transaction, the
    heartbeat moved from claim to claim) that the loop batches."""

    model: str
    lease: float
    max_attempts: int

    def heartbeat(self, claim: Claim) -> None: ...

    def _beater(self) -> Beater: ...

    def _sql_id(self, claim: Claim) -> Any: ...

    def _wait(self, timeout: float) -> bool: ...

    def _complete_item(self, claim: Claim, data: Mapping[str, Any] | None) -> _Item: ...

    def _fail_item(self, claim: Claim, error: str | BaseException | None) -> _Item: ...

    def _release_item(self, claim: Claim) -> _Item: ...

    def _settle(self, item: _Item, *, record: bool = True) -> Any: ...

    def _settle_and_claim(
        self, items: Sequence[_Item], claims: Sequence[tuple[str, int]]
    ) -> tuple[list[Any], list[list[Claim]]]: ...


#: A fenced write for the core: (sql, id, token, delay in seconds, params).
_Item = tuple[str, Any, int, float, "dict[str, Any] | None"]


@dataclass(slots=True)
class _Outcome:
    """A job's outcome waiting for its transaction: the write, and whether it completes
    the job (a completion that cannot be stored becomes the job's failure)."""

    claim: Claim
    item: _Item
    completing: bool


@dataclass(slots=True)
class _Request:
    """One thread's part of a group commit, and what it got back."""

    items: list[_Item]
    claim: tuple[str, int] | None
    done: bool = False
    rows: list[Any] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    error: BaseException | None = None


class _Group:
    """Group commit for the threads of one `run`: the first thread to commit waits up to
    `GROUP_WINDOW` for the other working threads to bring their outcomes and claims, then
    writes them all in one transaction (`Queue._settle_and_claim`) and hands each thread
    its part. With one thread it never waits."""

    def __init__(self, queue: _Jobs, threads: int) -> None:
        self.queue = queue
        self.threads = threads
        self.cond = threading.Condition()
        self.waiting: list[_Request] = []
        self.collecting = False
        #: Threads waiting for work: no commit is to be expected from them soon.
        self.idle = 0

    def leave(self) -> None:
        """A thread has ended: no commit is to be waited for from it any more."""
        with self.cond:
            self.threads -= 1
            self.cond.notify_all()

    def set_idle(self, idle: bool) -> None:
        with self.cond:
            self.idle += 1 if idle else -1
            self.cond.notify_all()

    def commit(
        self, items: list[_Item], claim: tuple[str, int] | None
    ) -> tuple[list[Any], list[Claim]]:
        request = _Request(items, claim)
        with self.cond:
            self.waiting.append(request)
            self.cond.notify_all()
            if self.collecting:
                while not request.done:
                    self.cond.wait()
                return _answer(request)
            self.collecting = True
            deadline = time.monotonic() + GROUP_WINDOW
            while len(self.waiting) < self.threads - self.idle:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.cond.wait(remaining):
                    break
            batch, self.waiting = self.waiting, []
            self.collecting = False
        everything = [item for r in batch for item in r.items]
        claims = [r.claim for r in batch if r.claim is not None]
        try:
            rows, claimed = self.queue._settle_and_claim(everything, claims)
        except BaseException as error:  # each thread of the group handles it as its own
            for r in batch:
                r.error = error
        else:
            rows_left, claimed_left = iter(rows), iter(claimed)
            for r in batch:
                r.rows = [next(rows_left) for _ in r.items]
                r.claims = next(claimed_left) if r.claim is not None else []
        with self.cond:
            for r in batch:
                r.done = True
            self.cond.notify_all()
        return _answer(request)


def _answer(request: _Request) -> tuple[list[Any], list[Claim]]:
    if request.error is not None:
        raise request.error
    return request.rows, request.claims


class _WorkerLoop:
    """One call of `Queue.run` on ``queue``."""

    def __init__(self, queue: _Jobs) -> None:
        self.queue = queue

    def run(
        self,
        handler: Callable[[Claim], Mapping[str, Any] | None],
        *,
        worker: str,
        concurrency: int = 1,
        exit_when_idle: bool = False,
        stop: threading.Event | None = None,
    ) -> int:
        """See `strata.queue.Queue.run`."""
        stop = stop or threading.Event()
        handled = [0] * concurrency
        deaths: list[tuple[str, BaseException]] = []
        previous: dict[signal.Signals, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, lambda *_: stop.set())
        self.group = _Group(self.queue, concurrency)

        def loop(index: int) -> None:
            name = worker if concurrency == 1 else f"{worker}/{index}"
            try:
                handled[index] = self._thread(handler, name, exit_when_idle, stop)
            except BaseException as error:  # a fault of the loop, not of a job
                _log.error(
                    "queue %s: worker %s died; stopping the other workers",
                    self.queue.model,
                    name,
                    exc_info=error,
                )
                deaths.append((name, error))
                stop.set()

        try:
            threads = [
                threading.Thread(target=loop, args=(i,), name=f"strata-worker-{i}")
                for i in range(concurrency)
            ]
            for thread in threads:
                thread.start()
            while any(t.is_alive() for t in threads):
                for thread in threads:
                    thread.join(timeout=0.2)
        finally:
            for signum, handler_before in previous.items():
                signal.signal(signum, handler_before)
        if deaths:
            name, error = deaths[0]
            raise WorkerError(
                f"queue {self.queue.model}: worker {name} died of {_error_text(error)}; "
                "the other workers were stopped",
                worker=name,
            ) from error
        return sum(handled)

    def _thread(
        self,
        handler: Callable[[Claim], Mapping[str, Any] | None],
        name: str,
        exit_when_idle: bool,
        stop: threading.Event,
    ) -> int:
        """One thread of the loop: claim ahead, handle, and write each outcome with the
        next claim or with other outcomes (see `Queue.run`). Returns the jobs handled."""
        beater = self.queue._beater()
        ahead: deque[tuple[Claim, float]] = deque()  # claimed, not started: (claim, when)
        pending: list[_Outcome] = []
        since = 0.0  # when the oldest pending outcome was ready
        want = 1
        handled = 0
        try:
            while not stop.is_set():
                if not ahead:
                    fresh = self._flush(pending, (name, want), stop)
                    if fresh is None:
                        break  # stopped while retrying
                    if not fresh:
                        if exit_when_idle:
                            break
                        self._idle(stop)
                        continue
                    now = time.monotonic()
                    ahead.extend((claim, now) for claim in fresh)
                claim, claimed_at = ahead.popleft()
                started = time.monotonic()
                outcome = self._handle(handler, claim, started - claimed_at, beater, stop)
                took = time.monotonic() - started
                # Claim further ahead only while jobs are short: a job claimed ahead waits
                # for those before it, under a lease that is not yet renewed.
                want = 1 if took > PREFETCH_BELOW else min(PREFETCH_MAX, want * 2)
                handled += 1
                if outcome is not None:
                    if not pending:
                        since = time.monotonic()
                    pending.append(outcome)
                if pending and ahead and time.monotonic() - since >= GROUP_WINDOW:
                    self._flush(pending, None, stop)
            # Stopping: the jobs claimed ahead go back, ready at once, with the outcomes.
            pending += [
                _Outcome(claim, self.queue._release_item(claim), False) for claim, _ in ahead
            ]
            ahead.clear()
            if pending:
                self._flush(pending, None, stop)
        finally:
            self.group.leave()
            beater.stop()
        return handled

    def _idle(self, stop: threading.Event) -> None:
        """Nothing to claim: wait for a job to be enqueued (or half a second)."""
        self.group.set_idle(True)
        try:
            self._retrying(lambda: self.queue._wait(0.5), "wait for jobs", stop)
        finally:
            self.group.set_idle(False)

    def _flush(
        self, pending: list[_Outcome], claim: tuple[str, int] | None, stop: threading.Event
    ) -> list[Claim] | None:
        """Write ``pending`` (emptying it) and claim ``claim`` = (worker, limit), in one
        transaction shared with the other threads'; the new claims, or None when it gave
        up because of ``stop``."""
        items = [outcome.item for outcome in pending]
        if len(pending) == 1:
            done = pending[0]
            verb = "complete job" if done.completing else "record the outcome of job"
            what = f"{verb} {done.claim.id}"
        else:
            what = f"record {len(pending)} outcomes"
        if claim is not None:
            what = (
                f"worker {claim[0]}: {what} and claim" if pending else f"worker {claim[0]}: claim"
            )
        try:
            answer = self._retrying(
                lambda: self.group.commit(items, claim), what, stop, holding=bool(items)
            )
        except StrataError:
            if not pending:
                # Another thread's outcome may have failed the shared transaction: claim
                # alone, and what fails then is this thread's own fault.
                alone = self.queue._settle_and_claim([], [claim] if claim else [])[1]
                return alone[0] if alone else []
            # One outcome cannot be stored (a constraint, a value too long): each is written
            # on its own, so that the failure is that job's alone.
            for outcome in pending:
                self._settle_one(outcome, stop)
            pending.clear()
            return self._flush(pending, claim, stop) if claim else []
        if answer is None:
            pending.clear()  # given up: lease recovery hands these jobs on
            return None
        rows, claims = answer
        stale = [outcome for outcome, row in zip(pending, rows, strict=True) if row is None]
        pending.clear()
        for outcome in stale:
            self._settle_one(outcome, stop)  # raises the reason, which it logs
        return claims

    def _settle_one(self, outcome: _Outcome, stop: threading.Event) -> None:
        """Write one outcome in a transaction of its own, retrying transient errors; a lost
        lease or a cancellation is logged, and a completion that cannot be stored is
        recorded as the job's failure."""
        claim = outcome.claim
        try:
            self._retrying(
                lambda: self.queue._settle(outcome.item, record=False),
                f"record the outcome of job {claim.id}",
                stop,
                holding=True,
            )
        except LeaseLostError as lost:
            self._log_lost(claim, lost)
        except (ValidationError, ValueTooLongError, ConstraintError) as error:
            if not outcome.completing:
                raise
            self._settle_one(self._failure(claim, error), stop)

    def _handle(
        self,
        handler: Callable[[Claim], Mapping[str, Any] | None],
        claim: Claim,
        age: float,
        beater: Beater,
        stop: threading.Event,
    ) -> _Outcome | None:
        """Run the handler on one claim, with its lease renewed meanwhile; the outcome to
        write, or None when the job is no longer ours (see `run`)."""
        every = self.queue.lease / 3
        if age >= every:
            # It waited a beat's time since its claim: renew now, so that it has a whole
            # lease ahead like a claim made now.
            try:
                self._retrying(
                    lambda: self.queue.heartbeat(claim), f"renew job {claim.id}", stop, holding=True
                )
            except LeaseLostError as lost:
                self._log_lost(claim, lost)
                return None
            age = 0.0
        beater.hold(self.queue._sql_id(claim), claim.token, max(0.0, every - age))
        error: Exception | None = None
        try:
            result = handler(claim)
        except LeaseLostError as lost:
            beater.release()
            self._log_lost(claim, lost)
            return None
        except Exception as caught:  # the handler's failure is the job's, not the loop's
            result, error = None, caught
        finally:
            state = beater.release()
        if state == "cancelled":
            self._log_lost(claim, JobCancelledError("cancelled while it ran"))
            return None
        if state == "lost":
            self._log_lost(claim, LeaseLostError("the heartbeat found the lease lost"))
            return None
        if error is not None:
            return self._failure(claim, error)
        if result is not None and not isinstance(result, Mapping):
            bad_return = ValidationError(
                f"the handler returned {describe_value(result)}; it must return a "
                "mapping of fields to write on completion, or None",
                model=self.queue.model,
                expected="a mapping or None",
            )
            return self._failure(claim, bad_return)
        try:
            return _Outcome(claim, self.queue._complete_item(claim, result), True)
        except (ValidationError, ValueTooLongError, ConstraintError) as unstorable:
            # The result cannot be stored (nothing was written): the job failed.
            return self._failure(claim, unstorable)

    def _failure(self, claim: Claim, error: BaseException) -> _Outcome:
        _log.warning(
            "queue %s: job %s failed on attempt %d of %d: %s",
            self.queue.model,
            claim.id,
            claim.attempt,
            self.queue.max_attempts,
            _error_text(error),
            exc_info=error,
        )
        return _Outcome(claim, self.queue._fail_item(claim, error), False)

    def _log_lost(self, claim: Claim, lost: LeaseLostError) -> None:
        if isinstance(lost, JobCancelledError):
            _log.info("queue %s: job %s was cancelled while it ran", self.queue.model, claim.id)
        else:
            _log.warning(
                "queue %s: job %s was dropped, its outcome unrecorded: %s",
                self.queue.model,
                claim.id,
                lost,
            )

    def _retrying(
        self,
        call: Callable[[], _T],
        what: str,
        stop: threading.Event,
        *,
        holding: bool = False,
    ) -> _T | None:
        """``call()``, retried while it fails with a transient database error. Returns
        None when it gave up because ``stop`` was set: at once for a call that holds
        nothing (a claim), after one more lease for one that settles a claim in hand
        (``holding``), whose job lease recovery then gives to another worker."""
        retries = 0
        deadline: float | None = None
        while True:
            try:
                return call()
            except StrataError as error:
                if not error.retryable:
                    raise
                retries += 1
                delay = min(RETRY_CAP, RETRY_FIRST * 2 ** (retries - 1))
                delay *= random.uniform(0.5, 1.0)  # so that workers do not retry in step
                _log.log(
                    logging.INFO if retries <= _QUIET_RETRIES else logging.WARNING,
                    "queue %s: %s failed (%s); retry %d in %.2f s",
                    self.queue.model,
                    what,
                    _error_text(error),
                    retries,
                    delay,
                )
                if stop.is_set() or stop.wait(delay):
                    if not holding:
                        return None
                    deadline = deadline or time.monotonic() + self.queue.lease
                    if time.monotonic() >= deadline:
                        _log.warning(
                            "queue %s: stopping; gave up on %s, lease recovery will "
                            "hand the job to another worker",
                            self.queue.model,
                            what,
                        )
                        return None
                    time.sleep(delay)
