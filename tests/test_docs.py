"""The docs keep up with the code: every command is in the README's command table."""

from __future__ import annotations

from pathlib import Path

import click

from strata.cli import main

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def command_paths(group: click.Group, prefix: str = "strata") -> list[str]:
    paths = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            paths.extend(command_paths(command, path))
        else:
            paths.append(path)
    return paths


def test_every_command_is_documented_with_an_example() -> None:
    paths = command_paths(main)
    assert len(paths) >= 12
    for path in paths:
        rows = [line for line in README.splitlines() if line.startswith(f"| `{path}`")]
        assert rows, f"{path} is missing from the README's command table"
        example = rows[0].rsplit("|", 2)[-2]
        assert f"`{path}" in example, f"{path} has no example"
