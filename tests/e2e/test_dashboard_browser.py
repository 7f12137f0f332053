"""End to end in a real browser: a mail whose subject carries a script becomes a ticket; an
agent signs in to the dashboard in Chromium (driven by Playwright), sees the subject as
plain text (no script element, no dialog), clicks Approve & send, and the reply reaches a
real SMTP server threaded under the customer's mail.

Wired as `supportbot run` wires it: bootstrap, the REST app served by uvicorn in a thread
(channels.web.server.WebServer) and the scheduler's ticker, which sends approved replies.
Debian's Chromium is used as it is (`playwright install` would download a browser).
"""

from __future__ import annotations

import importlib.util
import re
import time
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from bot.bootstrap import bootstrap
from bot.scheduler import start_ticker
from bot.settings import load_settings
from channels.web.app import create_app
from channels.web.passwords import hash_password
from channels.web.server import WebServer
from core.accounts import add_user
from core.model import DraftStatus, Role
from tests.servers.smtp import SmtpSink
from tests.support import free_port, isolate_settings, require

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "a long enough password"
SUBJECT = "Order <script>alert(1)</script> missing"
CUSTOMER_ID = "<xss-1@customer.example>"


def _mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ann Example <ann@customer.example>"
    msg["To"] = "support@example.com"
    msg["Subject"] = SUBJECT
    msg["Message-ID"] = CUSTOMER_ID
    msg.set_content("Hello, order 1234 has not arrived. <b>Where</b> is it?")
    return msg.as_bytes(policy=policy.SMTP)


def _wait_until(condition: Callable[[], bool], *, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chromium and httpx must reach 127.0.0.1 directly, whatever the machine's proxy."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_agent_approves_in_the_browser_and_the_reply_reaches_smtp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _no_proxy: None
) -> None:
    require(CHROMIUM.exists(), f"{CHROMIUM} is absent (apt-get install chromium)")
    require(
        importlib.util.find_spec("playwright") is not None,
        "playwright is not installed (pip install -e '.[dev]')",
    )
    from playwright.sync_api import expect, sync_playwright

    with SmtpSink() as sink:
        config = tmp_path / "supportbot.toml"
        config.write_text(
            f'[smtp]\nhost = "{sink.host}"\nport = {sink.port}\nsecurity = "plain"\n'
            "timeout_seconds = 5\n"
        )
        isolate_settings(
            monkeypatch,
            tmp_path,
            SUPPORTBOT_CONFIG=str(config),
            SUPPORTBOT_APPROVAL__APPROVERS='["web:alice"]',
            SUPPORTBOT_KB__TOP_K="0",
            SUPPORTBOT_SCHEDULER__TICK_SECONDS="0.2",
        )
        services = bootstrap(load_settings())
        add_user(
            services.new_uow(),
            login="alice",
            password_hash=hash_password(PASSWORD),
            role=Role.AGENT,
            actor="test",
            clock=services.clock,
        )
        intake = services.receive(services.parse_email(_mail()))
        assert intake.ticket_id is not None and intake.ticket_ref is not None
        with services.new_uow() as uow:
            [draft] = uow.drafts.list_for_ticket(intake.ticket_id)
        server = WebServer(create_app(services), host="127.0.0.1", port=free_port())
        server.start()
        scheduler = start_ticker(services, handlers=services.handlers)
        dialogs: list[str] = []
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
                )
                try:
                    page = browser.new_page()
                    page.on(
                        "dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss())
                    )
                    page.goto(f"{server.url}/dashboard/tickets")
                    expect(page).to_have_url(re.compile(r"/dashboard/login\?next="))
                    page.get_by_label("Login").fill("alice")
                    page.get_by_label("Password").fill(PASSWORD)
                    page.get_by_role("button", name="Sign in").click()
                    expect(page).to_have_url(re.compile(r"/dashboard/tickets$"))

                    page.get_by_role("link", name=SUBJECT).click()
                    expect(page).to_have_url(
                        re.compile(rf"/dashboard/tickets/{intake.ticket_ref}$")
                    )
                    heading = page.get_by_role("heading", level=1)
                    expect(heading).to_contain_text(SUBJECT)  # the markup, as visible text
                    expect(heading).to_be_visible()
                    expect(page.get_by_text("<b>Where</b> is it?")).to_be_visible()
                    assert page.locator("script").count() == 0
                    assert page.locator("h1 b, .message b").count() == 0

                    page.get_by_role("button", name="Approve & send").click()
                    expect(page.get_by_role("status")).to_contain_text(
                        "approved: the reply is queued for sending"
                    )
                    _wait_until(lambda: len(sink.received) == 1, what="the reply at SMTP")
                    page.reload()
                    expect(page.locator(".outbox")).to_contain_text("sent")
                finally:
                    browser.close()
        finally:
            scheduler.shutdown(wait=True)
            server.stop()
            with services.new_uow() as uow:
                decided = uow.drafts.get(draft.id or 0)
            services.close()

    assert dialogs == []  # alert(1) never ran
    [received] = sink.received
    assert received.rcpt_tos == ("ann@customer.example",)
    reply = received.parse()
    assert reply["In-Reply-To"] == CUSTOMER_ID
    assert CUSTOMER_ID in reply["References"]
    assert f"[#{intake.ticket_ref}]" in reply["Subject"]
    body = reply.get_body(preferencelist=("plain",))
    assert body is not None
    assert draft.text.strip() in body.get_content().replace("\r\n", "\n")  # SMTP's CRLF
    assert decided is not None and decided.status is DraftStatus.SENT
    assert decided.decided_by == "web:alice"
