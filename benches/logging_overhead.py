"""What the logging hook costs a statement: ``query_raw_("SELECT 1")`` per call, with the
hook removed, with the default hook (pool waits only; statements are not timed), and with
a slow-statement threshold that never fires (each statement is timed, nothing is logged).

Run: ``.venv/bin/python benches/logging_overhead.py``. Samples alternate between the three
set-ups so that machine noise falls on all of them alike; the medians are printed.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import strata
from strata.events import log_hook

CALLS = 20_000
ROUNDS = 15


def per_call_ns(db: strata.Database) -> float:
    query = db.query_raw_
    started = time.perf_counter_ns()
    for _ in range(CALLS):
        query("SELECT 1")
    return (time.perf_counter_ns() - started) / CALLS


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = strata.connect(Path(tmp) / "bench.db")
        setups = {
            "no hook": lambda: db.set_log_hook_(None),
            "default hook (no threshold)": lambda: db.set_log_hook_(log_hook),
            "threshold set, never reached": lambda: db.log_slow_queries_(1e9),
        }
        samples: dict[str, list[float]] = {name: [] for name in setups}
        per_call_ns(db)  # warm up the statement cache
        for _ in range(ROUNDS):
            for name, setup in setups.items():
                setup()
                samples[name].append(per_call_ns(db))
        db.close_()
    base = statistics.median(samples["no hook"])
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:32} {median:8.0f} ns/call  ({median - base:+.0f} ns)")


if __name__ == "__main__":
    main()
