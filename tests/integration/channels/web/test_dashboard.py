"""The dashboard end to end on SQLite through FastAPI's TestClient: sign-in (argon2, signed
cookie, rate limit), CSRF on every form, ticket list and page, decisions through the same
core path as the API (one outbox row, none when refused), escaping, quarantine, analytics."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import time_machine
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.bootstrap import Services, bootstrap
from bot.settings import load_settings
from channels.web.app import create_app
from channels.web.passwords import hash_password
from core import ticket_actions
from core.accounts import add_user, set_disabled
from core.approval import ApprovalPolicy
from core.chart import draw_history
from core.digest import HISTORY_DAYS, daily_history
from core.model import (
    Channel,
    Customer,
    Draft,
    DraftStatus,
    InboundMessage,
    MailboxState,
    OutboxItem,
    Priority,
    QuarantineStatus,
    Role,
    Ticket,
)
from core.storage import tables
from tests.support import isolate_settings

PASSWORD = "correct horse battery"
USERS = (("alice", Role.AGENT), ("bob", Role.AGENT), ("mia", Role.MANAGER))
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass(frozen=True)
class Dash:
    services: Services
    app: FastAPI

    def client(self, address: str = "testclient") -> TestClient:
        """A browser of its own (cookie jar) at a client address of the test's choosing."""
        return TestClient(self.app, follow_redirects=False, client=(address, 50000))


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    return isolate_settings(
        monkeypatch,
        tmp_path,
        SUPPORTBOT_APPROVAL__APPROVERS='["web:alice"]',
        SUPPORTBOT_KB__TOP_K="0",
        SUPPORTBOT_WEB__LOGIN_FAILURES_PER_LOGIN="3",
        SUPPORTBOT_WEB__LOGIN_FAILURES_PER_IP="5",
    )


@pytest.fixture
def dash(env: dict[str, str]) -> Iterator[Dash]:
    services = bootstrap(load_settings())
    hashed = hash_password(PASSWORD)
    for login, role in USERS:
        add_user(
            services.new_uow(),
            login=login,
            password_hash=hashed,
            role=role,
            actor="test",
            clock=services.clock,
        )
    yield Dash(services, create_app(services))
    services.close()


def csrf_of(page: httpx.Response) -> str:
    found = _CSRF.search(page.text)
    assert found is not None, page.text
    return found.group(1)


def signed_in(dash: Dash, login: str, *, address: str = "testclient") -> TestClient:
    client = dash.client(address)
    token = csrf_of(client.get("/dashboard/login"))
    done = client.post(
        "/dashboard/login", data={"csrf": token, "login": login, "password": PASSWORD}
    )
    assert done.status_code == 303, done.text
    return client


def post(client: TestClient, url: str, page: str, **fields: str) -> httpx.Response:
    """Submit a form as a browser does: with the CSRF token of a page it loaded."""
    token = csrf_of(client.get(page))
    return client.post(url, data={"csrf": token, **fields})


def receive(
    services: Services, subject: str, text: str, *, sender: str = "ann@customer.example"
) -> str:
    """A ticket through the same intake as mail and the API; returns its ref."""
    now = services.clock.now()
    result = services.receive(
        InboundMessage(
            channel=Channel.WEB,
            raw=f"{subject}\n{text}".encode(),
            received_at=now,
            external_id=f"test:{subject}:{sender}",
            sender_email=sender,
            sender_name="Ann Lee",
            subject=subject,
            text=text,
            full_text=text,
        )
    )
    assert result.ticket_ref is not None, result
    return result.ticket_ref


def draft_of(services: Services, ref: str) -> Draft:
    with services.new_uow() as uow:
        ticket = uow.tickets.get_by_ref(ref)
        assert ticket is not None and ticket.id is not None
        return uow.drafts.list_for_ticket(ticket.id)[-1]


def outbox_of(services: Services, ref: str) -> list[OutboxItem]:
    with services.new_uow() as uow:
        ticket = uow.tickets.get_by_ref(ref)
        assert ticket is not None and ticket.id is not None
        return uow.outbox.list_for_ticket(ticket.id)


def audit_of(services: Services, ref: str) -> list[tuple[str, str]]:
    with services.new_uow() as uow:
        ticket = uow.tickets.get_by_ref(ref)
        assert ticket is not None and ticket.id is not None
        return [(e.actor, e.action) for e in uow.audit.list_for_ticket(ticket.id)]


def audit_without_ticket(services: Services) -> list[tuple[str, str]]:
    """Events about no ticket (sign-ins, retries), which the Audit port does not list."""
    c = tables.audit_events.c
    query = select(c.actor, c.action).where(c.ticket_id.is_(None)).order_by(c.id)
    with services.engine.connect() as conn:
        return [(row.actor, row.action) for row in conn.execute(query)]


# -- sign-in ---------------------------------------------------------------------------------


def test_sign_in_sets_a_locked_down_session_and_sign_out_ends_it(dash: Dash) -> None:
    client = dash.client()
    away = client.get("/dashboard/tickets?status=new")
    assert away.status_code == 303
    assert away.headers["location"] == "/dashboard/login?next=%2Fdashboard%2Ftickets%3Fstatus%3Dnew"
    login_page = client.get(away.headers["location"])
    assert 'name="next" value="/dashboard/tickets?status=new"' in login_page.text
    done = client.post(
        "/dashboard/login",
        data={
            "csrf": csrf_of(login_page),
            "login": "Alice",  # logins are lower-case; what people type may not be
            "password": PASSWORD,
            "next": "/dashboard/tickets?status=new",
        },
    )
    assert done.status_code == 303 and done.headers["location"] == "/dashboard/tickets?status=new"
    cookie = done.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/dashboard" in cookie
    assert "Secure" not in cookie  # [web] cookie_secure is off by default (plain http here)
    tickets = client.get("/dashboard/tickets")
    assert tickets.status_code == 200 and "alice" in tickets.text
    assert "default-src 'none'" in tickets.headers["content-security-policy"]
    assert tickets.headers["cache-control"] == "no-store"

    out = post(client, "/dashboard/logout", "/dashboard/tickets")
    assert out.status_code == 303 and out.headers["location"] == "/dashboard/login"
    assert "Signed out." in client.get("/dashboard/login").text
    assert client.get("/dashboard/tickets").status_code == 303
    events = audit_without_ticket(dash.services)
    assert ("web:alice", "user.login") in events and ("web:alice", "user.logout") in events


def test_a_disabled_user_loses_the_session_and_cannot_sign_in(dash: Dash) -> None:
    client = signed_in(dash, "bob")
    assert client.get("/dashboard/tickets").status_code == 200
    set_disabled(
        dash.services.new_uow(), login="bob", disabled=True, actor="test", clock=dash.services.clock
    )
    assert client.get("/dashboard/tickets").status_code == 303
    again = dash.client()
    refused = again.post(
        "/dashboard/login",
        data={"csrf": csrf_of(again.get("/dashboard/login")), "login": "bob", "password": PASSWORD},
    )
    assert refused.status_code == 401


def test_a_wrong_password_or_unknown_login_is_refused(dash: Dash) -> None:
    client = dash.client()
    for login, password in (("alice", "wrong password"), ("nobody", PASSWORD), ("", "")):
        token = csrf_of(client.get("/dashboard/login"))
        answer = client.post(
            "/dashboard/login", data={"csrf": token, "login": login, "password": password}
        )
        assert answer.status_code == 401
        assert "Wrong login or password." in answer.text
    assert client.get("/dashboard/tickets").status_code == 303  # still not signed in


def test_failed_sign_ins_are_limited_per_login_and_per_address(dash: Dash) -> None:
    client = dash.client("10.0.0.1")

    def attempt(login: str, password: str) -> httpx.Response:
        token = csrf_of(client.get("/dashboard/login"))
        return client.post(
            "/dashboard/login", data={"csrf": token, "login": login, "password": password}
        )

    assert [attempt("alice", "guess").status_code for _ in range(3)] == [401, 401, 401]
    limited = attempt("alice", PASSWORD)  # even the right password waits now
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 900
    assert "Too many failed sign-ins" in limited.text
    # The same login from another address is limited too (per login) …
    assert signed_in_status(dash, "alice", "10.0.0.2") == 429
    # … while other logins from there are not; from the first address two more failures
    # reach its limit of five, and then nobody signs in from it.
    assert signed_in_status(dash, "mia", "10.0.0.2") == 303
    assert [attempt("bob", "guess").status_code for _ in range(2)] == [401, 401]
    assert attempt("mia", PASSWORD).status_code == 429


def signed_in_status(dash: Dash, login: str, address: str) -> int:
    client = dash.client(address)
    token = csrf_of(client.get("/dashboard/login"))
    answer = client.post(
        "/dashboard/login", data={"csrf": token, "login": login, "password": PASSWORD}
    )
    return answer.status_code


def test_next_only_leads_to_our_own_pages(dash: Dash) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/dashboard\\..\\x"):
        client = dash.client()
        token = csrf_of(client.get("/dashboard/login"))
        done = client.post(
            "/dashboard/login",
            data={"csrf": token, "login": "mia", "password": PASSWORD, "next": target},
        )
        assert done.headers["location"] == "/dashboard/tickets"


def test_cookie_secure_makes_the_cookie_https_only(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORTBOT_WEB__COOKIE_SECURE", "true")
    services = bootstrap(load_settings())
    try:
        with TestClient(create_app(services), base_url="https://testserver") as client:
            page = client.get("/dashboard/login")
        assert "Secure" in page.headers["set-cookie"]
    finally:
        services.close()


# -- CSRF ------------------------------------------------------------------------------------


def test_a_form_without_the_sessions_csrf_token_changes_nothing(dash: Dash) -> None:
    ref = receive(dash.services, "Invoice is wrong", "My invoice charges me twice.")
    draft = draft_of(dash.services, ref)
    alice = signed_in(dash, "alice")
    bob = signed_in(dash, "bob")
    bobs_token = csrf_of(bob.get("/dashboard/tickets"))
    url = f"/dashboard/drafts/{draft.id}/approve"
    version = str(draft.version)
    for fields in ({"version": version}, {"version": version, "csrf": "forged"}):
        refused = alice.post(url, data=fields)
        assert refused.status_code == 403 and "expired or did not come" in refused.text
    # A token is bound to its session: bob's does not work in alice's.
    assert alice.post(url, data={"version": version, "csrf": bobs_token}).status_code == 403
    reject_url = f"/dashboard/drafts/{draft.id}/reject"
    assert alice.post(reject_url, data={"version": version, "reason": "x"}).status_code == 403
    # Sign-in and sign-out forms are checked too.
    anonymous = dash.client()
    anonymous.get("/dashboard/login")
    login = anonymous.post("/dashboard/login", data={"login": "alice", "password": PASSWORD})
    assert login.status_code == 403
    assert alice.post("/dashboard/logout", data={}).status_code == 403
    assert alice.get("/dashboard/tickets").status_code == 200  # still signed in

    assert draft_of(dash.services, ref).status is DraftStatus.PENDING
    assert outbox_of(dash.services, ref) == []
    assert all(action != "draft.approved" for _, action in audit_of(dash.services, ref))


# -- tickets ---------------------------------------------------------------------------------


def test_list_filters_and_search(dash: Dash) -> None:
    s = dash.services
    invoice = receive(s, "Invoice is wrong", "My invoice charges me twice. Refund please.")
    login = receive(s, "Cannot log in", "Password reset does not work, I cannot log in.")
    parcel = receive(s, "Parcel delayed", "My parcel has not arrived, shipping is late.")
    policy = ApprovalPolicy(approvers=frozenset({"test"}))
    with s.new_uow() as uow:
        tid = {t.ref: t.id for t in uow.tickets.list()}
    assert all(v is not None for v in tid.values())
    ticket_actions.set_priority(
        s.new_uow(),
        ticket_id=tid[login] or 0,
        priority=Priority.P0,
        actor="test",
        policy=policy,
        clock=s.clock,
        sla=s.settings.triage.sla,
    )
    ticket_actions.assign(
        s.new_uow(),
        ticket_id=tid[parcel] or 0,
        assignee="web:alice",
        actor="test",
        policy=policy,
        clock=s.clock,
    )
    ticket_actions.resolve(
        s.new_uow(), ticket_id=tid[invoice] or 0, actor="test", policy=policy, clock=s.clock
    )
    client = signed_in(dash, "bob")

    def refs(query: str) -> list[str]:
        page = client.get(f"/dashboard/tickets{query}")
        assert page.status_code == 200, page.text
        return re.findall(r'<td data-label="Ref"><a href="/dashboard/tickets/(T\d+)">', page.text)

    assert sorted(refs("")) == sorted([invoice, login, parcel])
    assert refs("?priority=P0") == [login]
    assert refs("?status=resolved") == [invoice]
    assert refs("?assignee=web%3Aalice") == [parcel]
    assert refs("?q=PARCEL") == [parcel]
    assert refs("?category=billing&status=resolved") == [invoice]
    assert refs("?q=nothing-like-this") == []
    assert refs("?sort=priority")[0] == login
    for bad in ("?status=lost", "?priority=P9", "?category=astrology", "?page=0", "?sort=x"):
        answer = client.get(f"/dashboard/tickets{bad}")
        assert answer.status_code == 422 and "text/html" in answer.headers["content-type"]


def test_list_is_paged(dash: Dash) -> None:
    for n in range(27):
        receive(dash.services, f"Question number {n}", "How do I change my plan?")
    client = signed_in(dash, "bob")
    first = client.get("/dashboard/tickets?q=question")
    assert "27 found" in first.text and "Page 1 of 2" in first.text
    assert first.text.count('data-label="Ref"') == 25
    second = client.get("/dashboard/tickets?q=question&page=2")
    assert second.text.count('data-label="Ref"') == 2
    assert 'href="/dashboard/tickets?q=question&amp;page=1" rel="prev"' in second.text
    assert 'rel="next"' not in second.text
    assert "Question number 0<" in second.text  # newest first: the oldest come last


def test_a_list_past_the_count_limit_shows_a_lower_bound_and_still_pages_on(dash: Dash) -> None:
    """The search counts only 500 matches: beyond, the page says "500+", counts no pages and
    offers "next" while there are rows, until a page reaching the end makes the total exact.
    The tickets go straight into the repository: 530 through intake would take too long."""
    s = dash.services
    now = s.clock.now()
    with s.new_uow() as uow:
        customer = uow.customers.add(Customer("bulk@customer.example"))
        assert customer.id is not None
        for n in range(530):  # "Bulk 529" is the newest
            at = now - timedelta(minutes=530 - n)
            uow.tickets.add(Ticket(f"Bulk {n}", customer.id, Channel.EMAIL, at, at))
        uow.commit()
    client = signed_in(dash, "bob")
    first = client.get("/dashboard/tickets")
    assert first.status_code == 200
    assert "<small>500+ found</small>" in first.text and "<span>Page 1</span>" in first.text
    assert 'href="/dashboard/tickets?page=2" rel="next"' in first.text
    deep = client.get("/dashboard/tickets?page=21")  # rows 501–525: still more after
    assert "<small>525+ found</small>" in deep.text and "<span>Page 21</span>" in deep.text
    assert 'href="/dashboard/tickets?page=22" rel="next"' in deep.text
    last = client.get("/dashboard/tickets?page=22")  # reaches the end: exact again
    assert "<small>530 found</small>" in last.text and "Page 22 of 22" in last.text
    assert last.text.count('data-label="Ref"') == 5 and 'rel="next"' not in last.text
    assert "Bulk 0<" in last.text
    beyond = client.get("/dashboard/tickets?page=40")
    assert "No tickets match." in beyond.text and "<small>500+ found</small>" in beyond.text


def test_ticket_page_shows_conversation_triage_sla_and_draft(dash: Dash) -> None:
    ref = receive(
        dash.services,
        "Charged twice",
        "I was charged twice for my invoice this month. Please refund the second payment.",
    )
    draft = draft_of(dash.services, ref)
    alice = signed_in(dash, "alice")
    page = alice.get(f"/dashboard/tickets/{ref.lower()}")
    assert page.status_code == 200
    text = page.text
    assert "I was charged twice for my invoice this month." in text
    assert "ann@customer.example" in text and "Ann Lee" in text
    assert re.search(r"<dt>Category</dt><dd>billing", text)
    assert re.search(r"<dt>Language</dt><dd>en</dd>", text)
    assert "First response" in text and "due in " in text and "sla-due" in text
    assert f"Draft v{draft.version}" in text
    assert f'action="/dashboard/drafts/{draft.id}/approve"' in text
    assert f'action="/dashboard/drafts/{draft.id}/reject"' in text
    # An agent who is not an approver sees the draft but no decision forms.
    bob_page = signed_in(dash, "bob").get(f"/dashboard/tickets/{ref}")
    assert "approval.approvers" in bob_page.text
    assert f"/dashboard/drafts/{draft.id}/approve" not in bob_page.text
    assert alice.get("/dashboard/tickets/T999").status_code == 404


# -- decisions -------------------------------------------------------------------------------


def test_approve_through_the_form_queues_one_reply_and_refuses_the_unauthorised(
    dash: Dash,
) -> None:
    ref = receive(dash.services, "Invoice is wrong", "My invoice charges me twice.")
    draft = draft_of(dash.services, ref)
    page = f"/dashboard/tickets/{ref}"
    url = f"/dashboard/drafts/{draft.id}/approve"
    bob = signed_in(dash, "bob")
    refused = post(bob, url, page, version=str(draft.version))
    assert refused.status_code == 403 and "web:bob is not an approver" in refused.text
    assert outbox_of(dash.services, ref) == []
    assert ("web:bob", "draft.refused") in audit_of(dash.services, ref)

    alice = signed_in(dash, "alice")
    done = post(alice, url, page, version=str(draft.version))
    assert done.status_code == 303 and done.headers["location"] == page
    shown = alice.get(page).text
    assert "approved: the reply is queued for sending" in shown
    assert "No draft is waiting for a decision." in shown
    [item] = outbox_of(dash.services, ref)
    assert item.body == draft.text and item.recipient == "ann@customer.example"
    decided = draft_of(dash.services, ref)
    assert decided.status is DraftStatus.APPROVED and decided.decided_by == "web:alice"
    assert ("web:alice", "draft.approved") in audit_of(dash.services, ref)

    mia = signed_in(dash, "mia")
    again = post(mia, url, page, version=str(draft.version))
    assert again.status_code == 409
    assert "Nothing changed: draft v1 is approved by web:alice." in again.text
    assert len(outbox_of(dash.services, ref)) == 1


def test_edit_then_approve_sends_the_edited_text(dash: Dash) -> None:
    ref = receive(dash.services, "Invoice is wrong", "My invoice charges me twice.")
    draft = draft_of(dash.services, ref)
    page = f"/dashboard/tickets/{ref}"
    alice = signed_in(dash, "alice")
    url = f"/dashboard/drafts/{draft.id}/approve"
    empty = post(alice, url, page, version=str(draft.version), text="  \r\n ")
    assert empty.status_code == 422 and "cannot be empty" in empty.text
    edited = "Hello Ann,\r\n\r\nWe refunded the second charge.\r\n"
    done = post(alice, url, page, version=str(draft.version), text=edited)
    assert done.status_code == 303
    assert "edited and approved" in alice.get(page).text
    [item] = outbox_of(dash.services, ref)
    assert item.body == "Hello Ann,\n\nWe refunded the second charge.\n"  # browsers send CRLF
    assert draft_of(dash.services, ref).status is DraftStatus.EDITED


def test_an_unchanged_text_from_the_edit_form_is_a_plain_approval(dash: Dash) -> None:
    ref = receive(dash.services, "Invoice is wrong", "My invoice charges me twice.")
    draft = draft_of(dash.services, ref)
    page = f"/dashboard/tickets/{ref}"
    alice = signed_in(dash, "alice")
    as_sent_by_a_browser = draft.text.replace("\n", "\r\n")
    url = f"/dashboard/drafts/{draft.id}/approve"
    assert post(alice, url, page, version="1", text=as_sent_by_a_browser).status_code == 303
    assert draft_of(dash.services, ref).status is DraftStatus.APPROVED


def test_reject_through_the_form_needs_a_reason_and_sends_nothing(dash: Dash) -> None:
    ref = receive(dash.services, "Invoice is wrong", "My invoice charges me twice.")
    draft = draft_of(dash.services, ref)
    page = f"/dashboard/tickets/{ref}"
    url = f"/dashboard/drafts/{draft.id}/reject"
    mia = signed_in(dash, "mia")
    missing = post(mia, url, page, version=str(draft.version), reason=" ")
    assert missing.status_code == 422 and "needs a reason" in missing.text
    assert post(signed_in(dash, "bob"), url, page, version="1", reason="no").status_code == 403
    done = post(mia, url, page, version=str(draft.version), reason="wrong tone")
    assert done.status_code == 303
    assert "rejected; nothing was sent" in mia.get(page).text
    assert draft_of(dash.services, ref).status is DraftStatus.REJECTED
    with dash.services.new_uow() as uow:
        [decision] = uow.drafts.list_decisions(draft.id or 0)
    assert (decision.actor, decision.reason) == ("web:mia", "wrong tone")
    assert outbox_of(dash.services, ref) == []
    assert post(mia, url, page, version="x", reason="r").status_code == 422


# -- escaping --------------------------------------------------------------------------------


def test_customer_markup_is_shown_as_text(dash: Dash) -> None:
    subject = "<script>alert(1)</script> & more"
    body = 'Look: <img src=x onerror="alert(2)"> and </textarea><b>bold</b>'
    ref = receive(dash.services, subject, body)
    alice = signed_in(dash, "alice")
    for page in (alice.get(f"/dashboard/tickets/{ref}"), alice.get("/dashboard/tickets")):
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page.text
        assert "<script" not in page.text
        assert "<img src=x" not in page.text
    ticket_page = alice.get(f"/dashboard/tickets/{ref}").text
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in ticket_page
    assert "</textarea><b>" not in ticket_page


# -- quarantine, analytics, health -----------------------------------------------------------


def _held(services: Services) -> int:
    mail = EmailMessage()
    mail["From"] = "Carl <carl@customer.example>"
    mail["To"] = "support@example.com"
    mail["Subject"] = "Where is my refund?"
    mail["Message-ID"] = "<held-1@customer.example>"
    mail.set_content("I asked for a refund a week ago.")
    result = services.receive(
        InboundMessage(
            channel=Channel.EMAIL,
            raw=mail.as_bytes(),
            received_at=services.clock.now(),
            external_id="<held-1@customer.example>",
            problem="parser crashed (simulated)",
        )
    )
    assert result.quarantine_id is not None
    return result.quarantine_id


def test_quarantine_lists_held_messages_and_approvers_retry_them(dash: Dash) -> None:
    item_id = _held(dash.services)
    url = f"/dashboard/quarantine/{item_id}/retry"
    bob = signed_in(dash, "bob")
    listing = bob.get("/dashboard/quarantine")
    assert "parser crashed (simulated)" in listing.text and "Where is my refund?" in listing.text
    assert url not in listing.text  # no Retry button for non-approvers
    assert post(bob, url, "/dashboard/quarantine").status_code == 403
    alice = signed_in(dash, "alice")
    assert alice.post(url, data={}).status_code == 403  # no CSRF token
    with dash.services.new_uow() as uow:
        item = uow.quarantine.get(item_id)
    assert item is not None and item.status is QuarantineStatus.HELD

    assert url in alice.get("/dashboard/quarantine").text
    done = post(alice, url, "/dashboard/quarantine")
    assert done.status_code == 303
    shown = alice.get("/dashboard/quarantine").text
    assert re.search(rf"Message {item_id} reprocessed: new ticket, ticket T\d+\.", shown)
    assert "Nothing is held." in shown
    with dash.services.new_uow() as uow:
        item = uow.quarantine.get(item_id)
        [ticket] = uow.tickets.list()
    assert item is not None and item.status is QuarantineStatus.REPROCESSED
    assert ticket.subject == "Where is my refund?"
    assert ("web:alice", "quarantine.retried") in audit_without_ticket(dash.services)
    assert ("web:bob", "quarantine.retried") not in audit_without_ticket(dash.services)
    missing = post(alice, "/dashboard/quarantine/999/retry", "/dashboard/quarantine")
    assert missing.status_code == 404


def test_analytics_shows_figures_charts_and_the_history_png(dash: Dash) -> None:
    # Time stands still, so the chart can be compared with one drawn from the tickets; it
    # moves on a minute after they arrive, as the period [start, end) leaves out `end`.
    with time_machine.travel(datetime(2026, 11, 23, 12, tzinfo=UTC), tick=False) as clock:
        receive(dash.services, "Invoice is wrong", "My invoice charges me twice.")
        receive(dash.services, "Parcel delayed", "My parcel has not arrived, shipping is late.")
        clock.shift(timedelta(minutes=1))
        bob = signed_in(dash, "bob")
        page = bob.get("/dashboard/analytics?days=7")
        chart = bob.get("/dashboard/analytics/chart.png")
        end = dash.services.clock.now()
        assert bob.get("/dashboard/analytics?days=0").status_code == 422
        assert dash.client().get("/dashboard/analytics/chart.png").status_code == 303
    assert page.status_code == 200
    assert re.search(r"<th scope=\"row\">New tickets</th><td>2</td>", page.text)
    assert re.search(r"<th scope=\"row\">Open now</th><td>2</td>", page.text)
    assert page.text.count('<svg class="bars"') >= 3 and 'class="bar"' in page.text
    assert '<img class="history" src="/dashboard/analytics/chart.png"' in page.text
    assert chart.headers["content-type"] == "image/png"
    assert chart.content.startswith(b"\x89PNG\r\n\x1a\n")
    # Drawn from the database's daily counts, the chart is the one the tickets give.
    zone = ZoneInfo(dash.services.intake.policy.sla.business_hours.timezone)
    with dash.services.new_uow() as uow:
        alive = uow.reports.tickets_alive(end - timedelta(days=HISTORY_DAYS), end)
    assert chart.content == draw_history(daily_history(alive, end=end, zone=zone))


def test_health_shows_failing_mailboxes_and_the_quarantine(dash: Dash) -> None:
    _held(dash.services)
    with dash.services.new_uow() as uow:
        uow.mailboxes.save(MailboxState(name="support", auth_failures=2, last_error="AUTH refused"))
        uow.mailboxes.save(MailboxState(name="sales", last_uid=7, lag_seconds=125.0))
        uow.commit()
    page = signed_in(dash, "bob").get("/dashboard/health")
    assert page.status_code == 200
    assert 'class="state failing">failing<' in page.text
    assert "AUTH refused" in page.text and "1 held" in page.text
    assert re.search(r"sales</td>\s*<td data-label=\"State\" class=\"state ok\">ok<", page.text)
    assert "2 min" in page.text  # the lag, in words
