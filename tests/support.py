"""Shared test helpers: how a test reacts when a real service it needs is absent."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def is_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skip locally when a needed service or file is absent; under CI=true fail instead,
    so a green CI always means the test really ran."""
    if condition:
        return
    if is_ci():
        pytest.fail(f"required under CI=true: {reason}")
    pytest.skip(reason)


def is_port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data; skips (never fails, even in CI) when it is absent,
    because a user's fresh clone has no shared folder."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (shared corpora are optional)")
    return path
