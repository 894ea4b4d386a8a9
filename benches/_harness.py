"""Shared machinery for strata's benchmarks: ratios against a baseline timed in the same run.

The machines these run on are shared and noisy, so an absolute time says little about
strata and nothing about a change to it. Every benchmark therefore does the same work two
ways, through strata and through a baseline (for the engine, Python's stdlib ``sqlite3``),
alternating between the two in many short rounds so that both see the same noise, and
reports the median of the per-round ratios ``baseline_time / strata_time``. Above 1.0,
strata is faster.

A suite module (``engine.py``, say) builds `Benchmark` objects; `run_suite` measures them
and `print_table` shows the results.
"""

from __future__ import annotations

import gc
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _nothing() -> None:
    pass


@dataclass(frozen=True)
class Side:
    """One side of a comparison: how to do the work, and how to get ready for it."""

    # Does the work `n` times (n calls, or n rows: see `Benchmark.unit`). Timed.
    run: Callable[[int], object]
    # Puts the database back into the same state before every sample, so that both sides
    # start each sample alike (e.g. with an empty WAL). Not timed.
    reset: Callable[[], object] = _nothing


@dataclass(frozen=True)
class Benchmark:
    """One workload, done by strata and by the baseline."""

    name: str  # stable key in the JSON results, after the suite's name
    label: str  # what the table shows
    unit: str  # what `size` counts ("call", "row"); times are reported per unit
    size: int  # units per timed sample
    rounds: int  # timed samples per side; odd, so that the median is one of the rounds
    # Given a fresh, empty directory, opens both sides and returns them as
    # (strata, baseline); leaving the context closes them.
    setup: Callable[[Path], AbstractContextManager[tuple[Side, Side]]]
    # The ratio strata must reach, or None for a figure that is only informational.
    target: float | None = 1.0


@dataclass(frozen=True)
class Check:
    """A figure that is not a ratio but a bound, such as a peak memory size."""

    name: str  # stable key in the JSON results, after the suite's name
    label: str
    value: float
    unit: str
    limit: float  # the value must stay at or below it

    @property
    def ok(self) -> bool:
        return self.value <= self.limit


@dataclass(frozen=True)
class Suite:
    name: str  # prefix of the suite's result names
    baseline: str  # what strata is compared with, for the table header
    # Builds the suite's benchmarks; the flag asks for the quick (CI-sized) variant.
    benchmarks: Callable[[bool], list[Benchmark]]
    # Figures that are not ratios (a throughput, a latency), printed after the table and
    # kept in the JSON results; the flag asks for the quick variant.
    extras: Callable[[bool], dict[str, float]] | None = None
    # Measures the suite's bounds (not ratios), if it has any; same flag.
    checks: Callable[[bool], list[Check]] | None = None


@dataclass(frozen=True)
class Result:
    name: str  # "suite.benchmark"
    benchmark: Benchmark
    strata_ns: list[int]  # per timed sample, in round order
    baseline_ns: list[int]

    @property
    def ratios(self) -> list[float]:
        """baseline / strata for each round: the two samples of a round ran back to back."""
        return [base / mine for mine, base in zip(self.strata_ns, self.baseline_ns, strict=True)]

    @property
    def ratio(self) -> float:
        # The median of per-round ratios, not the ratio of medians: a burst of load that
        # hits one round skews that round only, whichever side it lands on.
        return statistics.median(self.ratios)

    @property
    def meets_target(self) -> bool:
        target = self.benchmark.target
        return target is None or self.ratio >= target

    def per_unit_ns(self, samples: list[int]) -> float:
        return statistics.median(samples) / self.benchmark.size

    def details(self) -> dict[str, Any]:
        bench = self.benchmark
        return {
            "label": bench.label,
            "unit": bench.unit,
            "size": bench.size,
            "rounds": bench.rounds,
            "target": bench.target,
            "meets_target": self.meets_target,
            "ratio": self.ratio,
            "ratio_min": min(self.ratios),
            "ratio_max": max(self.ratios),
            "strata_ns_per_unit": self.per_unit_ns(self.strata_ns),
            "baseline_ns_per_unit": self.per_unit_ns(self.baseline_ns),
            "round_ratios": self.ratios,
            "strata_sample_ns": self.strata_ns,
            "baseline_sample_ns": self.baseline_ns,
        }


def _timed_sample(side: Side, size: int) -> int:
    side.reset()
    # The collector would otherwise fire at allocation-count thresholds that fall in one
    # side's sample or the other's depending on what ran before; neither side makes cycles.
    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter_ns()
        side.run(size)
        return time.perf_counter_ns() - started
    finally:
        gc.enable()


def measure(name: str, bench: Benchmark) -> Result:
    """Warm both sides up, then time them in alternating rounds."""
    with (
        tempfile.TemporaryDirectory(prefix="strata-bench-") as tmp,
        bench.setup(Path(tmp)) as (strata_side, baseline_side),
    ):
        # Untimed: fills statement caches, opens strata's reader connections, faults in
        # pages and lets the CPU clock up before anything counts.
        for side in (strata_side, baseline_side):
            _timed_sample(side, bench.size)
        strata_ns: list[int] = []
        baseline_ns: list[int] = []
        for round_index in range(bench.rounds):
            order = [(strata_side, strata_ns), (baseline_side, baseline_ns)]
            # A/B then B/A: whatever going first or second does (warmer CPU caches, the
            # other side's writes still being flushed) falls on both sides equally often.
            if round_index % 2:
                order.reverse()
            for side, samples in order:
                samples.append(_timed_sample(side, bench.size))
    return Result(name, bench, strata_ns, baseline_ns)


def run_suite(suite: Suite, quick: bool) -> list[Result]:
    results = []
    for bench in suite.benchmarks(quick):
        name = f"{suite.name}.{bench.name}"
        print(f"  {name} ...", end="", file=sys.stderr, flush=True)
        started = time.perf_counter()
        results.append(measure(name, bench))
        print(f" {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return results


def run_checks(suite: Suite, quick: bool) -> list[Check]:
    if suite.checks is None:
        return []
    print(f"  {suite.name} checks ...", end="", file=sys.stderr, flush=True)
    started = time.perf_counter()
    checks = suite.checks(quick)
    print(f" {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return checks


def print_checks(suite: Suite, checks: Iterable[Check]) -> None:
    for check in checks:
        status = "ok" if check.ok else "<<< ABOVE LIMIT"
        print(
            f"  {check.label}: {check.value:.1f} {check.unit} "
            f"(limit {check.limit:.0f} {check.unit}) {status}"
        )


def format_ns(ns: float) -> str:
    """Three significant digits in the largest unit that keeps the number at least 1."""
    value, unit = ns, "ns"
    for scale, name in ((1e9, "s"), (1e6, "ms"), (1e3, "µs")):
        if ns >= scale:
            value, unit = ns / scale, name
            break
    decimals = 2 if value < 10 else 1 if value < 100 else 0
    return f"{value:.{decimals}f} {unit}"


def print_table(suite: Suite, results: Iterable[Result]) -> None:
    header = ("workload", "strata", suite.baseline, "ratio", "(min-max)", "target", "")
    rows = [header]
    for result in results:
        bench = result.benchmark
        if bench.target is None:
            target, status = "info", ""
        else:
            target = f">= {bench.target:.2f}"
            status = "ok" if result.meets_target else "<<< BELOW TARGET"
        rows.append(
            (
                bench.label,
                f"{format_ns(result.per_unit_ns(result.strata_ns))}/{bench.unit}",
                f"{format_ns(result.per_unit_ns(result.baseline_ns))}/{bench.unit}",
                f"{result.ratio:.2f}",
                f"({min(result.ratios):.2f}-{max(result.ratios):.2f})",
                target,
                status,
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    # Text left-aligned, figures right-aligned.
    align = "<>>><<<"
    print(f"\n{suite.name}: ratio = {suite.baseline} time / strata time (above 1: strata faster)")
    for index, row in enumerate(rows):
        cells = [f"{cell:{a}{w}}" for cell, a, w in zip(row, align, widths, strict=True)]
        print("  ".join(cells).rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths[:-1]))


def schema_ddl(db: Any) -> str:
    """The CREATE statements of a strata database, to give a peer the same tables."""
    rows = db.query_raw_(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
        "AND name NOT LIKE '_prisma%'",
        as_tuples=True,
    )
    return ";\n".join(sql for (sql,) in rows) + ";"


def sqlite3_peer(path: Path, ddl: str) -> sqlite3.Connection:
    """A Python ``sqlite3`` connection set up as strata sets up its own (WAL, synchronous
    NORMAL, foreign keys), in autocommit mode so that each side's transactions are its
    own, holding the tables ``ddl`` creates."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON"):
        conn.execute(f"PRAGMA {pragma}")
    conn.executescript(ddl)
    return conn


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def redis_server() -> Iterator[str]:
    """A ``redis-server`` of its own on the loopback (Debian's, installed by ``make
    test-deps``), in memory only as it is deployed for rate limiting (no snapshots, no
    append-only file), stopped on exit. Yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


#: `limits`' strategies by the name of the window they keep: "moving" logs every hit's
#: time (exact), "sliding" weighs the previous window's count as strata's sliding does.
LIMITS_STRATEGIES = {
    "fixed": "FixedWindowRateLimiter",
    "moving": "MovingWindowRateLimiter",
    "sliding": "SlidingWindowCounterRateLimiter",
}


@contextmanager
def limits_redis(window: str, limit: int, key: tuple[str, ...]) -> Iterator[Side]:
    """Allowed hits on ``key`` through ``limits`` with its Redis storage, on a
    `redis_server` of its own: ``limit`` per minute, with the strategy that keeps
    ``window`` (see `LIMITS_STRATEGIES`). The reset clears the key."""
    import limits.strategies
    from limits import parse
    from limits.storage import RedisStorage

    with redis_server() as url:
        strategy = getattr(limits.strategies, LIMITS_STRATEGIES[window])
        limiter = strategy(RedisStorage(url))
        item = parse(f"{limit}/minute")

        def run(n: int) -> None:
            hit = limiter.hit
            for _ in range(n):
                if not hit(item, *key):
                    raise AssertionError("limits denied a hit under its limit")

        yield Side(run, lambda: limiter.clear(item, *key))


def rate_limit_statements(dialect: Any) -> Any:
    """The statements `dialect`'s limiter runs for the suites' RateLimit model (a window
    keyed by userId and endpoint, counted in requestCount): the SQL both sides of a
    same-SQL baseline run, taken from strata so that it cannot drift."""
    return dialect.ratelimit.window_statements(
        '"RateLimit"',
        ['"userId"', '"endpoint"'],
        ['"userId"', '"endpoint"', '"windowStart"'],
        count='"requestCount"',
        window_start='"windowStart"',
        id='"id"',
        created=[],
        updated=[],
        config=None,
    )
