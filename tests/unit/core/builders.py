"""Small builders for inbound messages in core unit tests."""

from __future__ import annotations

from datetime import datetime

from core.model import AutoKind, Channel, InboundMessage
from tests.unit.core.conftest import NOW


def inbound(
    text: str = "Hello, I cannot log in to my account since this morning.",
    *,
    external_id: str | None = "m1@customer.example",
    sender: str = "ann@customer.example",
    subject: str = "Login problem",
    in_reply_to: tuple[str, ...] = (),
    references: tuple[str, ...] = (),
    automatic: AutoKind | None = None,
    bounced: tuple[str, ...] = (),
    problem: str | None = None,
    received_at: datetime = NOW,
    raw: bytes | None = None,
) -> InboundMessage:
    return InboundMessage(
        channel=Channel.EMAIL,
        raw=raw if raw is not None else f"Subject: {subject}\n\n{text}".encode(),
        received_at=received_at,
        external_id=external_id,
        sender_email=sender,
        sender_name="Ann Lee",
        subject=subject,
        text=text,
        full_text=text,
        in_reply_to=in_reply_to,
        references=references,
        automatic=automatic,
        bounced_recipients=bounced,
        problem=problem,
    )
