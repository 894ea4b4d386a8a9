"""What the client's conformance tests share (tests/test_client_*.py, tests/test_aio*.py)."""

from __future__ import annotations

from backends import Backend

__all__ = ["placeholder"]


def placeholder(backend: Backend, index: int = 1) -> str:
    """The ``index``-th parameter of raw SQL on ``backend``: ``?`` on SQLite, ``$n`` on
    PostgreSQL."""
    return f"${index}" if backend.is_postgres else "?"
