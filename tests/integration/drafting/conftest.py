"""Drafting through the composition root: real settings, SQLite, the real model clients
pointed at local stand-ins (tests/servers/llm.py), the sample knowledge base in kb/."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from bot.bootstrap import Services, bootstrap
from bot.settings import Settings
from core.drafting.knowledge import index_markdown
from core.model import Draft, OutboxItem
from core.storage.knowledge import SqlKnowledgeBase

KB = Path(__file__).resolve().parents[3] / "kb"

MakeServices = Callable[..., Services]


@pytest.fixture
def make_services(tmp_path: Path) -> Iterator[MakeServices]:
    made: list[Services] = []

    def make(**llm: Any) -> Services:
        settings = Settings(
            database={"url": f"sqlite:///{tmp_path / 'drafting.db'}"},  # type: ignore[arg-type]
            brand={"secret_file": tmp_path / "secret", "name": "Acme"},  # type: ignore[arg-type]
            llm={"api_key": "test-key", "timeout_seconds": 2.0, **llm},  # type: ignore[arg-type]
        )
        services = bootstrap(settings)
        index_markdown(SqlKnowledgeBase(services.engine), KB)
        made.append(services)
        return services

    yield make
    for services in made:
        services.close()


def receive(services: Services, *, subject: str, body: str, n: int = 1) -> int:
    """Take in one customer mail; returns its ticket id (the draft may still be in progress)."""
    msg = EmailMessage()
    msg["From"] = "Ada Lovelace <ada@customer.example>"
    msg["To"] = "support@example.com"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<m{n}@customer.example>"
    msg.set_content(body)
    result = services.receive(services.parse_email(msg.as_bytes()))
    assert result.ticket_id is not None
    return result.ticket_id


def drafts_and_outbox(services: Services, ticket_id: int) -> tuple[list[Draft], list[OutboxItem]]:
    """After the pool has finished (close() waits for it)."""
    if services.draft_pool is not None:
        services.draft_pool.shutdown(wait=True)
    with services.new_uow() as uow:
        return uow.drafts.list_for_ticket(ticket_id), uow.outbox.list_for_ticket(ticket_id)
