"""SMTP delivery against a real server (aiosmtpd): approved replies on SQLite, sent once.

Covers the outbox loop end to end (claim → compose → SMTP → mark sent), the server's
transient and permanent replies, AUTH, STARTTLS and implicit TLS with a self-signed
certificate made by the `openssl` command, and the transport's own failure messages.
"""

from __future__ import annotations

import functools
import json
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.rendering import JinjaRenderer
from channels.email.compose import compose_reply
from channels.email.smtp import SmtpConfig, SmtpTransport
from core.approval import ApprovalPolicy, Identity, approve
from core.clock import FixedClock
from core.drafting.offline import OfflineDrafter
from core.drafting.service import Voice, create_draft
from core.errors import DeliveryFailed
from core.intake import IntakeContext, handle_inbound
from core.model import (
    Channel,
    Disposition,
    DraftStatus,
    InboundMessage,
    OutboxItem,
    OutboxStatus,
    TicketStatus,
)
from core.outbox import DeliveryReport, deliver_due
from core.pipeline import TriagePolicy
from core.ports import UnitOfWork
from core.storage import make_engine, unit_of_work_factory, upgrade
from tests.servers.smtp import SmtpSink, TlsFiles
from tests.support import free_port, require

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
SECRET = b"smtp-integration"
SUPPORT = "support@acme.example"
CUSTOMER = "carol@customer.example"
POLICY = ApprovalPolicy(approvers=frozenset({"slack:UAGENT"}))
IDENTITY = Identity(thread_secret=SECRET, domain="mail.acme.example")
RENDERER = JinjaRenderer()
COMPOSE = functools.partial(
    compose_reply, from_address=SUPPORT, from_name="Acme Support", renderer=RENDERER
)


@pytest.fixture
def new_uow(tmp_path: Path) -> Iterator[Callable[[], UnitOfWork]]:
    url = f"sqlite:///{tmp_path / 'supportbot.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        yield unit_of_work_factory(engine)
    finally:
        engine.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A self-signed certificate for 127.0.0.1, which doubles as its own CA."""
    openssl = shutil.which("openssl")
    require(openssl is not None, "the openssl command is not installed")
    assert openssl is not None
    directory = tmp_path_factory.mktemp("tls")
    files = TlsFiles(certificate=directory / "cert.pem", key=directory / "key.pem")
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(files.key), "-out", str(files.certificate),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return files


def _inbound(external_id: str, text: str, **kw: object) -> InboundMessage:
    return InboundMessage(
        channel=Channel.EMAIL,
        raw=f"Message-ID: <{external_id}>\n\n{text}".encode(),
        received_at=NOW,
        external_id=external_id,
        sender_email=CUSTOMER,
        sender_name="Carol",
        subject="Refund for order 1234",
        text=text,
        **kw,  # type: ignore[arg-type]
    )


def approved_reply(new_uow: Callable[[], UnitOfWork], clock: FixedClock) -> OutboxItem:
    """Two customer messages in one thread, an offline draft, and its approval."""
    ctx = IntakeContext(clock=clock, policy=TriagePolicy(), thread_secret=SECRET)
    first = handle_inbound(new_uow(), _inbound("c1@customer.example", "Charged twice."), ctx=ctx)
    assert first.disposition is Disposition.NEW_TICKET and first.ticket_id is not None
    second = handle_inbound(
        new_uow(),
        _inbound("c2@customer.example", "Any news?", references=("c1@customer.example",)),
        ctx=ctx,
    )
    assert second.disposition is Disposition.FOLLOWUP
    draft = create_draft(
        new_uow(),
        first.ticket_id,
        provider=OfflineDrafter(RENDERER),
        clock=clock,
        voice=Voice(brand="Acme"),
    )
    decided = approve(
        new_uow(),
        draft_id=draft.id or 0,
        version=draft.version,
        actor="slack:UAGENT",
        policy=POLICY,
        clock=clock,
        identity=IDENTITY,
    )
    assert decided.outbox is not None
    return decided.outbox


def deliver(
    new_uow: Callable[[], UnitOfWork], clock: FixedClock, config: SmtpConfig
) -> DeliveryReport:
    transport = SmtpTransport(config, compose=COMPOSE)
    return deliver_due(
        new_uow, transports={Channel.EMAIL: transport}, clock=clock, owner="test-instance"
    )


def stored(new_uow: Callable[[], UnitOfWork], item: OutboxItem) -> OutboxItem:
    with new_uow() as uow:
        row = uow.outbox.get(item.id or 0)
    assert row is not None
    return row


def audit_actions(new_uow: Callable[[], UnitOfWork], ticket_id: int) -> list[str]:
    with new_uow() as uow:
        return [event.action for event in uow.audit.list_for_ticket(ticket_id)]


def plain(sink: SmtpSink, **overrides: object) -> SmtpConfig:
    return replace(SmtpConfig(host=sink.host, port=sink.port, security="plain"), **overrides)  # type: ignore[arg-type]


def test_an_approved_reply_is_delivered_once_with_threading_headers(
    new_uow: Callable[[], UnitOfWork], clock: FixedClock, sink: SmtpSink
) -> None:
    item = approved_reply(new_uow, clock)

    assert deliver(new_uow, clock, plain(sink)) == DeliveryReport(sent=1)

    [received] = sink.received
    assert (received.mail_from, received.rcpt_tos) == (SUPPORT, (CUSTOMER,))
    mail = received.parse()
    assert mail["Message-ID"] == f"<{item.message_id}>"
    assert item.message_id.startswith("sb.T1.")
    assert mail["In-Reply-To"] == "<c2@customer.example>"
    assert mail["References"].split() == ["<c1@customer.example>", "<c2@customer.example>"]
    assert mail["Subject"] == "Re: Refund for order 1234 [#T1]"
    assert mail["X-Auto-Response-Suppress"] == "All" and "Auto-Submitted" not in mail
    text_part, html_part = mail.get_body(("plain",)), mail.get_body(("html",))
    assert text_part is not None and html_part is not None
    first_line = item.body.splitlines()[0]
    assert first_line in text_part.get_content() and first_line in html_part.get_content()

    with new_uow() as uow:
        draft = uow.drafts.get(item.draft_id)
        ticket = uow.tickets.get(item.ticket_id)
    assert draft is not None and draft.status is DraftStatus.SENT
    assert ticket is not None and ticket.status is TicketStatus.PENDING
    assert stored(new_uow, item).status is OutboxStatus.SENT

    clock.advance(timedelta(hours=1))
    assert deliver(new_uow, clock, plain(sink)) == DeliveryReport()
    assert len(sink.received) == 1


def test_a_451_is_retried_after_backoff_with_the_same_message_id(
    new_uow: Callable[[], UnitOfWork], clock: FixedClock, sink: SmtpSink
) -> None:
    item = approved_reply(new_uow, clock)
    sink.fail_next_data("451 4.3.0 try later")

    assert deliver(new_uow, clock, plain(sink)) == DeliveryReport(retrying=1)
    row = stored(new_uow, item)
    assert row.status is OutboxStatus.PENDING and row.attempts == 1
    assert row.last_error == "message refused: 451 4.3.0 try later"
    assert row.next_attempt_at == NOW + timedelta(seconds=30)
    assert sink.received == []

    assert deliver(new_uow, clock, plain(sink)) == DeliveryReport()  # backoff not over
    clock.advance(timedelta(seconds=30))
    assert deliver(new_uow, clock, plain(sink)) == DeliveryReport(sent=1)

    [received] = sink.received
    assert received.parse()["Message-ID"] == f"<{item.message_id}>"
    row = stored(new_uow, item)
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 2)
    assert "reply.resend" in audit_actions(new_uow, item.ticket_id)


@pytest.mark.parametrize("command", ["rcpt", "data"])
def test_a_550_fails_for_good_and_nothing_is_sent_twice(
    new_uow: Callable[[], UnitOfWork], clock: FixedClock, sink: SmtpSink, command: str
) -> None:
    item = approved_reply(new_uow, clock)
    if command == "rcpt":
        sink.fail_next_rcpt(f"550 5.1.1 <{CUSTOMER}>: no such user")
    else:
        sink.fail_next_data("550 5.7.1 message rejected as spam")

    assert deliver(new_uow, clock, plain(sink)) == DeliveryReport(failed=1)
    clock.advance(timedelta(days=1))
    assert deliver(new_uow, clock, plain(sink)) == DeliveryReport()

    assert sink.received == []
    row = stored(new_uow, item)
    assert row.status is OutboxStatus.FAILED and row.attempts == 1
    assert row.last_error is not None and "550 5." in row.last_error
    assert CUSTOMER not in row.last_error  # addresses are redacted from error text
    with new_uow() as uow:
        [failed] = [
            e for e in uow.audit.list_for_ticket(item.ticket_id) if e.action == "reply.failed"
        ]
        draft = uow.drafts.get(item.draft_id)
    assert json.loads(failed.detail)["reason"] == row.last_error
    assert draft is not None and draft.status is DraftStatus.APPROVED


def test_login_with_auth_then_delivery(
    new_uow: Callable[[], UnitOfWork], clock: FixedClock
) -> None:
    item = approved_reply(new_uow, clock)
    with SmtpSink(users={"supportbot": "s3cret-pw"}) as sink:
        config = plain(sink, username="supportbot", password="s3cret-pw")
        assert deliver(new_uow, clock, config) == DeliveryReport(sent=1)
        [received] = sink.received
    assert received.login == "supportbot"
    assert received.parse()["Message-ID"] == f"<{item.message_id}>"


def test_a_refused_login_is_transient_and_says_what_to_fix(
    new_uow: Callable[[], UnitOfWork], clock: FixedClock
) -> None:
    item = approved_reply(new_uow, clock)
    with SmtpSink(users={"supportbot": "s3cret-pw"}) as sink:
        config = plain(sink, username="supportbot", password="wrong-pw")
        assert deliver(new_uow, clock, config) == DeliveryReport(retrying=1)
        assert sink.received == [] and sink.auth_failures > 0
    row = stored(new_uow, item)
    assert row.last_error is not None
    assert row.last_error.startswith("SMTP login refused (535 ")
    assert "smtp.username" in row.last_error and "wrong-pw" not in row.last_error
    assert "wrong-pw" not in repr(config)


def test_starttls_with_a_trusted_certificate(
    tls_files: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A private CA is trusted the documented way: SSL_CERT_FILE, read by create_default_context.
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.certificate))
    with SmtpSink(users={"supportbot": "pw"}, tls=tls_files) as sink:
        config = SmtpConfig(host=sink.host, port=sink.port, username="supportbot", password="pw")
        assert config.security == "starttls"
        SmtpTransport(config, compose=COMPOSE).deliver(_item())
        [received] = sink.received
    assert received.login == "supportbot"
    assert received.parse()["Message-ID"] == "<sb.T9.1.1.0000000000000000@mail.acme.example>"


def test_implicit_tls(tls_files: TlsFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.certificate))
    with SmtpSink(tls=tls_files, implicit_tls=True) as sink:
        config = SmtpConfig(host=sink.host, port=sink.port, security="ssl")
        SmtpTransport(config, compose=COMPOSE).deliver(_item())
        assert len(sink.received) == 1


def test_an_untrusted_certificate_is_a_transient_failure(
    tls_files: TlsFiles, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty_trust_store = tmp_path / "empty.pem"
    empty_trust_store.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty_trust_store))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    with SmtpSink(tls=tls_files) as sink:
        transport = SmtpTransport(SmtpConfig(host=sink.host, port=sink.port), compose=COMPOSE)
        with pytest.raises(DeliveryFailed, match="TLS with the SMTP server failed") as failed:
            transport.deliver(_item())
        assert sink.received == []
    assert not failed.value.permanent


def test_starttls_missing_on_the_server_is_a_transient_config_failure(sink: SmtpSink) -> None:
    transport = SmtpTransport(SmtpConfig(host=sink.host, port=sink.port), compose=COMPOSE)
    with pytest.raises(DeliveryFailed, match=r"smtp\.security") as failed:
        transport.deliver(_item())
    assert not failed.value.permanent and sink.received == []


def test_no_server_is_a_transient_failure() -> None:
    config = SmtpConfig(port=free_port(), security="plain", timeout_seconds=2)
    with pytest.raises(DeliveryFailed, match="cannot reach the SMTP server") as failed:
        SmtpTransport(config, compose=COMPOSE).deliver(_item())
    assert not failed.value.permanent


def test_a_silent_server_times_out_as_a_transient_failure() -> None:
    with socket.socket() as listener:  # accepts connections (backlog) but never speaks
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        config = SmtpConfig(port=port, security="plain", timeout_seconds=0.3)
        with pytest.raises(DeliveryFailed, match="timed out") as failed:
            SmtpTransport(config, compose=COMPOSE).deliver(_item())
    assert not failed.value.permanent


def test_an_unwritable_recipient_fails_for_good_before_connecting() -> None:
    config = SmtpConfig(port=free_port(), security="plain")
    with pytest.raises(DeliveryFailed, match="cannot compose") as failed:
        SmtpTransport(config, compose=COMPOSE).deliver(replace(_item(), recipient="no address"))
    assert failed.value.permanent


def _item() -> OutboxItem:
    return OutboxItem(
        ticket_id=9,
        draft_id=1,
        channel=Channel.EMAIL,
        recipient=CUSTOMER,
        subject="Re: Help [#T9]",
        body="Hello Carol,\n\nDone.\n\nAcme",
        message_id="sb.T9.1.1.0000000000000000@mail.acme.example",
        created_at=NOW,
    )
