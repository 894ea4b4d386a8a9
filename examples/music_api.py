"""The music API's monitoring end to end: API keys are checked and stamped, every request
is logged through bulk ingest, and the analyst's questions (slowest endpoints, error rates
per hour) are answered by DuckDB over Arrow streams from the core, then cross-checked
against the client's own aggregates.

    python examples/music_api.py music.db
    python examples/music_api.py postgresql://user@host/music
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from _common import open_database, say

PATHS = ["/api/artists", "/api/albums", "/api/search", "/api/tracks"]

with open_database("music_api") as db:
    key = db.api_key.create(data={"key": "k-live-1", "name": "mobile app"})
    db.api_key.update(where={"key": key.key}, data={"lastUsed": datetime.now(UTC)})
    say("active keys", db.api_key.count(where={"active": True}))

    rng = random.Random(7)
    start = datetime(2026, 12, 1, tzinfo=UTC)
    logs = [
        {
            "method": "GET",
            "path": PATHS[n % 4],
            "statusCode": 500 if rng.random() < 0.02 else 200,
            # /api/search is the slow one.
            "duration": rng.randint(5, 40) + (200 if n % 4 == 2 else 0),
            "ip": f"10.0.0.{n % 50}",
            "createdAt": start + timedelta(seconds=n * 3),
        }
        for n in range(20_000)
    ]
    db.metrics_("RequestLog", series="path", time="createdAt").ingest(logs)
    say("requests logged", db.request_log.count())

    duck = db.analytics_(["RequestLog"])
    slowest = duck.sql(
        "SELECT path, quantile_cont(duration, 0.95) AS p95 FROM request_logs "
        "GROUP BY path ORDER BY p95 DESC LIMIT 1"
    ).fetchall()[0]
    say("slowest endpoint", slowest[0])
    errors_by_hour = duck.sql(
        "SELECT date_trunc('hour', createdAt) AS hour, count(*) FILTER (statusCode >= 500) "
        "FROM request_logs GROUP BY hour ORDER BY hour"
    ).fetchall()
    say("hours", len(errors_by_hour))
    duck_errors = sum(row[1] for row in errors_by_hour)
    client_errors = db.request_log.count(where={"statusCode": {"gte": 500}})
    say("errors agree", duck_errors == client_errors)
    mean = db.request_log.aggregate(where={"path": "/api/search"}, avg={"duration": True})
    say("search mean over 200 ms", mean["_avg"]["duration"] > 200)
