"""The REST API on a real SQLite file: settings from an isolated environment, `bootstrap`,
and FastAPI's TestClient. Users: alice (agent, listed as approver), bob (agent, not listed),
mia (manager); each with a token."""

from __future__ import annotations

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
from tests.support import isolate_settings


@dataclass(frozen=True)
class Api:
    client: TestClient
    services: Services
    tokens: dict[str, str]

    def auth(self, login: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[login]}"}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    return isolate_settings(
        monkeypatch,
        tmp_path,
        SUPPORTBOT_APPROVAL__APPROVERS='["web:alice"]',
        SUPPORTBOT_KB__TOP_K="0",
    )


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
