"""Channel posts: round-trips, lookup by Slack's (channel, ts) kept as text, one post per
(channel, ts), and the foreign keys to tickets, drafts and messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from core.model import PostKind, Ticket
from core.ports import UnitOfWork
from tests.integration.storage import records
from tests.integration.storage.records import at, id_of


def test_add_list_and_find(uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket) -> None:
    ticket_id = id_of(stored_ticket)
    with uow_factory() as uow:
        message = uow.messages.add(records.message(ticket_id, "<c1@example.test>"))
        draft = uow.drafts.add(records.draft(ticket_id))
        card = records.post(ticket_id, "1700000000.000100", created_at=at(0))
        customer = records.post(
            ticket_id,
            "1700000001.000200",
            kind=PostKind.CUSTOMER,
            message_id=id_of(message),
            created_at=at(1),
        )
        drafted = records.post(
            ticket_id,
            "1700000002.000300",
            kind=PostKind.DRAFT,
            draft_id=id_of(draft),
            created_at=at(2),
        )
        # Added out of order, and a notice at the same instant as the draft: the id decides.
        stored_drafted = uow.posts.add(drafted)
        stored_card = uow.posts.add(card)
        stored_customer = uow.posts.add(customer)
        notice = uow.posts.add(
            records.post(ticket_id, "1700000002.000400", kind=PostKind.NOTICE, created_at=at(2))
        )
        uow.commit()
    assert stored_card == replace(card, id=stored_card.id)
    assert stored_customer == replace(customer, id=stored_customer.id)
    assert stored_drafted == replace(drafted, id=stored_drafted.id)

    with uow_factory() as uow:
        assert uow.posts.list_for_ticket(ticket_id) == [
            stored_card,
            stored_customer,
            stored_drafted,
            notice,
        ]
        assert uow.posts.list_for_ticket(999999) == []
        assert uow.posts.find("C0SUPPORT", "1700000002.000300") == stored_drafted
        assert uow.posts.find("C0SUPPORT", "1700000001.000200") == stored_customer
        assert uow.posts.find("C0OTHER", "1700000002.000300") is None
        assert uow.posts.find("C0SUPPORT", "1700000099.000000") is None


def test_ts_is_kept_as_text(uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket) -> None:
    """The same number spelled differently is another message: no float on the way."""
    with uow_factory() as uow:
        stored = uow.posts.add(records.post(id_of(stored_ticket), "1700000000.000100"))
        uow.commit()
    with uow_factory() as uow:
        found = uow.posts.find("C0SUPPORT", "1700000000.000100")
        assert found == stored
        assert found is not None and found.ts == "1700000000.000100"
        assert uow.posts.find("C0SUPPORT", "1700000000.0001") is None
        assert uow.posts.find("C0SUPPORT", "1700000000.000100 ") is None


def test_a_channel_and_ts_name_one_post(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket
) -> None:
    ticket_id = id_of(stored_ticket)
    with uow_factory() as uow:
        uow.posts.add(records.post(ticket_id, "1700000000.000100"))
        # The same ts in another channel is another message.
        uow.posts.add(records.post(ticket_id, "1700000000.000100", channel="C0OTHER"))
        uow.commit()
        with pytest.raises(IntegrityError):
            uow.posts.add(records.post(ticket_id, "1700000000.000100", kind=PostKind.NOTICE))


@pytest.mark.parametrize(
    "fields",
    [{"ticket_id": 999999}, {"draft_id": 999999}, {"message_id": 999999}],
    ids=["ticket", "draft", "message"],
)
def test_a_post_refers_to_existing_rows(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket, fields: dict[str, Any]
) -> None:
    post = replace(records.post(id_of(stored_ticket), "1700000000.000100"), **fields)
    # Checked at the statement: on SQLite too, with foreign_keys=ON (engine.py).
    with uow_factory() as uow, pytest.raises(IntegrityError):
        uow.posts.add(post)
