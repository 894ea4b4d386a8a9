"""The demo's report: figures computed by DuckDB over the core's Arrow export, printed as a
table and written as a self-contained HTML page with SVG charts (no scripts, no network).
Without DuckDB (strata-db installed without its analytics extra) the report keeps the counts,
read through the client, and says what it left out and how to get it."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import strata
from strata._compat import UTC
from strata.dialects import duckdb as sql
from strata.errors import MissingExtraError

__all__ = ["Report", "write_html"]


@dataclass
class Report:
    wall_seconds: float
    jobs: int
    completed: int
    failed: int
    retried_jobs: int
    retries: int
    jobs_per_second: float
    #: (priority, jobs, wait p50, wait p95, render p50, render p95), seconds.
    by_priority: list[tuple[Any, ...]]
    #: Per client: (allowed submissions, refusals).
    clients: dict[str, tuple[int, int]]
    samples: int
    #: (seconds since the first completion, jobs completed in that second).
    completions: list[tuple[int, int]] = field(default_factory=list)
    #: node -> [(minutes since the first sample, mean GPU use over 10 minutes)].
    gpu: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    gpu_minutes: int = 0
    #: Why the figures DuckDB computes (percentiles, charts) are absent: the analytics
    #: extra is not installed. None in a full report.
    missing: str | None = None

    @classmethod
    def collect(
        cls, db: strata.Database, *, wall_seconds: float, refusals: dict[str, int]
    ) -> Report:
        try:
            duck = db.analytics_(["Job", "NodeMetricRollup", "RateLimit"])
        except MissingExtraError as exc:
            return cls._collect_headlines(
                db, wall_seconds=wall_seconds, refusals=refusals, missing=str(exc)
            )

        def one(query: str) -> tuple[Any, ...]:
            (row,) = duck.sql(query).fetchall()
            return tuple(row)

        jobs, completed, failed, retried, retries = one(sql.DEMO_JOBS)
        span = one(sql.DEMO_JOB_SPAN)[0]
        by_priority = duck.sql(sql.DEMO_JOB_TIMES_BY_PRIORITY).fetchall()
        allowed = dict(duck.sql(sql.DEMO_ALLOWED_BY_CLIENT).fetchall())
        completions = duck.sql(sql.DEMO_COMPLETIONS).fetchall()
        gpu_rows = duck.sql(sql.DEMO_GPU).fetchall()
        samples = one(sql.DEMO_SAMPLES)[0]
        gpu: dict[str, list[tuple[int, float]]] = {}
        for node, minute, usage in gpu_rows:
            gpu.setdefault(node, []).append((int(minute), float(usage)))
        return cls(
            wall_seconds=wall_seconds,
            jobs=jobs,
            completed=completed,
            failed=failed,
            retried_jobs=retried,
            retries=int(retries),
            jobs_per_second=completed / span if span else 0.0,
            by_priority=[tuple(row) for row in by_priority],
            clients={c: (int(allowed.get(c, 0)), refusals.get(c, 0)) for c in sorted(refusals)},
            samples=int(samples),
            completions=[(int(s), int(n)) for s, n in completions],
            gpu=gpu,
            gpu_minutes=max((m for rows in gpu.values() for m, _ in rows), default=0) + 10,
        )

    @classmethod
    def _collect_headlines(
        cls, db: strata.Database, *, wall_seconds: float, refusals: dict[str, int], missing: str
    ) -> Report:
        """The counts and totals, through the client alone: what the report can say
        without DuckDB (an install without the analytics extra)."""
        retried = db.job.aggregate(
            where={"attempts": {"gt": 1}}, count=True, sum={"attempts": True}
        )
        span = db.job.aggregate(
            where={"status": "COMPLETED"}, min={"startedAt": True}, max={"completedAt": True}
        )
        first, last = span["_min"]["startedAt"], span["_max"]["completedAt"]
        seconds = (last - first).total_seconds() if first and last else 0.0
        completed = db.job.count(where={"status": "COMPLETED"})
        allowed = {
            row["clientName"]: int(row["_sum"]["requestCount"] or 0)
            for row in db.rate_limit.group_by(["clientName"], sum={"requestCount": True})
        }
        samples = db.node_metric_rollup.aggregate(sum={"gpuUsage_count": True})
        return cls(
            wall_seconds=wall_seconds,
            jobs=db.job.count(),
            completed=completed,
            failed=db.job.count(where={"status": "FAILED"}),
            retried_jobs=retried["_count"],
            retries=int(retried["_sum"]["attempts"] or 0) - retried["_count"],
            jobs_per_second=completed / seconds if seconds else 0.0,
            by_priority=[],
            clients={c: (allowed.get(c, 0), refusals.get(c, 0)) for c in sorted(refusals)},
            samples=int(samples["_sum"]["gpuUsage_count"] or 0),
            missing=missing,
        )

    def summary_rows(self) -> list[tuple[str, str]]:
        rows = [
            ("jobs submitted", f"{self.jobs:,}"),
            ("completed", f"{self.completed:,}"),
            ("failed for good", f"{self.failed:,}"),
            ("jobs retried / retries", f"{self.retried_jobs:,} / {self.retries:,}"),
            ("jobs per second (rendering)", f"{self.jobs_per_second:,.0f}"),
            ("hardware samples ingested", f"{self.samples:,}"),
        ]
        for client, (allowed, refused) in self.clients.items():
            rows.append((f"{client}: submissions allowed / refused", f"{allowed:,} / {refused:,}"))
        rows.append(("wall time", f"{self.wall_seconds:.1f} s"))
        return rows


# -- HTML -------------------------------------------------------------------------------------

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #1d2330; background: #f6f7fb; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } .sub { color: #5b6475; margin-top: 0; }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: .8rem; margin: 1.2rem 0; }
.card { background: #fff; border-radius: 10px; padding: .9rem 1rem;
        box-shadow: 0 1px 3px rgba(0,0,0,.08); }
.card b { display: block; font-size: 1.5rem; } .card span { color: #5b6475; font-size: .85rem; }
section { background: #fff; border-radius: 10px; padding: 1rem 1.2rem; margin: 1rem 0;
          box-shadow: 0 1px 3px rgba(0,0,0,.08); }
table { border-collapse: collapse; width: 100%; } td, th { padding: .3rem .6rem;
        text-align: right; border-bottom: 1px solid #eceef3; } th:first-child,
        td:first-child { text-align: left; }
"""


def _card(value: str, label: str) -> str:
    return f'<div class="card"><b>{html.escape(value)}</b><span>{html.escape(label)}</span></div>'


def _completions_svg(points: list[tuple[int, int]]) -> str:
    width, height, pad = 1040, 220, 36
    if not points:
        return "<p>no completed jobs</p>"
    last = max(s for s, _ in points) or 1
    peak = max(n for _, n in points) or 1
    x_scale, y_scale = (width - 2 * pad) / last, (height - 2 * pad) / peak
    coords = " ".join(
        f"{pad + x_scale * s:.1f},{height - pad - y_scale * n:.1f}" for s, n in points
    )
    return (
        f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" '
        'aria-label="jobs completed per second">'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'stroke="#c9cdd8"/>'
        f'<polyline fill="none" stroke="#3b6ff5" stroke-width="1.6" points="{coords}"/>'
        f'<text x="{pad}" y="{pad - 10}" fill="#5b6475" font-size="12">peak {peak:,} jobs/s</text>'
        f'<text x="{width - pad}" y="{height - 10}" fill="#5b6475" font-size="12" '
        f'text-anchor="end">{last:,} s</text></svg>'
    )


def _gpu_svg(gpu: dict[str, list[tuple[int, float]]], minutes: int) -> str:
    if not gpu:
        return "<p>no samples</p>"
    label, cell_h, width = 80, 9, 960
    columns = max(1, minutes // 10)
    cell_w = width / columns
    height = cell_h * len(gpu) + 30
    cells = []
    for row, (node, values) in enumerate(sorted(gpu.items())):
        y = row * cell_h
        cells.append(
            f'<text x="{label - 6}" y="{y + cell_h - 1}" font-size="8" text-anchor="end" '
            f'fill="#5b6475">{html.escape(node)}</text>'
        )
        for minute, usage in values:
            share = max(0.0, min(1.0, usage / 100))
            colour = f"hsl({220 - 200 * share:.0f}, 80%, {92 - 45 * share:.0f}%)"
            cells.append(
                f'<rect x="{label + cell_w * minute / 10:.1f}" y="{y}" width="{cell_w + 0.4:.1f}" '
                f'height="{cell_h - 1}" fill="{colour}"><title>{html.escape(node)}, minute '
                f"{minute}: {usage:.0f}%</title></rect>"
            )
    cells.append(
        f'<text x="{label}" y="{height - 8}" font-size="11" fill="#5b6475">0 min</text>'
        f'<text x="{label + width}" y="{height - 8}" font-size="11" fill="#5b6475" '
        f'text-anchor="end">{minutes:,} min (simulated)</text>'
    )
    return (
        f'<svg viewBox="0 0 {label + width + 10} {height}" width="100%" role="img" '
        f'aria-label="GPU utilisation per node">{"".join(cells)}</svg>'
    )


def write_html(report: Report, path: Path, *, on: str = "one SQLite file") -> None:
    """Write ``report`` as one HTML page; ``on`` says where the farm ran."""
    cards = "".join(
        [
            _card(f"{report.completed:,}", "jobs completed"),
            _card(f"{report.jobs_per_second:,.0f}/s", "render throughput"),
            _card(f"{report.retries:,}", "retries"),
            _card(f"{report.samples:,}", "hardware samples"),
        ]
    )
    priority_rows = "".join(
        "<tr>"
        + "".join(f"<td>{v:,.2f}</td>" if isinstance(v, float) else f"<td>{v:,}</td>" for v in row)
        + "</tr>"
        for row in report.by_priority
    )
    client_rows = "".join(
        f"<tr><td>{html.escape(c)}</td><td>{a:,}</td><td>{r:,}</td></tr>"
        for c, (a, r) in report.clients.items()
    )
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    computed = "figures computed by DuckDB over the core's Arrow export"
    completions = _completions_svg(report.completions)
    detail = f"""<section><h2>Jobs completed per second</h2>{completions}</section>
<section><h2>GPU utilisation per node (10-minute means of the 1-minute rollup)</h2>
{_gpu_svg(report.gpu, report.gpu_minutes)}</section>
<section><h2>Queue wait and render time by priority (seconds)</h2><table>
<tr><th>priority</th><th>jobs</th><th>wait p50</th><th>wait p95</th><th>render p50</th>
<th>render p95</th></tr>{priority_rows}</table></section>"""
    if report.missing is not None:
        computed = "counts read through the client"
        detail = (
            "<section><h2>Throughput, GPU utilisation and times by priority</h2>"
            f'<p class="sub">Not computed: {html.escape(report.missing)}.</p></section>'
        )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>strata demo report</title>
<style>{_STYLE}</style></head><body>
<h1>A render farm on {html.escape(on)}</h1>
<p class="sub">strata demo, {generated}: {report.jobs:,} jobs, rate-limited submission, 2 validator
and 4 render processes (one killed mid-run), hardware metrics rolled up per minute, {computed}.
Wall time {report.wall_seconds:.1f} s.</p>
<div class="cards">{cards}</div>
{detail}
<section><h2>Rate limiting per API client</h2><table>
<tr><th>client</th><th>allowed</th><th>refused, then retried</th></tr>{client_rows}</table>
<p class="sub">{report.retried_jobs:,} jobs needed more than one render attempt;
{report.failed:,} failed for good.</p></section>
</body></html>
"""
    path.write_text(page, encoding="utf-8")
