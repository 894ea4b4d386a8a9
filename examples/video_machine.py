"""The video machine end to end: a user writes a project whose scenes are created with it,
generation jobs run per scene and leave assets, a deleted project disappears from every
read (soft delete) yet stays restorable, and each workspace sees only its own rows.

    python examples/video_machine.py video.db
    python examples/video_machine.py postgresql://user@host/video
"""

from __future__ import annotations

from _common import open_database, say

with open_database("video_machine") as db:
    ana = db.user.create(data={"email": "ana@studio.example", "plan": "PREMIUM"})
    ben = db.user.create(data={"email": "ben@studio.example"})
    story = ["A lighthouse at dawn.", "A storm rolls in.", "The keeper lights the lamp."]
    for owner, title in [(ana, "Lighthouse"), (ana, "Harbour"), (ben, "Desert")]:
        db.project.create(
            data={
                "userId": owner.id,
                "title": title,
                "config": {"aspect": "9:16", "voice": "calm"},
                "scenes": {
                    "create": [{"position": n, "text": text} for n, text in enumerate(story)]
                },
            }
        )
    lighthouse = db.project.find_first_or_raise(
        where={"title": "Lighthouse"}, include={"scenes": {"order_by": {"position": "asc"}}}
    )
    say("scenes", [scene.position for scene in lighthouse.scenes])

    # One image job per scene; each leaves an asset tied to its job and scene.
    for scene in lighthouse.scenes:
        job = db.job.create(
            data={
                "userId": ana.id,
                "projectId": lighthouse.id,
                "type": "IMAGE_GENERATION",
                "config": {"scene": scene.position},
            }
        )
        db.asset.create(
            data={
                "userId": ana.id,
                "projectId": lighthouse.id,
                "sceneId": scene.id,
                "jobId": job.id,
                "type": "IMAGE",
                "url": f"s3://assets/{scene.id}.png",
                "mimeType": "image/png",
                "sizeBytes": 1_048_576,
            }
        )
        db.job.update(where={"id": job.id}, data={"status": "COMPLETED", "progress": 100})
    size = db.asset.aggregate(where={"projectId": lighthouse.id}, sum={"sizeBytes": True})
    say("asset bytes", size["_sum"]["sizeBytes"])

    # Ana's workspace: a scoped view sees her projects only.
    workspace = db.scoped_(userId=ana.id)
    say("ana's projects", sorted(p.title for p in workspace.project.find_many()))

    # Deleting a project hides it; the row and its scenes stay, and it can come back.
    db.project.delete(where={"id": lighthouse.id})
    say("visible after delete", sorted(p.title for p in workspace.project.find_many()))
    kept = db.with_deleted_().project.find_unique_or_raise(where={"id": lighthouse.id})
    say("kept with its scenes", db.scene.count(where={"projectId": kept.id}))
    db.with_deleted_().project.update(where={"id": kept.id}, data={"deletedAt": None})
    say("restored", db.project.count(where={"userId": ana.id}))
