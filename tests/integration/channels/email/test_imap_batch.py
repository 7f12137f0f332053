"""IMAP intake with a batch receiver (what `supportbot poll` and `run` wire): each fetch group
goes to intake at once and is committed in one transaction, and the cursor still moves only
past messages that are committed (DESIGN §3, invariants 1 and 2)."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from bot.bootstrap import Services
from channels.email.imap import MailboxConfig, Receive, ReceiveMany, make_receiver
from core.intake import IntakeResult
from core.model import Disposition, InboundMessage
from tests.integration.channels.email.test_imap import (
    mailbox_state,
    make_mail,
    poll,
    ticket_count,
)
from tests.servers.dovecot import Dovecot


@pytest.fixture
def batch_receive(services: Services) -> ReceiveMany:
    receive = make_receiver(
        parse=services.parse_email, intake=services.receive, intake_many=services.receive_many
    )
    assert isinstance(receive, ReceiveMany)
    return receive


def test_a_group_becomes_tickets_with_drafts_in_one_go(
    dovecot: Dovecot, mailbox: MailboxConfig, services: Services, batch_receive: ReceiveMany
) -> None:
    for n in (1, 2, 3):
        dovecot.append(make_mail(n, sender=f"c{n}@c.example"))
    dovecot.append(make_mail(1, sender="c1@c.example"))  # delivered twice
    assert poll(mailbox, services, batch_receive) == {"new_ticket": 3, "duplicate": 1}
    assert poll(mailbox, services, batch_receive) == {}
    assert mailbox_state(services).last_uid == 4
    with services.new_uow() as uow:
        tickets = uow.tickets.list(limit=10)
        assert all(uow.drafts.latest_for_ticket(t.id or 0) is not None for t in tickets)


def test_when_a_group_fails_none_of_it_is_stored_and_the_cursor_stays_before_it(
    dovecot: Dovecot,
    mailbox: MailboxConfig,
    services: Services,
    batch_receive: ReceiveMany,
    receive: Receive,
) -> None:
    for n in (1, 2, 3):
        dovecot.append(make_mail(n, sender=f"c{n}@c.example"))

    def storage_down_at_second(messages: Iterable[InboundMessage]) -> list[IntakeResult]:
        def stream() -> Iterable[InboundMessage]:
            for number, message in enumerate(messages, start=1):
                if number == 2:
                    raise ConnectionError("database is unreachable")
                yield message

        return services.receive_many(stream())

    failing = make_receiver(
        parse=services.parse_email, intake=services.receive, intake_many=storage_down_at_second
    )
    with pytest.raises(ConnectionError, match="unreachable"):
        poll(mailbox, services, failing)

    state = mailbox_state(services)
    assert state.last_uid == 0
    assert state.last_error == "intake failed at UID 1: ConnectionError"
    assert ticket_count(services) == 0  # the first message went with the group
    assert poll(mailbox, services, batch_receive) == {"new_ticket": 3}


def test_a_plain_receive_is_still_handed_one_message_at_a_time(
    dovecot: Dovecot, mailbox: MailboxConfig, services: Services
) -> None:
    dovecot.append(make_mail(1))
    seen: list[bytes] = []

    def receive_one(raw: bytes, *, problem: str | None = None) -> Disposition:
        seen.append(raw)
        return Disposition.NEW_TICKET

    assert not isinstance(receive_one, ReceiveMany)
    assert poll(mailbox, services, receive_one) == {"new_ticket": 1}
    assert len(seen) == 1
