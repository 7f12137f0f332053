"""SLA escalations and managers' digests through supportbot as bootstrapped, against the Slack
stand-in and a real SMTP server: a breach is a thread reply on the ticket's card mentioning
the configured group (and a DM to the manager), once; a digest arrives by DM as several Block
Kit sections with the figures and by email, and a handler run again for the same key (a lost
lease) delivers nothing twice, even when the first run failed half-way."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from bot.bootstrap import Services, bootstrap
from bot.digests import SENT, handle_digest
from bot.settings import load_settings
from channels.email.digest_mail import digest_message_id
from core.digest import digest_actions
from core.errors import DeliveryFailed
from core.model import PostKind, ScheduledAction, Ticket
from core.sla_actions import BREACH, FIRST_RESPONSE, SlaNotice
from tests.integration.channels.slack.conftest import (
    AGENT,
    AGENT2,
    AGENTS,
    GROUP,
    isolated_env,
    make_standin,
    wait_until,
    write_config,
)
from tests.servers.smtp import SmtpSink
from tests.slack_standin import SlackStandIn

MENTION = f"<!subteam^{GROUP}>"
BOSS_MAIL = "boss@acme.example"


@dataclass
class Desk:
    services: Services
    slack: SlackStandIn
    sink: SmtpSink

    def mail(self, subject: str) -> int:
        msg = EmailMessage()
        msg["From"] = "Ann Example <ann@customer.example>"
        msg["To"] = "support@example.com"
        msg["Subject"] = subject
        msg["Message-ID"] = f"<{time.time_ns()}@customer.example>"
        msg.set_content("Nothing works since this morning.")
        raw = msg.as_bytes(policy=policy.SMTP)
        result = self.services.receive(self.services.parse_email(raw))
        assert result.ticket_id is not None
        return result.ticket_id

    def card(self, ticket_id: int) -> tuple[str, str]:
        def found() -> list[tuple[str, str]]:
            with self.services.new_uow() as uow:
                posts = uow.posts.list_for_ticket(ticket_id)
            return [(p.channel, p.ts) for p in posts if p.kind is PostKind.CARD]

        wait_until(lambda: bool(found()), what="the ticket's card")
        return found()[0]

    def dms(self, user: str) -> list[dict[str, Any]]:
        return self.slack.workspace.history(self.slack.workspace.open_dm(user).id)


@pytest.fixture
def desk(tmp_path: Path, _no_proxy: None) -> Iterator[Desk]:
    slack = make_standin()
    try:
        with SmtpSink() as sink, pytest.MonkeyPatch.context() as patch:
            extra = f"""
[escalation]
slack_mention = "{MENTION}"
manager_dm = "{AGENT2}"

[[managers]]
slack_user_id = "{AGENT}"
timezone = "Europe/Berlin"
delivery = ["dm", "email"]
email = "{BOSS_MAIL}"
"""
            smtp = f"""
[smtp]
host = "{sink.host}"
port = {sink.port}
security = "plain"
"""
            isolated_env(patch, write_config(tmp_path, slack, extra=extra, smtp=smtp))
            services = bootstrap(load_settings())
            try:
                yield Desk(services, slack, sink)
            finally:
                services.close()
    finally:
        slack.stop()


def _breach(desk: Desk, ticket_id: int) -> ScheduledAction:
    with desk.services.new_uow() as uow:
        actions = uow.actions.list_for_kind(BREACH)
    return next(
        a
        for a in actions
        if a.ticket_id == ticket_id and json.loads(a.payload)["level"] == 1
        and ":first_response:" in a.idem_key
    )  # fmt: skip


def test_a_breach_is_a_thread_reply_mentioning_the_group_once(desk: Desk) -> None:
    ticket_id = desk.mail("Checkout is down")
    channel, card_ts = desk.card(ticket_id)
    action = _breach(desk, ticket_id)

    desk.services.run_sla(action)
    desk.services.run_sla(action)  # a lost lease: the same action runs again

    replies = [
        m
        for m in desk.slack.workspace.thread(channel, card_ts)[1:]
        if m.get("metadata", {}).get("event_type") == "sla_notice"
    ]
    assert len(replies) == 1
    [reply] = replies
    assert channel == AGENTS
    assert reply["text"].startswith(":rotating_light: ")
    assert "first response SLA breached" in reply["text"]
    assert reply["text"].endswith(MENTION)
    assert reply["metadata"]["event_payload"] == {"idem_key": action.idem_key}
    [dm] = [m for m in desk.dms(AGENT2) if "SLA breached" in m.get("text", "")]
    assert dm["text"] == reply["text"]
    with desk.services.new_uow() as uow:
        notices = [p for p in uow.posts.list_for_ticket(ticket_id) if p.kind is PostKind.NOTICE]
    assert [(p.channel, p.ts) for p in notices] == [(channel, reply["ts"])]


def test_a_notice_posted_by_a_run_that_died_before_recording_it_is_not_posted_again(
    desk: Desk,
) -> None:
    """The handler's own record (checked before posting) was never written: the escalator
    is called again for the same key, as the rerun after such a crash does."""
    ticket_id = desk.mail("Payments fail")
    channel, card_ts = desk.card(ticket_id)
    action = _breach(desk, ticket_id)
    desk.services.run_sla(action)
    slack = desk.services.slack
    assert slack is not None
    with desk.services.new_uow() as uow:
        [notice_post] = [
            p for p in uow.posts.list_for_ticket(ticket_id) if p.kind is PostKind.NOTICE
        ]
    posted = len(desk.slack.calls("chat.postMessage"))
    notice = SlaNotice(
        ticket=_ticket(desk, ticket_id),
        kind=BREACH,
        clock=FIRST_RESPONSE,
        level=1,
        due=desk.services.clock.now(),
        idem_key=action.idem_key,
    )

    slack.escalator.notify(notice)

    assert len(desk.slack.calls("chat.postMessage")) == posted  # neither reply nor DM again
    assert len(desk.slack.calls("conversations.replies")) >= 1  # it looked in the thread
    replies = [
        m
        for m in desk.slack.workspace.thread(channel, card_ts)[1:]
        if m.get("metadata", {}).get("event_type") == "sla_notice"
    ]
    assert [m["ts"] for m in replies] == [notice_post.ts]
    with desk.services.new_uow() as uow:
        notices = [p for p in uow.posts.list_for_ticket(ticket_id) if p.kind is PostKind.NOTICE]
    assert notices == [notice_post]


def _ticket(desk: Desk, ticket_id: int) -> Ticket:
    with desk.services.new_uow() as uow:
        ticket = uow.tickets.get(ticket_id)
    assert ticket is not None
    return ticket


def _digest_action(desk: Desk) -> ScheduledAction:
    now = desk.services.clock.now()
    [manager] = desk.services.settings.managers
    # Due a minute from now: the period ends after the ticket just mailed, and it is on time.
    return replace(digest_actions(manager, now=now)[0], due_at=now + timedelta(minutes=1))


def _digest_dms(desk: Desk) -> list[dict[str, Any]]:
    return [m for m in desk.dms(AGENT) if "support digest" in m.get("text", "")]


def test_a_digest_arrives_by_dm_in_sections_and_by_email_once(desk: Desk) -> None:
    desk.mail("Invoice is wrong")
    action = _digest_action(desk)

    handle_digest(desk.services, action)
    handle_digest(desk.services, action)  # a lost lease: the same action runs again

    [dm] = _digest_dms(desk)
    assert dm["text"].startswith("Daily support digest, ")
    sections = [b["text"]["text"] for b in dm["blocks"] if b["type"] == "section"]
    assert len(sections) == len(dm["blocks"]) >= 8
    assert sections[0].startswith("*Daily support digest, ")
    assert "*Tickets* new 1 · resolved 0 · open 1" in sections
    assert any(s.startswith("*Backlog by priority* ") for s in sections)
    assert any(s.startswith("*Last 14 days* ") and s.count("\n") == 14 for s in sections)
    [mail] = desk.sink.received
    parsed = mail.parse()
    assert mail.rcpt_tos == (BOSS_MAIL,)
    assert parsed["Message-ID"] == digest_message_id(action.idem_key, domain="supportbot.invalid")
    assert parsed["Auto-Submitted"] == "auto-generated"
    with desk.services.new_uow() as uow:
        events = uow.audit.list_for_key(SENT, action.idem_key)
    assert sorted(json.loads(e.detail)["means"] for e in events) == ["dm", "email"]


def test_a_digest_interrupted_half_way_sends_only_what_is_missing(desk: Desk) -> None:
    action = _digest_action(desk)
    desk.sink.fail_next_data("451 4.3.0 try again later")

    with pytest.raises(DeliveryFailed):
        handle_digest(desk.services, action)  # the DM went out, the email did not
    assert len(_digest_dms(desk)) == 1 and desk.sink.received == []

    handle_digest(desk.services, action)  # the retry, perhaps by another instance
    handle_digest(desk.services, action)
    assert len(_digest_dms(desk)) == 1
    assert len(desk.sink.received) == 1
