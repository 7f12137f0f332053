"""The digest by email through a real SMTP server (aiosmtpd): text and autoescaped HTML
alternatives, the chart inline as cid:, loop-guard headers and a Message-ID that depends only
on the idempotency key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest

from bot.rendering import JinjaRenderer
from channels.email.digest_mail import compose_digest, digest_message_id, send_digest_email
from channels.email.smtp import SmtpConfig
from core.chart import PNG_SIGNATURE
from core.digest import (
    CHART_CID,
    Manager,
    RenderedDigest,
    daily_history,
    figures_from,
    render_digest,
)
from core.errors import DeliveryFailed
from core.model import Channel, Ticket
from tests.servers.smtp import SmtpSink

END = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
MANAGER = Manager(
    slack_user_id="U1", timezone="Europe/Berlin", delivery=("email",), email="boss@acme.example"
)
KEY = "digest:U1:2026-11-24"


def _rendered() -> RenderedDigest:
    angry = Ticket(
        subject="<script>alert(1)</script> & refund",
        customer_id=1,
        channel=Channel.EMAIL,
        created_at=END - timedelta(hours=3),
        updated_at=END - timedelta(hours=3),
        id=7,
        ref="T7",
        sentiment=5,
    )
    figures = figures_from([angry], {}, start=END - timedelta(days=1), end=END)
    history = daily_history([angry], end=END, zone=ZoneInfo("Europe/Berlin"))
    return render_digest(figures, manager=MANAGER, renderer=JinjaRenderer(), history=history)


def _compose(key: str = KEY) -> EmailMessage:
    rendered = _rendered()
    return compose_digest(
        rendered,
        to=MANAGER.email,
        from_address="support@acme.example",
        from_name="Acme Support",
        idem_key=key,
        domain="mail.acme.example",
        date=END,
    )


def test_the_digest_arrives_as_text_html_and_an_inline_chart() -> None:
    with SmtpSink() as sink:
        config = SmtpConfig(host=sink.host, port=sink.port, security="plain")
        send_digest_email(config, _compose())
        [received] = sink.received
    assert received.mail_from == "support@acme.example"
    assert received.rcpt_tos == ("boss@acme.example",)
    mail = received.parse()
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["X-Auto-Response-Suppress"] == "All"
    assert mail["Message-ID"] == digest_message_id(KEY, domain="mail.acme.example")
    assert mail["Subject"] == "Daily support digest, Tue 24 Nov 2026"
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "*Tickets* new 1" in text.get_content()
    assert "*Last 14 days*" in text.get_content()
    html_text = html.get_content()
    # Autoescaped: the customer's subject is text, not markup.
    assert "<script>" not in html_text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; refund" in html_text
    assert f'src="cid:{CHART_CID}"' in html_text
    [related] = [p for p in mail.walk() if p.get_content_type() == "multipart/related"]
    [image] = [p for p in related.iter_parts() if p.get_content_type() == "image/png"]
    assert image["Content-ID"] == f"<{CHART_CID}>"
    assert image.get_content_disposition() == "inline"
    png = image.get_content()
    assert isinstance(png, bytes) and png.startswith(PNG_SIGNATURE)


def test_the_message_id_depends_only_on_the_key() -> None:
    first, again, other = _compose(), _compose(), _compose("digest:U1:2026-11-25")
    assert first["Message-ID"] == again["Message-ID"] != other["Message-ID"]
    assert first["Message-ID"].endswith("@mail.acme.example>")


@pytest.mark.parametrize(
    ("reply", "permanent"), [("451 4.3.0 try later", False), ("550 5.7.1 no", True)]
)
def test_a_refusal_is_reported_as_the_reply_transports_report_it(
    reply: str, permanent: bool
) -> None:
    with SmtpSink() as sink:
        sink.fail_next_data(reply)
        config = SmtpConfig(host=sink.host, port=sink.port, security="plain")
        with pytest.raises(DeliveryFailed) as failed:
            send_digest_email(config, _compose())
        assert sink.received == []
    assert failed.value.permanent is permanent
