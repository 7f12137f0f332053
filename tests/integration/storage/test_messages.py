"""Messages: attachments stored with bytes, source-id uniqueness, thread lookup."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from core.model import Attachment, AutoKind, Channel, Direction, Ticket
from core.ports import UnitOfWork
from core.storage import tables
from tests.integration.storage import records
from tests.integration.storage.records import at, id_of

ATTACHMENTS = (
    Attachment("invoice.pdf", "application/pdf", 5, b"%PDF\x00"),
    Attachment("huge.zip", "application/zip", 50_000_000, None),  # over the cap: metadata only
)


def test_add_and_get_by_external_id_with_attachments(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket
) -> None:
    full = records.message(
        id_of(stored_ticket),
        "<abc@example.test>",
        raw=b"From: ada\r\n\r\n\xff\x00bytes",
        subject="Invoice",
        automatic=AutoKind.AUTO_REPLY,
        attachments=ATTACHMENTS,
    )
    with uow_factory() as uow:
        stored = uow.messages.add(full)
        uow.commit()
    assert stored == replace(full, id=stored.id)
    with uow_factory() as uow:
        assert uow.messages.get_by_external_id(Channel.EMAIL, "<abc@example.test>") == stored
        assert uow.messages.get_by_external_id(Channel.SLACK, "<abc@example.test>") is None
        assert uow.messages.get_by_external_id(Channel.EMAIL, "<other@example.test>") is None


def test_attachment_metadata_is_also_kept_on_the_message(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket, engine: Engine
) -> None:
    with uow_factory() as uow:
        stored = uow.messages.add(
            records.message(id_of(stored_ticket), "<m@x>", attachments=ATTACHMENTS)
        )
        uow.commit()
    with engine.connect() as connection:
        metadata = connection.execute(
            select(tables.messages.c.attachments).where(tables.messages.c.id == stored.id)
        ).scalar_one()
    assert metadata == [
        {"filename": "invoice.pdf", "content_type": "application/pdf", "size": 5},
        {"filename": "huge.zip", "content_type": "application/zip", "size": 50_000_000},
    ]


def test_a_source_id_is_stored_once_per_channel(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket
) -> None:
    with uow_factory() as uow:
        uow.messages.add(records.message(id_of(stored_ticket), "1700000000.1"))
        uow.messages.add(
            records.message(id_of(stored_ticket), "1700000000.1", channel=Channel.SLACK)
        )
        with pytest.raises(IntegrityError):
            uow.messages.add(records.message(id_of(stored_ticket), "1700000000.1"))


def test_list_for_ticket_is_oldest_first_with_attachments(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket
) -> None:
    ticket_id = id_of(stored_ticket)
    with uow_factory() as uow:
        other_ticket = uow.tickets.add(replace(stored_ticket, id=None))
        late = uow.messages.add(records.message(ticket_id, "<late@x>", created_at=at(10)))
        early = uow.messages.add(
            records.message(ticket_id, "<early@x>", created_at=at(1), attachments=ATTACHMENTS)
        )
        note = uow.messages.add(
            records.message(ticket_id, "note-1", direction=Direction.NOTE, created_at=at(10))
        )
        uow.messages.add(records.message(id_of(other_ticket), "<elsewhere@x>"))
        uow.commit()
        assert uow.messages.list_for_ticket(ticket_id) == [early, late, note]
        assert uow.messages.list_for_ticket(999999) == []


def test_find_ticket_id_takes_the_most_recent_match(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket
) -> None:
    with uow_factory() as uow:
        older_ticket = uow.tickets.add(replace(stored_ticket, id=None))
        uow.messages.add(records.message(id_of(older_ticket), "<a@x>", created_at=at(1)))
        uow.messages.add(
            records.message(
                id_of(stored_ticket),
                "<b@x>",
                direction=Direction.OUTBOUND,
                channel=Channel.SLACK,
                created_at=at(2),
            )
        )
        uow.commit()
        assert uow.messages.find_ticket_id(["<a@x>"]) == older_ticket.id
        assert uow.messages.find_ticket_id(["<unknown@x>", "<a@x>", "<b@x>"]) == stored_ticket.id
        assert uow.messages.find_ticket_id(("<unknown@x>",)) is None
        assert uow.messages.find_ticket_id([]) is None


def test_recipients_round_trip_in_order_and_empty_stays_empty(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket, engine: Engine
) -> None:
    ticket_id = id_of(stored_ticket)
    # A quoted local part may hold a space (RFC 5322 §3.4.1): stored as JSON, it survives.
    recipients = ("support@example.test", "bo@example.test", '"bo smith"@example.test')
    with uow_factory() as uow:
        cc = uow.messages.add(records.message(ticket_id, "<cc@x>", recipients=recipients))
        alone = uow.messages.add(records.message(ticket_id, "<alone@x>", created_at=at(1)))
        uow.commit()
    with uow_factory() as uow:
        assert uow.messages.get_by_external_id(Channel.EMAIL, "<cc@x>") == cc
        assert uow.messages.get_by_external_id(Channel.EMAIL, "<alone@x>") == alone
        assert uow.messages.list_for_ticket(ticket_id) == [cc, alone]
    assert cc.recipients == recipients
    assert alone.recipients == ()
    with engine.connect() as connection:
        stored = connection.execute(
            select(tables.messages.c.recipients).order_by(tables.messages.c.id)
        ).scalars()
        assert list(stored) == [
            '["support@example.test", "bo@example.test", "\\"bo smith\\"@example.test"]',
            "[]",
        ]
