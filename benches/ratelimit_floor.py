"""Where an allowed rate-limit hit's time goes, and the ceiling of its ratio against the
same read-plus-upsert transaction through Python's ``sqlite3`` (benches/ratelimit.py).

    .venv/bin/python benches/ratelimit_floor.py [--ops 5000] [--rounds 5]

Measured in interleaved rounds, CPU time (user + system) per operation, so that other
processes on a shared machine weigh less than in wall-clock time (wall is printed too):

* strata's allowed hit from Python, and the same hit in `RateLimiter._native_loop`;
* the suite's baselines: ``BEGIN IMMEDIATE``, the state read, the conditional upsert and
  ``COMMIT`` through ``sqlite3``; pyrate-limiter's ``SQLiteBucket`` with its file lock;
* from C (benches/sqlite_floor.c, built here with ``cc`` against the system SQLite), on the
  same schema and pragmas: the dialect's one-statement hit, alone and inside the flock
  turn strata's writes take; the baseline's transaction; and the least a committed write
  costs: ``BEGIN; UPDATE`` of one integer in a one-row table ``; COMMIT``, and that UPDATE
  alone in autocommit.

The ceiling is the baseline's time over the one-statement hit's from C: what a hit could
reach with nothing at all between Python and SQLite. Statements come from strata's dialect
(`strata.dialects.sqlite.ratelimit`), so they cannot drift.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _harness import rate_limit_statements, schema_ddl, sqlite3_peer
from ratelimit import BIG, NOW_NS, WINDOW_START, _limiter, _vs_pyrate, _vs_sqlite3
from strata.dialects.sqlite import SqliteDialect

HERE = Path(__file__).resolve().parent
KEY = ("user-42", "/api/media")


def _statements() -> dict[str, str]:
    found = rate_limit_statements(SqliteDialect())
    assert found["hit"] is not None
    return {"hit": found["hit"], "state": found["state"], "upsert": found["upsert"]}


def _spec(sql: str, *params: object) -> str:
    """A statement as sqlite_floor takes it: the SQL, then typed parameters, tab-separated."""
    typed = [f"i:{p}" if isinstance(p, int) else f"t:{p}" for p in params]
    return "\t".join([sql, *typed])


def _c_workloads() -> dict[str, tuple[bool, list[str]]]:
    sql = _statements()
    hit = _spec(sql["hit"], "fixed-id", *KEY, WINDOW_START, 1, BIG)
    transaction = [
        _spec("BEGIN IMMEDIATE"),
        _spec(sql["state"], *KEY),
        _spec(sql["upsert"], "fixed-id", *KEY, WINDOW_START, 1, BIG),
        _spec("COMMIT"),
    ]
    update = _spec("UPDATE floor_one SET n = n + 1 WHERE id = 1")
    return {
        "C: the one-statement hit": (False, [hit]),
        "C: the one-statement hit in the flock turn": (True, [hit]),
        "C: the baseline's transaction": (False, transaction),
        "C: BEGIN; UPDATE one row; COMMIT": (False, [_spec("BEGIN"), update, _spec("COMMIT")]),
        "C: UPDATE one row, autocommit": (False, [update]),
    }


def _build(folder: Path) -> Path:
    if shutil.which("cc") is None:
        sys.exit("ratelimit_floor needs a C compiler (cc) and SQLite's headers")
    binary = folder / "sqlite_floor"
    subprocess.run(
        ["cc", "-O2", "-o", str(binary), str(HERE / "sqlite_floor.c"), "-lsqlite3"], check=True
    )
    return binary


def _reset(path: Path) -> None:
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute('DELETE FROM "RateLimit"')
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _python_side(run: Callable[[int], object], reset: Callable[[], object], ops: int) -> tuple:
    reset()
    wall, cpu = time.perf_counter(), time.process_time()
    run(ops)
    return (time.perf_counter() - wall) / ops * 1e6, (time.process_time() - cpu) / ops * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=5000, help="operations per sample")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="strata-floor-") as folder:
        tmp = Path(folder)
        binary = _build(tmp)
        for part in ("py", "c", "pyrate"):
            (tmp / part).mkdir()
        samples: dict[str, list[tuple[float, float]]] = {}
        with (
            _vs_sqlite3(tmp / "py") as (strata_side, sqlite3_side),
            _limiter(tmp / "c") as (db, rl),
            _vs_pyrate(tmp / "pyrate") as (_, pyrate_side),
        ):
            floor_db = tmp / "floor.db"
            peer = sqlite3_peer(floor_db, schema_ddl(db))
            peer.executescript(
                "CREATE TABLE floor_one (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);"
                "INSERT INTO floor_one VALUES (1, 0);"
            )
            peer.close()
            native = lambda n: rl._native_loop(*KEY, n=n, limit=BIG, window=60)  # noqa: E731
            python = {
                "strata: hit from Python": (strata_side.run, strata_side.reset),
                "strata: the same hit in a Rust loop": (native, lambda: rl.reset(*KEY)),
                "sqlite3: the baseline's transaction": (sqlite3_side.run, sqlite3_side.reset),
                "pyrate-limiter: SQLiteBucket with its file lock": (
                    pyrate_side.run,
                    pyrate_side.reset,
                ),
            }
            rl.set_clock(NOW_NS)
            for _ in range(args.rounds):
                for name, (run, reset) in python.items():
                    samples.setdefault(name, []).append(_python_side(run, reset, args.ops))
                for name, (turn, statements) in _c_workloads().items():
                    _reset(floor_db)
                    out = subprocess.run(
                        [binary, floor_db, str(args.ops), "1" if turn else "0", *statements],
                        check=True,
                        capture_output=True,
                        text=True,
                    ).stdout.split()
                    samples.setdefault(name, []).append((float(out[0]), float(out[1])))
    width = max(map(len, samples))
    print(f"{'per operation, µs':{width}}  cpu min  cpu median  wall median")
    cpu = {name: min(c for _, c in found) for name, found in samples.items()}
    for name, found in samples.items():
        print(
            f"{name:{width}}  {cpu[name]:7.2f}  {statistics.median(c for _, c in found):10.2f}"
            f"  {statistics.median(w for w, _ in found):11.2f}"
        )
    baseline = cpu["sqlite3: the baseline's transaction"]
    print(f"\nbaseline / strata from Python (cpu):          {baseline / cpu[next(iter(cpu))]:.2f}")
    for name in ("C: the one-statement hit", "C: the one-statement hit in the flock turn"):
        print(f"ceiling, baseline / {name[3:]} (cpu): {baseline / cpu[name]:.2f}")
    pyrate = cpu["pyrate-limiter: SQLiteBucket with its file lock"]
    print(f"pyrate-limiter / strata from Python (cpu):    {pyrate / cpu[next(iter(cpu))]:.2f}")
    for name in ("C: the one-statement hit in the flock turn", "C: UPDATE one row, autocommit"):
        print(f"ceiling, pyrate-limiter / {name[3:]} (cpu): {pyrate / cpu[name]:.2f}")


if __name__ == "__main__":
    main()
