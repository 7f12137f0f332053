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


def clear_supportbot_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drop every SUPPORTBOT_ variable, so a developer's own settings never leak into a test."""
    for name in list(os.environ):
        if name.startswith("SUPPORTBOT_"):
            monkeypatch.delenv(name)


def isolate_settings(monkeypatch: pytest.MonkeyPatch, folder: Path, **extra: str) -> dict[str, str]:
    """Only our settings in the environment: a SQLite file and a secret file in `folder`,
    plus `extra` (full variable names). Returns what was set, for child processes."""
    clear_supportbot_env(monkeypatch)
    values = {
        "SUPPORTBOT_DATABASE__URL": f"sqlite:///{folder / 'sb.db'}",
        "SUPPORTBOT_BRAND__SECRET_FILE": str(folder / "secret"),
        **extra,
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values
