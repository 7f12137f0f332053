"""A model draft survives the death of the process that stored the message: `supportbot
ingest` is SIGKILLed while the Gemini stand-in is still answering, and another instance
makes the owed draft, once, when its grace runs out and not before (real SQLite, the real
google-genai client)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.bootstrap import bootstrap
from bot.cli import app
from bot.settings import Settings
from core.clock import FixedClock, SystemClock
from core.drafting import owed
from core.model import ActionStatus
from tests.servers.llm import GeminiStandIn, Reply
from tests.support import isolate_settings

ROOT = Path(__file__).resolve().parents[3]
TIMEOUT = 60.0  # the killed drafter's model call would have waited this long


def _mail(path: Path) -> Path:
    msg = EmailMessage()
    msg["From"] = "Ada Lovelace <ada@customer.example>"
    msg["To"] = "support@example.com"
    msg["Subject"] = "Can I ship to Canada?"
    msg["Message-ID"] = "<owed-1@customer.example>"
    msg.set_content("Hello, do you ship to Canada, and how long does it take?")
    path.write_bytes(msg.as_bytes())
    return path


def _settings(folder: Path, gemini: GeminiStandIn) -> Settings:
    return Settings(
        database={"url": f"sqlite:///{folder / 'owed.db'}"},  # type: ignore[arg-type]
        brand={"secret_file": folder / "secret", "name": "Acme"},  # type: ignore[arg-type]
        llm={  # type: ignore[arg-type]
            "provider": "gemini",
            "api_key": "test-key",
            "base_url": gemini.url,
            "timeout_seconds": TIMEOUT,
        },
    )


def _ingest_and_kill(folder: Path, gemini: GeminiStandIn, mail: Path) -> None:
    """`supportbot ingest` until its pool is waiting for the model, then SIGKILL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTBOT_")}
    env.update(
        SUPPORTBOT_DATABASE__URL=f"sqlite:///{folder / 'owed.db'}",
        SUPPORTBOT_BRAND__SECRET_FILE=str(folder / "secret"),
        SUPPORTBOT_BRAND__NAME="Acme",
        SUPPORTBOT_LLM__PROVIDER="gemini",
        SUPPORTBOT_LLM__API_KEY="test-key",
        SUPPORTBOT_LLM__BASE_URL=gemini.url,
        SUPPORTBOT_LLM__TIMEOUT_SECONDS=str(TIMEOUT),
        NO_PROXY="127.0.0.1",
        HTTP_PROXY="",
        HTTPS_PROXY="",
    )
    log = folder / "ingest.log"
    with log.open("wb") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-m", "bot", "ingest", str(mail)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 60
        while not gemini.requests:
            assert child.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the drafter never asked the model"
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()


def _status(folder: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """`supportbot status --json` on the test's database."""
    isolate_settings(
        monkeypatch,
        folder,
        SUPPORTBOT_DATABASE__URL=f"sqlite:///{folder / 'owed.db'}",
        SUPPORTBOT_BRAND__NAME="Acme",
    )
    result = CliRunner().invoke(app, ["status", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_another_instance_makes_a_killed_drafters_draft_once_after_the_grace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with GeminiStandIn(default=Reply.json(delay=TIMEOUT)) as gemini:
        killed_at = SystemClock().now()
        _ingest_and_kill(tmp_path, gemini, _mail(tmp_path / "mail.eml"))
        status = _status(tmp_path, monkeypatch)
        assert (status["drafts_owed"], status["drafts_overdue"]) == (1, 0)
        gemini.script(Reply.json())  # the model answers at once from now on
        settings = _settings(tmp_path, gemini)
        lease = timedelta(seconds=settings.draft_lease_seconds)
        clock = FixedClock(killed_at + lease / 2)
        services = bootstrap(settings, clock=clock)
        try:
            with services.new_uow() as uow:
                [promise] = uow.actions.list_for_kind(owed.OWED)
                [ticket] = uow.tickets.list()
                assert ticket.id is not None and uow.drafts.list_for_ticket(ticket.id) == []
            assert promise.lease_owner is None and promise.status is ActionStatus.PENDING
            assert services.draft_overdue() == 0  # within the grace: the drafter may live

            clock.advance(lease)
            assert services.draft_overdue() == 1
            assert services.draft_pool is not None
            services.draft_pool.shutdown(wait=True)
            assert services.draft_overdue() == 0
            with services.new_uow() as uow:
                [draft] = uow.drafts.list_for_ticket(ticket.id)
                done = uow.actions.get_by_key(promise.idem_key)
            assert draft.provider == "gemini" and draft.fallback_reason is None
            assert done is not None and done.status is ActionStatus.DONE
            assert done.lease_owner == services.owner and done.attempts == 1
            assert len(gemini.requests) == 2  # the killed call and ours, nothing more
            # A drafter far behind (the killed one, had it lived) keeps nothing, quietly.
            gemini.script(Reply.json())
            services._pay(ticket.id, promise.idem_key)
            with services.new_uow() as uow:
                assert [d.id for d in uow.drafts.list_for_ticket(ticket.id)] == [draft.id]
        finally:
            services.close()
