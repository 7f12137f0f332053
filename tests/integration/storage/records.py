"""Record builders for storage tests: valid defaults, so each test states only what it checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from core.model import (
    AuditEvent,
    Channel,
    ChannelPost,
    Customer,
    Decision,
    Direction,
    Draft,
    DraftStatus,
    Message,
    OutboxItem,
    PostKind,
    QuarantineItem,
    ScheduledAction,
    Ticket,
)

T0 = datetime(2026, 11, 23, 9, 30, 15, 123456, tzinfo=UTC)


def id_of(record: Any) -> int:
    """The id of a stored record, which typed code otherwise sees as `int | None`."""
    assert record.id is not None
    return int(record.id)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def customer(**fields: Any) -> Customer:
    return Customer(**{"email": "ada@example.test", "name": "Ada", **fields})


def ticket(customer_id: int, **fields: Any) -> Ticket:
    defaults: dict[str, Any] = {
        "subject": "Invoice is wrong",
        "customer_id": customer_id,
        "channel": Channel.EMAIL,
        "created_at": T0,
        "updated_at": T0,
    }
    return Ticket(**{**defaults, **fields})


def message(ticket_id: int, external_id: str, **fields: Any) -> Message:
    defaults: dict[str, Any] = {
        "ticket_id": ticket_id,
        "direction": Direction.INBOUND,
        "channel": Channel.EMAIL,
        "external_id": external_id,
        "author": "ada@example.test",
        "text": "Hello",
        "created_at": T0,
    }
    return Message(**{**defaults, **fields})


def draft(ticket_id: int, version: int = 1, **fields: Any) -> Draft:
    defaults: dict[str, Any] = {
        "ticket_id": ticket_id,
        "version": version,
        "text": f"Draft {version}",
        "created_at": T0,
    }
    return Draft(**{**defaults, **fields})


def decision(draft_id: int, **fields: Any) -> Decision:
    defaults: dict[str, Any] = {
        "draft_id": draft_id,
        "version": 1,
        "actor": "U123",
        "action": DraftStatus.APPROVED,
        "at": T0,
    }
    return Decision(**{**defaults, **fields})


def outbox_item(ticket_id: int, draft_id: int | None, message_id: str, **fields: Any) -> OutboxItem:
    defaults: dict[str, Any] = {
        "ticket_id": ticket_id,
        "draft_id": draft_id,
        "channel": Channel.EMAIL,
        "recipient": "ada@example.test",
        "subject": "Re: Invoice is wrong",
        "body": "Fixed.",
        "message_id": message_id,
        "created_at": T0,
    }
    return OutboxItem(**{**defaults, **fields})


def quarantine_item(**fields: Any) -> QuarantineItem:
    defaults: dict[str, Any] = {
        "channel": Channel.EMAIL,
        "raw": b"\x00not mail\xff",
        "reason": "unparseable",
        "received_at": T0,
    }
    return QuarantineItem(**{**defaults, **fields})


def audit_event(**fields: Any) -> AuditEvent:
    return AuditEvent(**{"actor": "system", "action": "ticket.created", "at": T0, **fields})


def action(idem_key: str, **fields: Any) -> ScheduledAction:
    return ScheduledAction(**{"kind": "escalate", "idem_key": idem_key, "due_at": T0, **fields})


def post(ticket_id: int, ts: str, **fields: Any) -> ChannelPost:
    defaults: dict[str, Any] = {
        "ticket_id": ticket_id,
        "kind": PostKind.CARD,
        "channel": "C0SUPPORT",
        "ts": ts,
        "created_at": T0,
    }
    return ChannelPost(**{**defaults, **fields})
