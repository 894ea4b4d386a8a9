"""The seed systems' end-to-end examples (examples/), each run as a user runs it: a fresh
Python process given a database, once on a SQLite file and once on PostgreSQL, printing the
same report on both."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from backends import Backend

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

EXPECTED = {
    "gpu_marketplace": {
        "jobs completed": "6",
        "consumer balance": "9.46",
        "provider earnings": "0.54",
        "balance + earnings": "10.00",
        "gpu samples": "360",
        "gpu p95": "94.0",
    },
    "medianest": {
        "approved": "['Arrival', 'Dune']",
        "Dune's trail": "['approved', 'pending']",
        "download": "completed",
        "plex checks": "[('degraded', 1), ('up', 3)]",
        "allowed": "10",
        "retry after": "60",
        "next minute": "True",
    },
    "music_api": {
        "active keys": "1",
        "requests logged": "20000",
        "slowest endpoint": "/api/search",
        "hours": "17",
        "errors agree": "True",
        "search mean over 200 ms": "True",
    },
    "video_machine": {
        "scenes": "[0, 1, 2]",
        "asset bytes": "3145728",
        "ana's projects": "['Harbour', 'Lighthouse']",
        "visible after delete": "['Harbour']",
        "kept with its scenes": "3",
        "restored": "2",
    },
}


def report(output: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in output.splitlines() if ": " in line)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_example_runs_end_to_end(name: str, backend: Backend) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), backend.url],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert report(done.stdout) == EXPECTED[name]


def test_an_example_without_a_database_says_how_to_run_it() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "medianest.py")], capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "usage: python" in done.stderr
