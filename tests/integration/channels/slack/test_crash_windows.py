"""A process that dies right after intake's commit has still asked for the draft to be
posted: the request is written in the draft's own transaction, so any instance's ticker
posts it (the three-instance SIGKILL test once lost a card and its draft in that window)."""

from __future__ import annotations

import time
from email import policy
from email.message import EmailMessage

from bot.scheduler import tick
from channels.slack.actions import PRESENT
from core.intake import handle_inbound
from core.model import ActionStatus, PostKind
from tests.integration.channels.slack.conftest import Bot


def test_a_draft_stored_by_intake_is_posted_though_its_process_died_at_the_commit(
    bot: Bot,
) -> None:
    services = bot.services
    msg = EmailMessage()
    msg["From"] = "Ann Example <ann.crash@customer.example>"
    msg["To"] = "support@example.com"
    msg["Subject"] = "Refund for order 77"
    msg["Message-ID"] = f"<{time.time_ns()}.crash@customer.example>"
    msg.set_content("Please refund order 77, it arrived broken.")
    # Intake and nothing after it: what a process killed right after the commit has done.
    result = handle_inbound(
        services.new_uow(),
        services.parse_email(msg.as_bytes(policy=policy.SMTP)),
        ctx=services.intake,
        draft=services._intake_step(),
    )
    assert result.ticket_id is not None and result.draft is not None
    with services.new_uow() as uow:
        request = uow.actions.get_by_key(f"slack-present:draft:{result.draft.id}")
    assert request is not None and request.kind == PRESENT
    assert request.status is ActionStatus.PENDING

    tick(services, handlers=services.handlers, owner="another-instance")
    assert bot.post(result.ticket_id, PostKind.CARD)
    assert bot.post(result.ticket_id, PostKind.DRAFT, draft_id=result.draft.id)
