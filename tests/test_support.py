"""The test helpers' own promises (tests/support.py)."""

from __future__ import annotations

import pytest

from support import SHARED, needs_shared, shared_folder


def test_a_missing_shared_folder_skips_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    folder = shared_folder("no-such-fixtures")
    assert folder == SHARED / "no-such-fixtures"
    mark = needs_shared(folder)
    assert mark.args == (True,)
    assert mark.kwargs["reason"].startswith("../shared/no-such-fixtures is absent")


def test_a_missing_shared_folder_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(RuntimeError, match=r"CI is set and \.\./shared/no-such-fixtures is absent"):
        shared_folder("no-such-fixtures")
