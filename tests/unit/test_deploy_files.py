"""The deployment files, checked without Docker: docker-compose.yml parses and has the bot,
PostgreSQL with a healthcheck and a volume, and a `demo` profile with a mail server and an
SMTP sink; every `SUPPORTBOT_*` variable it or .env.example sets is a real settings key;
the image runs as a non-root user and migrates before `run`."""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
_DEFAULTED = re.compile(r"\$\{(\w+):-([^}]*)\}")


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _interpolate(value: object) -> str:
    """Compose's `${NAME:-default}`, with nothing set: the default."""
    return _DEFAULTED.sub(lambda m: m.group(2), str(value))


def _load_with(monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]) -> object:
    for name in list(os.environ):
        if name.startswith("SUPPORTBOT_"):
            monkeypatch.delenv(name)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return load_settings()


def test_compose_has_the_bot_postgres_and_a_demo_profile() -> None:
    services = _compose()["services"]
    assert {"bot", "db", "bot-demo", "mail", "mailpit"} <= set(services)
    db = services["db"]
    assert db["image"].startswith("postgres:15")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert any(str(v).split(":")[0] in _compose()["volumes"] for v in db["volumes"])
    bot = services["bot"]
    assert bot["build"] == "."
    assert "profiles" not in bot and "profiles" not in db
    assert bot["depends_on"]["db"]["condition"] == "service_healthy"
    for name in ("bot-demo", "mail", "mailpit"):
        assert services[name]["profiles"] == ["demo"]
    assert "dovecot" in services["mail"]["image"]
    assert "mailpit" in services["mailpit"]["image"]


@pytest.mark.parametrize("service", ["bot", "bot-demo"])
def test_every_supportbot_variable_in_compose_is_a_settings_key(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = _compose()["services"][service]["environment"]
    variables = {k: _interpolate(v) for k, v in environment.items() if k.startswith("SUPPORTBOT_")}
    assert "SUPPORTBOT_DATABASE__URL" in variables

    settings: Any = _load_with(monkeypatch, variables)

    assert settings.database.url.startswith("postgresql+psycopg://supportbot:")
    assert settings.web.enabled and settings.web.host == "0.0.0.0"
    if service == "bot-demo":
        (mailbox,) = settings.mailboxes
        assert (mailbox.host, mailbox.security) == ("mail", "plain")
        assert settings.smtp is not None and settings.smtp.host == "mailpit"


def test_every_supportbot_variable_in_env_example_is_a_settings_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    variables: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        line = line.removeprefix("# ").strip()
        name, sep, value = line.partition("=")
        if sep and name.startswith("SUPPORTBOT_") and " " not in name:
            variables[name] = value
    assert len(variables) >= 10
    # The commented-out examples are JSON where the key is a list.
    json.loads(variables["SUPPORTBOT_MAILBOXES"])
    settings: Any = _load_with(monkeypatch, variables)
    assert settings.llm.provider == "gemini"
    assert settings.mailboxes[0].lease_seconds == 60


def _instructions(name: str) -> list[str]:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    return [line.split(None, 1)[1] for line in lines if line.split(None, 1)[:1] == [name]]


def test_the_image_runs_as_a_non_root_user_and_migrates_before_run() -> None:
    (from_,) = _instructions("FROM")
    assert from_.startswith("python:3.11-slim")
    users = _instructions("USER")
    assert users and users[-1] not in {"root", "0"} and not users[-1].startswith("0:")
    assert any('".[postgres,web,llm,ml]"' in run for run in _instructions("RUN"))
    (cmd,) = _instructions("CMD") or _instructions("ENTRYPOINT")
    argv = json.loads(cmd)
    script = argv[-1] if argv[:2] == ["sh", "-c"] else shlex.join(argv)
    upgrade, run = script.index("supportbot db upgrade"), script.index("supportbot run")
    assert upgrade < run
    assert "&&" in script[upgrade:run]  # `run` starts only when the migration succeeded


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", ".git", "*.db", "supportbot.secret", ".env"} <= ignored
