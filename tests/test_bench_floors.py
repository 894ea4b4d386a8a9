"""The benchmark floors that guard CI: the check fails on a regression or a missing floor."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

BENCHES = Path(__file__).resolve().parents[1] / "benches"
sys.path.insert(0, str(BENCHES))

from run import check_floors  # noqa: E402


def test_a_ratio_below_its_floor_or_without_one_fails(tmp_path: Path) -> None:
    floors = tmp_path / "floors.toml"
    floors.write_text('"a.b" = { floor = 1.5, target = 2.0 }\n"a.c" = { floor = 0.5 }\n')
    assert check_floors({"a.b": 1.6, "a.c": 0.5}, floors) == []
    failures = check_floors({"a.b": 1.4, "a.c": 0.9, "a.new": 3.0}, floors)
    assert failures == [
        "a.b = 1.40, below its floor 1.50 (the issue's target: 2.0)",
        "a.new has no floor in floors.toml",
    ]


def test_the_floors_file_reads() -> None:
    floors = tomllib.loads((BENCHES / "floors.toml").read_text())
    assert len(floors) >= 20
    assert all(entry["floor"] > 0 for entry in floors.values())
