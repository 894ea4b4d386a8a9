"""`strata demo`: a render farm on one SQLite file (or a PostgreSQL server), end to end.

The render-manager schema is migrated into ``./strata-demo.db`` (or, with ``--url
postgresql://...``, into that database, from the schema's PostgreSQL form) and seeded with
idempotent upserts. Then, with nothing but strata:

1. two API clients, "bravo" and "plugin", submit 50,000 jobs through the rate limiter,
   each under its own limit; refused submissions wait the ``retry_after`` and try again
   (on a simulated clock, so that minutes of traffic pass in seconds);
2. two validator processes move jobs from PENDING through VALIDATING to QUEUED, and four
   render processes claim them by priority, report progress, and complete or fail them,
   with retries. One render process is killed with SIGKILL along the way; its jobs are
   claimed again once their leases run out;
3. while rendering, each node reports a hardware sample per simulated second through bulk
   ingest (over a million in all), rolled up to one-minute buckets;
4. DuckDB, fed by Arrow streams from the core, computes the report, which is printed and
   written to ``strata-demo-report.html``;
5. the command that opens the database in ``strata studio`` is printed last, with a studio
   file (``strata-demo.studio.toml``) naming the schema and what the studio watches.

A second run resumes where the first stopped (after Ctrl-C, say); ``--fresh`` starts over.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import strata
from strata._compat import UTC
from strata.demo_report import Report, write_html
from strata.dialects import provider_for_url
from strata.errors import ConfigurationError

JOBS = 50_000
#: The render manager's schema per provider (they ship inside the package, so the demo runs
#: from an installed wheel in an empty folder).
SCHEMA_FILES = {
    provider: strata.example_schema("render_manager", provider)
    for provider in ("sqlite", "postgresql")
}
#: Submissions each API client may make per (simulated) minute.
LIMITS = {"bravo": 2_400, "plugin": 1_500}
VALIDATORS = 2
RENDERERS = 4
NODES_PER_RENDERER = 12
#: Real seconds: short, so that the killed renderer's jobs come back within the demo.
LEASE = 3.0
#: A render fails this often; it is retried, up to MAX_ATTEMPTS.
FAILURE_RATE = 0.03
MAX_ATTEMPTS = 3
#: Where the simulated timeline of the metrics starts.
EPOCH = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")
_ORDER = [{"priority": "desc"}, {"submittedAt": "asc"}]
#: The two queues over Job (validators move PENDING jobs to QUEUED, renderers take those),
#: as `Database.queue_` takes them; the studio file names them too.
QUEUES: dict[str, dict[str, Any]] = {
    "validation": {
        "ready": {"status": "PENDING"},
        "claimed": {"status": "VALIDATING"},
        "done": {"status": "QUEUED"},
        "failed": {"status": "FAILED"},
        "order_by": _ORDER,
        "lease": LEASE,
        "fields": {"attempts": "validationAttempts"},
    },
    "render": {
        "ready": {"status": "QUEUED"},
        "claimed": {"status": "RENDERING"},
        "done": {"status": "COMPLETED"},
        "failed": {"status": "FAILED"},
        "cancelled": {"status": "CANCELLED"},
        "order_by": _ORDER,
        "lease": LEASE,
        "max_attempts": MAX_ATTEMPTS,
    },
}
RATE_LIMITER = {
    "key": ["clientName", "endpoint"],
    "count": "requestCount",
    "window_start": "windowStart",
}
METRICS = {"series": "node", "time": "timestamp"}


def run(
    database: Path | str,
    *,
    fresh: bool,
    console: Console,
    jobs: int = JOBS,
    report_dir: Path | None = None,
) -> Report:
    """Run the demo on ``database`` (a SQLite file, or a ``postgresql://`` URL) and return
    its report, written as HTML into ``report_dir`` (by default beside a SQLite file, or
    the working directory)."""
    provider = provider_for_url(database)
    schema = SCHEMA_FILES[provider]
    if not schema.is_file():
        raise ConfigurationError(
            f"the demo's schema {schema} is missing from this installation of strata; "
            "reinstall the package (pip install --force-reinstall strata-db)"
        )
    if provider == "sqlite":
        database = Path(database)
        directory = database.resolve().parent
        if not os.access(directory, os.W_OK):
            raise ConfigurationError(
                f"cannot write {database.name} in {directory}: the directory is read-only. "
                "Run the demo from a directory you can write to, or pass --db PATH."
            )
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{database}{suffix}").unlink(missing_ok=True)
        report_dir = report_dir or database.resolve().parent
    report_dir = report_dir or Path.cwd()
    started = time.perf_counter()
    with strata.connect(database, schema=schema) as db:
        if fresh and provider != "sqlite":
            db.migrate_.reset(force=True, seed=False)
        _check_schema(db, str(database))
        db.migrate_.push()
        _seed(db)
        console.print(f"[bold]strata demo[/] on {db.path_} ({_server(db)})")
        with Progress(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            refusals = _submit(db, jobs, progress)
            _work(db, jobs, progress, str(database), schema)
            _roll_up(db, progress)
        report = Report.collect(db, wall_seconds=time.perf_counter() - started, refusals=refusals)
    html = report_dir / "strata-demo-report.html"
    write_html(report, html, on=_where(provider))
    _print_summary(report, console)
    console.print(f"report written to {html}")
    studio_file = report_dir / "strata-demo.studio.toml"
    write_studio_file(studio_file, schema)
    target = _shown(Path(database)) if provider == "sqlite" else f"'{database}'"
    console.print(
        "browse, edit and watch it in the studio (needs strata-db[studio]):\n"
        f"  strata studio {target} --config {_shown(studio_file)}",
        soft_wrap=True,
        markup=False,
    )
    return report


def _shown(path: Path) -> str:
    """``path`` as short as the working directory allows."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def write_studio_file(path: Path, schema: Path) -> None:
    """The studio file (`strata.studio.bindings`) naming the demo's schema, its two
    queues, its rate limiter and its metrics."""
    lines = [
        "# Written by `strata demo`: `strata studio DATABASE --config` this file.",
        f"schema = {_toml(str(schema))}",
    ]
    tables = [("queues", n, {"model": "Job", **q}) for n, q in QUEUES.items()]
    tables += [("rate_limiters", "RateLimit", RATE_LIMITER), ("metrics", "NodeMetric", METRICS)]
    for kind, name, table in tables:
        lines += ["", f"[{kind}.{name}]"]
        lines += [f"{key} = {_toml(value)}" for key, value in table.items()]
    path.write_text("\n".join(lines) + "\n")


def _toml(value: Any) -> str:
    """The few TOML values the studio file holds: text, numbers, arrays, inline tables."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def _where(provider: str) -> str:
    return "one SQLite file" if provider == "sqlite" else "a PostgreSQL server"


def _server(db: strata.Database) -> str:
    """The database server and its version, as the health check reads it."""
    health = db.health_()
    name = "SQLite" if health.provider == "sqlite" else "PostgreSQL"
    return f"{name} {health.server_version}"


# -- setting up ------------------------------------------------------------------------------


def _check_schema(db: strata.Database, database: str) -> None:
    """Refuse a database that holds another application's tables: pushing the render
    manager's schema onto it would rewrite them."""
    tables = {table.name for table in db.migrate_.live().tables}
    ours = {"User", "Job", "ApiToken"}
    if tables and not ours <= tables:
        raise ConfigurationError(
            f"{database} holds tables of another schema ({', '.join(sorted(tables)[:5])}); "
            "the demo will not change them. Pass --fresh to start over, or another --db/--url."
        )


def _seed(db: strata.Database) -> None:
    """API tokens and users, as the render manager's seed creates them: upserts, so a
    second run changes nothing."""
    for client in LIMITS:
        db.api_token.upsert(
            where={"clientName": client},
            create={"clientName": client, "token": f"demo-token-{client}"},
            update={},
        )
    for name in ("alice", "bob", "carol"):
        db.user.upsert(
            where={"email": f"{name}@studio.example"},
            create={"email": f"{name}@studio.example", "macUsernames": [name]},
            update={},
        )


# -- 1. submitting through the rate limiter ---------------------------------------------------


def _submit(db: strata.Database, total: int, progress: Progress) -> dict[str, int]:
    """Submit jobs until ``total`` exist, alternating the two API clients; returns the
    refusals per client."""
    limiter = db.rate_limiter_("RateLimit", **RATE_LIMITER)  # type: ignore[arg-type]
    users = [u.id for u in db.user.find_many(order_by={"email": "asc"})]
    existing = db.job.count()
    task = progress.add_task("submit (rate-limited)", total=total, completed=existing)
    rng = random.Random(existing)
    refusals = dict.fromkeys(LIMITS, 0)
    refused_rows: list[dict[str, Any]] = []
    clock = {client: EPOCH + timedelta(milliseconds=existing * 10) for client in LIMITS}
    batch: list[dict[str, Any]] = []
    for number in range(existing, total):
        client = "bravo" if number % 5 < 3 else "plugin"
        while True:
            limiter.set_clock(clock[client])
            decision = limiter.hit(client, "/api/jobs", limit=LIMITS[client], window=60)
            if decision.allowed:
                break
            refusals[client] += 1
            refused_rows.append(
                {
                    "clientName": client,
                    "refusedAt": clock[client],
                    "retryAfter": decision.retry_after,
                }
            )
            clock[client] += timedelta(seconds=decision.retry_after)  # wait as told
        clock[client] += timedelta(milliseconds=rng.randint(5, 40))
        batch.append(
            {
                "userId": users[number % len(users)],
                "projectPath": f"/projects/{client}/shot-{number:05d}.aep",
                "source": client,
                "macUsername": ("alice", "bob", "carol")[number % 3],
                "fileTimestamp": clock[client],
                "nexrenderConfig": {"template": f"t{number % 7}", "frames": 24 + number % 96},
                "priority": rng.choice((0, 0, 0, 1, 1, 2, 5)),
                "status": "PENDING",
            }
        )
        if len(batch) == 2_000 or number == total - 1:
            db.job.create_many(data=batch)
            progress.advance(task, len(batch))
            batch = []
    if refused_rows:
        db.rate_limit_refusal.create_many(data=refused_rows)
    return {client: db.rate_limit_refusal.count(where={"clientName": client}) for client in LIMITS}


# -- 2. validating and rendering in worker processes -------------------------------------------


def _validation_queue(db: strata.Database) -> Any:
    return db.queue_("Job", **QUEUES["validation"])


def _render_queue(db: strata.Database) -> Any:
    return db.queue_("Job", **QUEUES["render"])


def _quiet_worker() -> list[bool]:
    """Workers leave Ctrl-C to the parent, which asks them to stop with SIGTERM; they
    finish the batch in hand first. The returned flag turns true on SIGTERM."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stopping = [False]
    signal.signal(signal.SIGTERM, lambda *_: stopping.__setitem__(0, True))
    return stopping


def validate_jobs(path: str, schema: Path, name: str) -> None:
    stopping = _quiet_worker()
    with strata.connect(path, schema=schema, busy_timeout=30) as db:
        queue = _validation_queue(db)
        while not stopping[0]:
            claims = queue.wait_and_claim(name, limit=64, timeout=1.0)
            if not claims:
                if db.job.count(where={"status": {"in": ["PENDING", "VALIDATING"]}}) == 0:
                    return
                continue
            queue.complete_many(claims, data={"lastValidationAt": queue.now()})


def render_jobs(path: str, schema: Path, index: int) -> None:
    stopping = _quiet_worker()
    rng = random.Random(1000 + index)
    nodes = [f"node-{index}{n:02d}" for n in range(NODES_PER_RENDERER)]
    # Each node's own simulated clock: a render of d seconds moves it d seconds on.
    node_clock = dict.fromkeys(nodes, 0)
    with strata.connect(path, schema=schema, busy_timeout=30) as db:
        queue = _render_queue(db)
        metrics = db.metrics_("NodeMetric", **METRICS)
        while not stopping[0]:
            claims = queue.wait_and_claim(f"render-{index}", limit=8, timeout=1.0)
            if not claims:
                if db.job.count(where={"status": {"not_in": list(TERMINAL)}}) == 0:
                    return
                continue
            samples: dict[str, list[Any]] = {
                "node": [],
                "timestamp": [],
                "gpuUsage": [],
                "gpuTemp": [],
                "cpuUsage": [],
            }
            for position, claim in enumerate(claims):
                node = nodes[(position + rng.randrange(len(nodes))) % len(nodes)]
                frames = claim.record.nexrenderConfig.get("frames", 48)
                seconds = 6 + frames // 5 + rng.randrange(6)
                load = 70 + 25 * rng.random()
                start = node_clock[node]
                for second in range(seconds):
                    samples["node"].append(node)
                    samples["timestamp"].append(EPOCH + timedelta(seconds=start + second))
                    samples["gpuUsage"].append(min(100.0, load + rng.gauss(0, 4)))
                    samples["gpuTemp"].append(55 + load / 4 + rng.gauss(0, 1.5))
                    samples["cpuUsage"].append(20 + 30 * rng.random())
                node_clock[node] = start + seconds
                try:
                    queue.progress(claim, 50, logs=f"{node}: rendering {frames} frames\n")
                    if rng.random() < FAILURE_RATE:
                        queue.fail(claim, "GPU out of memory", retry_in=0.2)
                    else:
                        queue.complete(claim, data={"outputPath": f"/renders/{claim.id}.mov"})
                except strata.LeaseLostError:
                    continue  # cancelled, or taken over after a stall: not ours any more
            metrics.ingest(samples)


@dataclass
class _Crew:
    processes: list[multiprocessing.process.BaseProcess]

    def stop(self) -> None:
        for process in self.processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        for process in self.processes:
            process.join(timeout=30)


def _work(db: strata.Database, total: int, progress: Progress, path: str, schema: Path) -> None:
    """Validate and render in worker processes, each with connections of its own to
    ``path`` (the database's file or URL: the handle's display form hides a password)."""
    if _all_done(_counts(db)):
        return  # an earlier run finished everything
    context = multiprocessing.get_context("spawn")
    validators = [
        context.Process(target=validate_jobs, args=(path, schema, f"validator-{n}"))
        for n in range(VALIDATORS)
    ]
    renderers = [
        context.Process(target=render_jobs, args=(path, schema, n)) for n in range(RENDERERS)
    ]
    crew = _Crew([*validators, *renderers])
    validated = progress.add_task(f"validate ({VALIDATORS} processes)", total=total)
    rendered = progress.add_task(f"render ({RENDERERS} processes)", total=total)
    victim, killed = renderers[0], False
    for process in crew.processes:
        process.start()
    try:
        # Workers exit once every job is settled; the killed one never comes back, and
        # the others reclaim its jobs when their leases run out.
        while any(p.is_alive() for p in crew.processes):
            time.sleep(0.25)
            counts = _counts(db)
            finished = sum(counts.get(s, 0) for s in TERMINAL)
            waiting = counts.get("PENDING", 0) + counts.get("VALIDATING", 0)
            progress.update(validated, completed=total - waiting)
            progress.update(rendered, completed=finished)
            if not killed and finished > total // 4 and victim.pid is not None:
                os.kill(victim.pid, signal.SIGKILL)  # mid-run: it holds claimed jobs
                killed = True
                progress.console.print(
                    f"killed render process {victim.pid} with SIGKILL; its jobs come back "
                    f"when their {LEASE:.0f} s leases run out"
                )
    except KeyboardInterrupt:
        crew.stop()
        progress.console.print("stopped: run `strata demo` again to resume, or add --fresh")
        raise
    crew.stop()


def _counts(db: strata.Database) -> dict[str, int]:
    return {row["status"]: row["_count"] for row in db.job.group_by(["status"], count=True)}


def _all_done(counts: dict[str, int]) -> bool:
    return bool(counts) and all(status in TERMINAL for status in counts)


# -- 3. metrics rollup ------------------------------------------------------------------------


def _roll_up(db: strata.Database, progress: Progress) -> None:
    task = progress.add_task("roll up metrics (1 min)", total=1)
    db.metrics_("NodeMetric", **METRICS).rollup(into="NodeMetricRollup", every="1m")
    progress.advance(task)


# -- 4. the report ----------------------------------------------------------------------------


def _print_summary(report: Report, console: Console) -> None:
    table = Table(title="strata demo: the render farm's run", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for label, value in report.summary_rows():
        table.add_row(label, value)
    console.print(table)
    if report.missing is not None:
        # Without the analytics extra the percentiles and charts are left out, and said so.
        console.print(
            f"[yellow]queue times by priority and the charts: {escape(report.missing)}[/]",
            soft_wrap=True,
        )
        return
    by_priority = Table(
        title="queue wait and render time by priority (seconds)", title_justify="left"
    )
    for column in ("priority", "jobs", "wait p50", "wait p95", "render p50", "render p95"):
        by_priority.add_column(column, justify="right")
    for row in report.by_priority:
        by_priority.add_row(*(f"{v:,.2f}" if isinstance(v, float) else f"{v:,}" for v in row))
    console.print(by_priority)
