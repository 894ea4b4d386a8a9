"""MediaNest end to end: Plex users request media and playlists, an admin approves requests
with a status trail, downloads report progress, service checks keep a history, and the API
is rate limited per user and endpoint.

    python examples/medianest.py medianest.db
    python examples/medianest.py postgresql://user@host/medianest
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from _common import open_database, say

with open_database("medianest") as db:
    admin = db.user.create(data={"plexId": "plex-1", "plexUsername": "ada", "role": "admin"})
    viewer = db.user.create(data={"plexId": "plex-2", "plexUsername": "bo"})

    # A request and its first status update are written together (a nested create).
    titles = ["Arrival", "Dune", "Heat"]
    for title in titles:
        db.media_request.create(
            data={
                "userId": viewer.id,
                "title": title,
                "mediaType": "movie",
                "requestData": {"quality": "4k", "audio": ["en", "fr"]},
                "statusUpdates": {"create": [{"status": "pending", "message": "received"}]},
            }
        )
    # The admin approves the 4K requests whose title starts with a D or an A, case aside.
    approved = db.media_request.find_many(
        where={
            "OR": [
                {"title": {"starts_with": "d", "mode": "insensitive"}},
                {"title": {"starts_with": "a", "mode": "insensitive"}},
            ],
            "requestData": {"path": ["quality"], "equals": "4k"},
        }
    )
    for request in approved:
        with db.transaction_():
            db.media_request.update(where={"id": request.id}, data={"status": "approved"})
            db.media_request_status_update.create(
                data={
                    "requestId": request.id,
                    "status": "approved",
                    "message": f"by {admin.plexUsername}",
                }
            )
    trail = db.media_request.find_first_or_raise(
        where={"title": "Dune"}, include={"statusUpdates": True}
    )
    say("approved", sorted(r.title for r in approved))
    say("Dune's trail", sorted(u.status.name for u in trail.statusUpdates))

    # A playlist download moves through its states.
    download = db.you_tube_download.create(
        data={"userId": viewer.id, "playlistUrl": "https://youtube.example/list?id=42"}
    )
    for progress in (25, 50, 100):
        db.you_tube_download.update(
            where={"id": download.id},
            data={"status": "downloading" if progress < 100 else "completed", "progress": progress},
        )
    say(
        "download", db.you_tube_download.find_unique_or_raise(where={"id": download.id}).status.name
    )

    # Service checks, and the share of checks each service was up.
    plex = db.service.create(data={"name": "plex", "displayName": "Plex"})
    for status, ms in [("up", 40), ("up", 55), ("degraded", 900), ("up", 38)]:
        db.service_status_history.create(
            data={"serviceId": plex.id, "status": status, "responseTimeMs": ms}
        )
    checks = db.service_status_history.group_by(
        ["status"], where={"serviceId": plex.id}, count=True
    )
    say("plex checks", sorted((row["status"].name, row["_count"]) for row in checks))

    # Ten requests a minute per user and endpoint: the eleventh is refused.
    limiter = db.rate_limiter_(
        "RateLimit",
        key=["userId", "endpoint"],
        count="requestCount",
        window_start="windowStart",
        config=None,
    )
    limiter.set_clock(datetime(2026, 12, 1, 9, tzinfo=UTC))
    decisions = [limiter.hit(viewer.id, "/api/requests", limit=10, window=60) for _ in range(11)]
    say("allowed", sum(d.allowed for d in decisions))
    say("retry after", round(decisions[-1].retry_after))
    limiter.set_clock(datetime(2026, 12, 1, 9, tzinfo=UTC) + timedelta(minutes=1))
    say("next minute", limiter.hit(viewer.id, "/api/requests", limit=10, window=60).allowed)
