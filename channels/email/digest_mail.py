"""The managers' digest as an email: plain text, HTML and the 14-day chart inline.

    multipart/alternative
      text/plain                 the mrkdwn text (digest.txt.j2)
      multipart/related
        text/html                digest.html.j2, showing <img src="cid:CHART_CID">
        image/png                the chart, Content-ID <CHART_CID>, inline

The Message-ID comes from the digest's idempotency key, so a digest resent after a crash
carries the same id and a mail client shows it once. `Auto-Submitted: auto-generated`
(RFC 3834 §5) tells autoresponders not to answer it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage

from channels.email.smtp import SmtpConfig, send_message
from core.digest import CHART_CID, RenderedDigest


def digest_message_id(idem_key: str, *, domain: str) -> str:
    digest = hashlib.sha256(idem_key.encode()).hexdigest()[:32]
    return f"<digest.{digest}@{domain}>"


def compose_digest(
    rendered: RenderedDigest,
    *,
    to: str,
    from_address: str,
    from_name: str,
    idem_key: str,
    domain: str,
    date: datetime,
) -> EmailMessage:
    message = EmailMessage(policy=policy.SMTP)
    message["Message-ID"] = digest_message_id(idem_key, domain=domain)
    message["Date"] = date
    message["From"] = Address(display_name=from_name, addr_spec=from_address.strip())
    message["To"] = Address(display_name="", addr_spec=to.strip())
    message["Subject"] = rendered.title
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(rendered.text, charset="utf-8", cte="quoted-printable")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
    if rendered.chart_png:
        html = message.get_body(preferencelist=("html",))
        assert isinstance(html, EmailMessage)
        html.add_related(
            rendered.chart_png,
            maintype="image",
            subtype="png",
            cid=f"<{CHART_CID}>",
            filename="digest-chart.png",
            disposition="inline",
        )
    return message


def send_digest_email(config: SmtpConfig, message: EmailMessage) -> None:
    """Through the `[smtp]` relay, as approved replies go (channels.email.smtp)."""
    send_message(config, message)
