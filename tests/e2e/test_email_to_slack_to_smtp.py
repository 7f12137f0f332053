"""End to end: a mail appended to a real Dovecot → the IMAP watcher (IDLE) → a card and draft
in the Slack stand-in → an agent clicks Approve over Socket Mode → the reply arrives at a real
SMTP server, threaded (In-Reply-To, References, subject token) → the card shows it sent.

Wired as `supportbot run` wires it: bootstrap, the watcher thread, the Bolt app, and the
scheduler's tick for delivery.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from bot.bootstrap import bootstrap, start_mailbox_watcher, start_slack
from bot.scheduler import tick
from bot.settings import load_settings
from channels.email.imap import MailboxConfig
from core.model import DraftStatus, PostKind
from tests.integration.channels.slack.conftest import (
    AGENT,
    Bot,
    isolated_env,
    make_standin,
    wait_until,
    write_config,
)
from tests.servers.dovecot import Dovecot
from tests.servers.smtp import SmtpSink
from tests.support import require


@pytest.fixture
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, "")


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    require(shutil.which("dovecot") is not None, "dovecot is not installed")
    require(os.geteuid() == 0, "the Dovecot test server runs as root (libraries.md §8a)")
    server = Dovecot()
    try:
        server.start()
        yield server
    finally:
        server.close()


def _mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ann Example <ann@customer.example>"
    msg["To"] = "support@example.com"
    msg["Subject"] = "My order has not arrived"
    msg["Message-ID"] = "<order-1@customer.example>"
    msg.set_content("Hello, order 1234 has not arrived. <!channel> Where is it?")
    return msg.as_bytes(policy=policy.SMTP)


def test_mail_to_card_to_approved_reply_at_the_smtp_server(
    dovecot: Dovecot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _no_proxy: None
) -> None:
    slack = make_standin()
    try:
        with SmtpSink() as sink:
            smtp = f'[smtp]\nhost = "{sink.host}"\nport = {sink.port}\nsecurity = "plain"\n'
            isolated_env(monkeypatch, write_config(tmp_path, slack, extra="", smtp=smtp))
            services = bootstrap(load_settings())
            runtime = start_slack(services)
            stop = threading.Event()
            mailbox = MailboxConfig(
                name="support",
                host=dovecot.host,
                port=dovecot.port,
                security="plain",
                user=dovecot.user,
                password=dovecot.password,
                timeout_seconds=5,
            )
            watcher = start_mailbox_watcher(services, mailbox, stop=stop)
            try:
                bot = Bot(services, runtime, slack)
                dovecot.append(_mail())

                def ticket_id() -> int | None:
                    with services.new_uow() as uow:
                        tickets = uow.tickets.list()
                    return tickets[0].id if tickets else None

                wait_until(lambda: ticket_id() is not None, what="the ticket")
                tid = ticket_id()
                assert tid is not None
                card = bot.post(tid, PostKind.CARD)
                post = bot.post(tid, PostKind.DRAFT)
                customer = bot.message(bot.post(tid, PostKind.CUSTOMER))
                assert "&lt;!channel&gt;" in str(customer["blocks"])

                bot.click(post, "draft.approve", user=AGENT)
                wait_until(lambda: len(bot.outbox(tid)) == 1, what="the queued reply")
                tick(services, handlers=services.handlers, owner="e2e")

                wait_until(lambda: len(sink.received) == 1, what="the reply at the SMTP server")
                reply = sink.received[0].parse()
                assert reply["In-Reply-To"] == "<order-1@customer.example>"
                assert "<order-1@customer.example>" in reply["References"]
                assert "[#T" in reply["Subject"] and sink.received[0].rcpt_tos == (
                    "ann@customer.example",
                )
                assert bot.draft(tid).status is DraftStatus.SENT
                wait_until(lambda: "Sent ✓" in str(bot.message(post)["blocks"]), what="sent")
                wait_until(lambda: "reply sent" in str(bot.message(card)["blocks"]), what="card")
            finally:
                stop.set()
                watcher.join(10)
                runtime.stop()
                services.close()
    finally:
        slack.stop()
