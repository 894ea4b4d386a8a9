"""DuckDB's SQL: what strata runs in DuckDB over the core's Arrow export (`strata.analytics`,
the demo's report).

DuckDB never opens the database itself, so this is not a `strata.dialects.base.Dialect`:
it holds the statements of the analytical side, kept here with the rest of strata's SQL.
Views and ready-made queries name tables with `quote`; ``{table}`` in a query is the view.
"""

from __future__ import annotations

__all__ = [
    "DEMO_ALLOWED_BY_CLIENT",
    "DEMO_COMPLETIONS",
    "DEMO_GPU",
    "DEMO_JOBS",
    "DEMO_JOB_SPAN",
    "DEMO_JOB_TIMES_BY_PRIORITY",
    "DEMO_SAMPLES",
    "ERROR_RATE",
    "GPU_UTILISATION",
    "REQUEST_LATENCY",
    "REQUEST_LATENCY_BY_STATUS",
    "UTC",
    "confine",
    "copy_query",
    "copy_to_parquet",
    "parquet_row_count",
    "quote",
    "select_all",
]

#: Shows TIMESTAMPTZ values in UTC, which is what the data means.
UTC = "SET TimeZone = 'UTC'"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def select_all(view: str) -> str:
    """Every row of the view ``view`` (unquoted)."""
    return f"SELECT * FROM {quote(view)}"


def sample_query(view: str) -> str:
    """What the studio's SQL box starts with: the first rows of ``view``."""
    return f"{select_all(view)} LIMIT 20"


def copy_to_parquet(view: str) -> str:
    """Writes the view ``view`` (unquoted) to the Parquet file named by the parameter."""
    return f"COPY ({select_all(view)}) TO ? (FORMAT parquet)"


def confine(directory: str) -> list[str]:
    """Settings that keep a connection's queries (the studio's SQL box) off the file system
    but for ``directory``, where a download is written, locked so that a query cannot
    lift them."""
    literal = "'" + directory.replace("'", "''") + "'"
    return [
        f"SET allowed_directories = [{literal}]",
        "SET enable_external_access = false",
        "SET lock_configuration = true",
    ]


#: What `copy_query` writes, by format name.
COPY_FORMATS = {"csv": "(FORMAT csv, HEADER)", "parquet": "(FORMAT parquet)"}


def copy_query(query: str, format: str) -> str:
    """Writes the result of ``query`` (a user's SELECT) to the file named by the parameter,
    as ``format`` (a key of `COPY_FORMATS`)."""
    return f"COPY ({query}) TO ? {COPY_FORMATS[format]}"


def parquet_row_count() -> str:
    """The rows of the Parquet file named by the parameter."""
    return "SELECT count(*) FROM read_parquet(?)"


# -- ready-made queries (strata.analytics.QUERIES) ---------------------------------------------

REQUEST_LATENCY = (
    "SELECT path, count(*) AS requests, "
    "quantile_cont(duration, 0.5) AS p50, quantile_cont(duration, 0.95) AS p95, "
    "quantile_cont(duration, 0.99) AS p99 "
    "FROM {table} GROUP BY path ORDER BY p95 DESC, path"
)
REQUEST_LATENCY_BY_STATUS = (
    "SELECT (statusCode // 100)::VARCHAR || 'xx' AS status_class, "
    "count(*) AS requests, quantile_cont(duration, 0.5) AS p50, "
    "quantile_cont(duration, 0.95) AS p95, quantile_cont(duration, 0.99) AS p99 "
    "FROM {table} GROUP BY status_class ORDER BY status_class"
)
ERROR_RATE = (
    "SELECT serviceId, date_trunc('hour', checkedAt) AS hour, count(*) AS checks, "
    "avg(CASE WHEN status = 'down' THEN 1 ELSE 0 END) AS error_rate, "
    "avg(CASE WHEN status = 'degraded' THEN 1 ELSE 0 END) AS degraded_rate "
    "FROM {table} GROUP BY serviceId, hour ORDER BY serviceId, hour"
)
GPU_UTILISATION = (
    "SELECT providerId, time_bucket(INTERVAL 5 MINUTES, timestamp) AS bucket, "
    "count(gpuUsage) AS samples, avg(gpuUsage) AS gpu_avg, max(gpuUsage) AS gpu_max, "
    "quantile_cont(gpuUsage, 0.95) AS gpu_p95 "
    "FROM {table} GROUP BY providerId, bucket ORDER BY providerId, bucket"
)


# -- the demo's report (strata.demo_report), over the views Job, RateLimit and
# NodeMetricRollup ------------------------------------------------------------------------------

#: One row: jobs, completed, failed, jobs retried, retries.
DEMO_JOBS = """SELECT count(*), count(*) FILTER (status = 'COMPLETED'),
                      count(*) FILTER (status = 'FAILED'), count(*) FILTER (attempts > 1),
                      coalesce(sum(attempts - 1) FILTER (attempts > 1), 0)
               FROM "Job" """
#: One row: seconds from the first start to the last completion.
DEMO_JOB_SPAN = """SELECT date_diff('millisecond', min("startedAt"), max("completedAt")) / 1000.0
               FROM "Job" WHERE status = 'COMPLETED'"""
#: (priority, jobs, wait p50, wait p95, render p50, render p95), seconds.
DEMO_JOB_TIMES_BY_PRIORITY = """WITH timed AS (
                 SELECT priority,
                        date_diff('millisecond', "submittedAt", "startedAt") / 1000.0 AS wait,
                        date_diff('millisecond', "startedAt", "completedAt") / 1000.0 AS render
                 FROM "Job" WHERE status = 'COMPLETED')
               SELECT priority, count(*), quantile_cont(wait, 0.5), quantile_cont(wait, 0.95),
                      quantile_cont(render, 0.5), quantile_cont(render, 0.95)
               FROM timed GROUP BY priority ORDER BY priority DESC"""
#: (client, requests allowed).
DEMO_ALLOWED_BY_CLIENT = 'SELECT "clientName", sum("requestCount") FROM "RateLimit" GROUP BY 1'
#: (seconds since the first completion, jobs completed in that second).
DEMO_COMPLETIONS = """WITH done AS (
                 SELECT epoch("completedAt") AS t FROM "Job" WHERE status = 'COMPLETED')
               SELECT CAST(floor(t - (SELECT min(t) FROM done)) AS INTEGER) AS second, count(*)
               FROM done GROUP BY 1 ORDER BY 1"""
#: (node, minutes since the first sample in steps of 10, mean GPU use).
DEMO_GPU = """WITH start AS (SELECT min(bucket) AS first FROM "NodeMetricRollup")
               SELECT node,
                      date_diff('minute', (SELECT first FROM start), bucket) // 10 * 10,
                      sum("gpuUsage_sum") / sum("gpuUsage_count")
               FROM "NodeMetricRollup" GROUP BY 1, 2 ORDER BY 1, 2"""
#: One row: the samples the rollup counted.
DEMO_SAMPLES = 'SELECT coalesce(sum("gpuUsage_count"), 0) FROM "NodeMetricRollup"'
