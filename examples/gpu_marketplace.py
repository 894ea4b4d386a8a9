"""The GPU marketplace end to end: a consumer funds a wallet, submits jobs; providers claim
them from the queue, report hardware samples and finish; payment settles in one transaction
with exact Decimal money, and the operators' dashboard reads the metrics.

    python examples/gpu_marketplace.py gpu.db
    python examples/gpu_marketplace.py postgresql://user@host/marketplace
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from _common import open_database, say

import strata

HOURS_PER_JOB = Decimal("0.25")

with open_database("gpu_marketplace") as db:
    consumer = db.user.create(data={"qubicAddress": "C" * 60, "role": "CONSUMER"})
    owner = db.user.create(data={"qubicAddress": "P" * 60, "role": "PROVIDER"})
    rigs = [
        db.provider.create(
            data={
                "workerId": f"rig-{n}",
                "userId": owner.id,
                "type": "NATIVE",
                "gpuModel": "RTX 4090",
                "gpuVramGb": 24,
                "pricePerHour": Decimal("0.36"),
                "isOnline": True,
                "isAvailable": True,
            }
        )
        for n in range(2)
    ]
    # The wallet is funded by a completed payment, recorded with the balance in one block.
    with db.transaction_():
        db.transaction.create(
            data={
                "userId": consumer.id,
                "type": "PAYMENT",
                "amount": Decimal("10"),
                "status": "COMPLETED",
            }
        )
        db.user.update(where={"id": consumer.id}, data={"balance": {"increment": Decimal("10")}})

    jobs = db.queue_(
        "Job",
        ready={"status": "PENDING", "providerId": None},
        claimed={"status": "ASSIGNED", "providerId": strata.WORKER},
        done={"status": "COMPLETED"},
        failed={"status": "FAILED"},
        order_by={"createdAt": "asc"},
        lease=timedelta(minutes=5),
    )
    for n in range(6):
        cost = rigs[0].pricePerHour * HOURS_PER_JOB
        jobs.enqueue(
            {"userId": consumer.id, "estimatedCost": cost, "inputData": {"model": "sdxl", "n": n}}
        )

    metrics = db.metrics_("ProviderMetric", series="providerId", time="timestamp")
    start = datetime(2026, 12, 1, 12, tzinfo=UTC)
    done = 0
    while claims := [c for rig in rigs for c in jobs.claim(rig.id, limit=2)]:
        for claim in claims:
            rig = claim.record.providerId
            metrics.ingest(
                [
                    {
                        "providerId": rig,
                        "timestamp": start + timedelta(seconds=s),
                        "cpuUsage": 20.0,
                        "ramUsage": 40.0,
                        "gpuUsage": 90.0 + s % 5,
                        "gpuTemperature": 70.0,
                        "gpuMemoryUsedMb": 18_000,
                    }
                    for s in range(60)
                ]
            )
            start += timedelta(minutes=1)
            cost = claim.record.estimatedCost
            with db.transaction_():
                jobs.complete(claim, data={"actualCost": cost, "result": {"images": 4}})
                db.user.update(where={"id": consumer.id}, data={"balance": {"decrement": cost}})
                db.provider.update(
                    where={"id": rig},
                    data={"totalEarnings": {"increment": cost}, "totalJobs": {"increment": 1}},
                )
                db.transaction.create(
                    data={
                        "userId": owner.id,
                        "jobId": claim.id,
                        "type": "EARNING",
                        "amount": cost,
                        "status": "COMPLETED",
                    }
                )
            done += 1

    balance = db.user.find_unique_or_raise(where={"id": consumer.id}).balance
    earned = db.transaction.aggregate(where={"type": "EARNING"}, sum={"amount": True})["_sum"][
        "amount"
    ]
    say("jobs completed", done)
    say("consumer balance", f"{balance:.2f}")
    say("provider earnings", f"{earned:.2f}")
    say("balance + earnings", f"{balance + earned:.2f}")
    busiest = metrics.aggregate(every="1h", values=["gpuUsage"], stats=["count", "p95"])
    say("gpu samples", sum(row["gpuUsage_count"] for row in busiest))
    say("gpu p95", max(row["gpuUsage_p95"] for row in busiest))
