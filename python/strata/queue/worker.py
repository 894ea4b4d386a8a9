"""The worker loop behind `strata.queue.Queue.run`: threads that claim and handle jobs,
the retrying of transient database errors, the logging of failures, signal handling and
what a worker's death does to the others. Apart from the facade because it is the one
part of the queue that runs threads and sleeps; it reaches the queue only through the
public methods `_Jobs` names, so it can be read (and tested) without the binding.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any, Protocol, TypeVar

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

#: `Queue.run` retries a transient database error after this many seconds, doubling up
#: to `RETRY_CAP`; each wait is scaled by a random factor from 0.5 to 1 (jitter), so that
#: workers which met the same lock do not retry in step.
RETRY_FIRST = 0.05
RETRY_CAP = 2.0
#: Consecutive retries logged at INFO; later ones at WARNING, as the outage persists.
_QUIET_RETRIES = 4

#: Failures, retries and worker deaths of `Queue.run`.
_log = logging.getLogger("strata.queue")
_T = TypeVar("_T")


class _Jobs(Protocol):
    """What the loop uses of the queue it works (`strata.queue.Queue`)."""

    model: str
    lease: float
    max_attempts: int

    def wait_and_claim(
        self, worker: str, *, limit: int = 1, timeout: float | None = None
    ) -> list[Claim]: ...

    def working(self, claim: Claim, every: float | None = None) -> AbstractContextManager[Any]: ...

    def complete(self, claim: Claim, data: Mapping[str, Any] | None = None) -> Any: ...

    def fail(
        self,
        claim: Claim,
        error: str | BaseException | None = None,
        *,
        retry_in: timedelta | float | None = None,
        final: bool = False,
    ) -> Any: ...


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

        # Idle means nothing claimable now: a worker told to exit then does not first wait
        # for an enqueue (which would add the wait to every run that drains a queue).
        wait = 0.0 if exit_when_idle else 0.5

        def loop(index: int) -> None:
            name = worker if concurrency == 1 else f"{worker}/{index}"
            try:
                while not stop.is_set():
                    claims = self._retrying(
                        lambda: self.queue.wait_and_claim(name, timeout=wait),
                        f"worker {name}: claim",
                        stop,
                    )
                    if claims is None:
                        return  # stopped while waiting to retry
                    if not claims:
                        if exit_when_idle:
                            return
                        continue
                    self._handle(handler, claims[0], stop)
                    handled[index] += 1
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

    def _handle(
        self,
        handler: Callable[[Claim], Mapping[str, Any] | None],
        claim: Claim,
        stop: threading.Event,
    ) -> None:
        """Run the handler on one claim and record the outcome (see `run`). The whole of
        it, retries included, runs inside `working`, so the lease stays renewed."""
        with self.queue.working(claim):
            try:
                result = handler(claim)
            except LeaseLostError as lost:
                self._log_lost(claim, lost)
                return
            except Exception as error:  # the handler's failure is the job's, not the loop's
                self._record_failure(claim, error, stop)
                return
            if result is not None and not isinstance(result, Mapping):
                bad_return = ValidationError(
                    f"the handler returned {describe_value(result)}; it must return a "
                    "mapping of fields to write on completion, or None",
                    model=self.queue.model,
                    expected="a mapping or None",
                )
                self._record_failure(claim, bad_return, stop)
                return
            try:
                self._settle_held(
                    claim, lambda: self.queue.complete(claim, result), "complete job", stop
                )
            except (ValidationError, ValueTooLongError, ConstraintError) as error:
                # The result cannot be stored (nothing was written): the job failed.
                self._record_failure(claim, error, stop)

    def _record_failure(self, claim: Claim, error: BaseException, stop: threading.Event) -> None:
        _log.warning(
            "queue %s: job %s failed on attempt %d of %d: %s",
            self.queue.model,
            claim.id,
            claim.attempt,
            self.queue.max_attempts,
            _error_text(error),
            exc_info=error,
        )
        self._settle_held(
            claim, lambda: self.queue.fail(claim, error), "record the failure of job", stop
        )

    def _settle_held(
        self, claim: Claim, settle: Callable[[], object], what: str, stop: threading.Event
    ) -> None:
        """Write the outcome of the job in hand, retrying transient errors; a lease lost
        meanwhile (or a cancellation) is logged, since the job is no longer ours."""
        try:
            self._retrying(settle, f"{what} {claim.id}", stop, holding=True)
        except LeaseLostError as lost:
            self._log_lost(claim, lost)

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
