"""Outbox: one row per deterministic Message-ID, threading headers kept, sent once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from sqlalchemy.exc import IntegrityError

from core.model import Channel, OutboxStatus, Ticket
from core.ports import UnitOfWork
from tests.integration.storage import records
from tests.integration.storage.records import at, id_of


def _draft_id(uow: UnitOfWork, ticket: Ticket) -> int:
    return id_of(uow.drafts.add(records.draft(id_of(ticket))))


def test_add_get_and_list_for_ticket(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket
) -> None:
    ticket_id = id_of(stored_ticket)
    with uow_factory() as uow:
        draft_id = _draft_id(uow, stored_ticket)
        threaded = records.outbox_item(
            ticket_id,
            draft_id,
            "<T1.d1@support.example.test>",
            in_reply_to="<c2@example.test>",
            references=("<c1@example.test>", "<c2@example.test>"),
            created_at=at(2),
        )
        stored = uow.outbox.add(threaded)
        first = uow.outbox.add(
            records.outbox_item(ticket_id, draft_id, "1700.1", channel=Channel.SLACK)
        )
        uow.commit()
    assert stored == replace(threaded, id=stored.id)
    with uow_factory() as uow:
        assert uow.outbox.get(id_of(stored)) == stored
        assert uow.outbox.get(999999) is None
        assert uow.outbox.list_for_ticket(ticket_id) == [first, stored]
        assert uow.outbox.list_for_ticket(999999) == []


def test_a_message_id_is_queued_once(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket
) -> None:
    with uow_factory() as uow:
        draft_id = _draft_id(uow, stored_ticket)
        uow.outbox.add(records.outbox_item(id_of(stored_ticket), draft_id, "<same@x>"))
        with pytest.raises(IntegrityError):
            uow.outbox.add(records.outbox_item(id_of(stored_ticket), draft_id, "<same@x>"))


def test_mark_sent_succeeds_once(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket
) -> None:
    with uow_factory() as uow:
        item = uow.outbox.add(
            records.outbox_item(id_of(stored_ticket), _draft_id(uow, stored_ticket), "<m@x>")
        )
        uow.commit()
    with uow_factory() as uow:
        assert uow.outbox.mark_sent(id_of(item), at=at(9))
        uow.commit()
        assert not uow.outbox.mark_sent(id_of(item), at=at(10))
        assert not uow.outbox.mark_sent(999999, at=at(10))
        uow.commit()
        assert uow.outbox.get(id_of(item)) == replace(item, status=OutboxStatus.SENT, sent_at=at(9))
