"""The REST API on a real SQLite file: settings from an isolated environment, `bootstrap`,
and FastAPI's TestClient. Users: alice (agent, listed as approver), bob (agent, not listed),
mia (manager); each with a token."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.bootstrap import Services, bootstrap
from bot.settings import load_settings
from channels.web.app import create_app
from core.accounts import add_user, issue_token
from core.model import Role


@dataclass(frozen=True)
class Api:
    client: TestClient
    services: Services
    tokens: dict[str, str]

    def auth(self, login: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[login]}"}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in list(os.environ):
        if name.startswith("SUPPORTBOT_"):
            monkeypatch.delenv(name)
    values = {
        "SUPPORTBOT_DATABASE__URL": f"sqlite:///{tmp_path / 'sb.db'}",
        "SUPPORTBOT_BRAND__SECRET_FILE": str(tmp_path / "secret"),
        "SUPPORTBOT_APPROVAL__APPROVERS": '["web:alice"]',
        "SUPPORTBOT_KB__TOP_K": "0",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def api(env: dict[str, str]) -> Iterator[Api]:
    services = bootstrap(load_settings())
    tokens = {}
    for login, role in (("alice", Role.AGENT), ("bob", Role.AGENT), ("mia", Role.MANAGER)):
        add_user(
            services.new_uow(),
            login=login,
            password_hash="$argon2id$unused",
            role=role,
            actor="test",
            clock=services.clock,
        )
        issued = issue_token(
            services.new_uow(), login=login, name="tests", actor="test", clock=services.clock
        )
        tokens[login] = issued.secret
    with TestClient(create_app(services)) as client:
        yield Api(client, services, tokens)
    services.close()
