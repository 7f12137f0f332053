"""Outbox: one row per deterministic Message-ID, threading headers kept, sent once; leased
to one sender at a time, with backoff after a failure and takeover after a crash; automatic
acknowledgements without a draft, counted per recipient."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.exc import IntegrityError

from core.model import Channel, OutboxItem, OutboxStatus, Ticket
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


def _queue(uow: UnitOfWork, ticket: Ticket, *message_ids: str, **fields: Any) -> list[OutboxItem]:
    """Queue one item per Message-ID, all for the ticket's latest draft."""
    latest = uow.drafts.latest_for_ticket(id_of(ticket))
    draft_id = _draft_id(uow, ticket) if latest is None else id_of(latest)
    return [
        uow.outbox.add(records.outbox_item(id_of(ticket), draft_id, message_id, **fields))
        for message_id in message_ids
    ]


def test_mark_sent_releases_the_lease(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket
) -> None:
    with uow_factory() as uow:
        _queue(uow, stored_ticket, "<m@x>")
        (claimed,) = uow.outbox.claim_due(now=at(1), owner="s1", lease_seconds=60, limit=5)
        assert uow.outbox.mark_sent(id_of(claimed), at=at(1.5))
        uow.commit()
        sent = uow.outbox.get(id_of(claimed))
        assert sent == replace(
            claimed, status=OutboxStatus.SENT, sent_at=at(1.5), lease_owner=None, lease_until=None
        )


def test_claim_due_leases_due_unleased_pending_items_in_id_order(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket
) -> None:
    with uow_factory() as uow:
        first, second, third = _queue(uow, stored_ticket, "<1@x>", "<2@x>", "<3@x>")
        _queue(uow, stored_ticket, "<retry-later@x>", next_attempt_at=at(30))
        (retry_now,) = _queue(uow, stored_ticket, "<retry-now@x>", next_attempt_at=at(10))
        _queue(uow, stored_ticket, "<sent@x>", status=OutboxStatus.SENT, sent_at=at(0))
        _queue(uow, stored_ticket, "<failed@x>", status=OutboxStatus.FAILED)
        uow.commit()

        claimed = uow.outbox.claim_due(now=at(10), owner="s1", lease_seconds=30, limit=2)
        uow.commit()
        leased: dict[str, Any] = {"lease_owner": "s1", "lease_until": at(10.5), "attempts": 1}
        assert claimed == [replace(first, **leased), replace(second, **leased)]
        assert uow.outbox.get(id_of(first)) == claimed[0]

        rest = uow.outbox.claim_due(now=at(10), owner="s2", lease_seconds=30, limit=10)
        uow.commit()
        assert [id_of(item) for item in rest] == [id_of(third), id_of(retry_now)]
        assert {(item.lease_owner, item.attempts) for item in rest} == {("s2", 1)}
        # Everything due is leased now; the backed-off item is not due until at(30).
        assert uow.outbox.claim_due(now=at(10), owner="s3", lease_seconds=30, limit=10) == []


def test_an_expired_lease_is_claimed_again_with_the_same_message_id(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket
) -> None:
    with uow_factory() as uow:
        _queue(uow, stored_ticket, "<crash@x>")
        (mine,) = uow.outbox.claim_due(now=at(1), owner="s1", lease_seconds=60, limit=5)
        uow.commit()
        assert uow.outbox.claim_due(now=at(1.5), owner="s2", lease_seconds=60, limit=5) == []

        (theirs,) = uow.outbox.claim_due(now=at(2.5), owner="s2", lease_seconds=60, limit=5)
        uow.commit()
        assert (theirs.lease_owner, theirs.lease_until, theirs.attempts) == ("s2", at(3.5), 2)
        assert theirs.message_id == mine.message_id == "<crash@x>"
        # The crashed sender, come back, no longer holds the lease.
        assert not uow.outbox.record_failure(id_of(mine), owner="s1", error="late", retry_at=None)
        assert uow.outbox.get(id_of(mine)) == theirs


def test_record_failure_backs_off_and_only_the_holder_may_record(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket
) -> None:
    with uow_factory() as uow:
        (unclaimed,) = _queue(uow, stored_ticket, "<m@x>")
        assert not uow.outbox.record_failure(
            id_of(unclaimed), owner="s1", error="x", retry_at=at(5)
        )
        (claimed,) = uow.outbox.claim_due(now=at(1), owner="s1", lease_seconds=60, limit=5)
        uow.commit()

        assert not uow.outbox.record_failure(id_of(claimed), owner="s2", error="x", retry_at=at(5))
        assert not uow.outbox.record_failure(999999, owner="s1", error="x", retry_at=at(5))
        uow.commit()
        assert uow.outbox.get(id_of(claimed)) == claimed

        assert uow.outbox.record_failure(
            id_of(claimed), owner="s1", error="421 try later", retry_at=at(5)
        )
        uow.commit()
        backed_off = replace(
            claimed,
            last_error="421 try later",
            next_attempt_at=at(5),
            lease_owner=None,
            lease_until=None,
        )
        assert uow.outbox.get(id_of(claimed)) == backed_off
        # Released, yet not due before retry_at.
        assert uow.outbox.claim_due(now=at(4), owner="s2", lease_seconds=60, limit=5) == []
        (again,) = uow.outbox.claim_due(now=at(5), owner="s2", lease_seconds=60, limit=5)
        uow.commit()
        assert again == replace(backed_off, lease_owner="s2", lease_until=at(6), attempts=2)


def test_record_failure_without_retry_fails_for_good(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket
) -> None:
    with uow_factory() as uow:
        _queue(uow, stored_ticket, "<m@x>")
        (claimed,) = uow.outbox.claim_due(now=at(1), owner="s1", lease_seconds=60, limit=5)
        assert uow.outbox.record_failure(
            id_of(claimed), owner="s1", error="550 no such user", retry_at=None
        )
        uow.commit()
        assert uow.outbox.get(id_of(claimed)) == replace(
            claimed,
            status=OutboxStatus.FAILED,
            last_error="550 no such user",
            lease_owner=None,
            lease_until=None,
        )
        assert not uow.outbox.record_failure(id_of(claimed), owner="s1", error="x", retry_at=None)
        assert not uow.outbox.mark_sent(id_of(claimed), at=at(2))
        assert uow.outbox.claim_due(now=at(100), owner="s1", lease_seconds=60, limit=5) == []


def test_concurrent_senders_claim_every_item_exactly_once(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket
) -> None:
    total, workers = 100, 4
    with uow_factory() as uow:
        queued = _queue(uow, stored_ticket, *(f"<T1.{n}@x>" for n in range(total)))
        uow.commit()
    now = at(60)
    start = threading.Barrier(workers)

    def work(owner: str) -> list[int]:
        sent: list[int] = []
        with uow_factory() as uow:
            start.wait(timeout=10)
            while claimed := uow.outbox.claim_due(now=now, owner=owner, lease_seconds=300, limit=7):
                uow.commit()
                for item in claimed:
                    assert (item.lease_owner, item.attempts) == (owner, 1)
                    assert uow.outbox.mark_sent(id_of(item), at=now)
                    sent.append(id_of(item))
                uow.commit()
        return sent

    with ThreadPoolExecutor(max_workers=workers) as pool:
        per_worker = list(pool.map(work, [f"sender-{n}" for n in range(workers)]))

    counts = Counter(item_id for sent in per_worker for item_id in sent)
    assert set(counts) == {id_of(item) for item in queued}
    assert set(counts.values()) == {1}
    with uow_factory() as uow:
        stored = uow.outbox.list_for_ticket(id_of(stored_ticket))
    assert len(stored) == total
    assert {(item.status, item.attempts, item.lease_owner) for item in stored} == {
        (OutboxStatus.SENT, 1, None)
    }


def test_an_automatic_item_without_a_draft_is_stored_claimed_and_sent(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket
) -> None:
    ack = records.outbox_item(id_of(stored_ticket), None, "<T1.ack@x>", automatic=True)
    with uow_factory() as uow:
        stored = uow.outbox.add(ack)
        uow.commit()
    assert stored == replace(ack, id=stored.id)
    with uow_factory() as uow:
        assert uow.outbox.get(id_of(stored)) == stored
        assert uow.outbox.list_for_ticket(id_of(stored_ticket)) == [stored]
        (claimed,) = uow.outbox.claim_due(now=at(1), owner="s1", lease_seconds=60, limit=5)
        uow.commit()
        assert claimed == replace(stored, lease_owner="s1", lease_until=at(2), attempts=1)
        assert uow.outbox.mark_sent(id_of(claimed), at=at(1.5))
        uow.commit()
        assert uow.outbox.get(id_of(stored)) == replace(
            stored, status=OutboxStatus.SENT, sent_at=at(1.5), attempts=1
        )


def test_count_automatic_since_counts_that_recipients_automatic_items_since(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket
) -> None:
    ticket_id = id_of(stored_ticket)

    def ack(message_id: str, recipient: str, minutes: float, **fields: Any) -> OutboxItem:
        return records.outbox_item(
            ticket_id,
            None,
            message_id,
            recipient=recipient,
            created_at=at(minutes),
            automatic=True,
            **fields,
        )

    with uow_factory() as uow:
        draft_id = _draft_id(uow, stored_ticket)
        for item in (
            ack("<before@x>", "ada@example.test", 9.99),
            ack("<at-since@x>", "ada@example.test", 10),
            ack("<mixed-case@x>", "Ada@Example.TEST", 20),
            ack("<sent@x>", "ada@example.test", 30, status=OutboxStatus.SENT, sent_at=at(31)),
            ack("<someone-else@x>", "bo@example.test", 40),
            # An approved reply to the same address is not automatic.
            records.outbox_item(ticket_id, draft_id, "<reply@x>", created_at=at(50)),
        ):
            uow.outbox.add(item)
        uow.commit()

        count = uow.outbox.count_automatic_since
        assert count("ada@example.test", at(10)) == 3
        assert count("ADA@EXAMPLE.test", at(10)) == 3
        assert count("ada@example.test", at(0)) == 4
        assert count("ada@example.test", at(20.5)) == 1
        assert count("bo@example.test", at(0)) == 1
        assert count("ada@example.test", at(60)) == 0
        assert count("nobody@example.test", at(0)) == 0


def test_count_automatic_since_uses_the_recipient_index(
    uow_factory: Callable[[], UnitOfWork], engine: Engine
) -> None:
    """The plan of the very statement the repository runs, captured on its way to the driver."""
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if "count(" in statement:
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with uow_factory() as uow:
            uow.outbox.count_automatic_since("Ada@example.test", at(0))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    ((statement, parameters),) = captured

    with engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            plan = " ".join(str(row[-1]) for row in rows)
        else:
            # An empty table is cheaper to scan; forbid that to see what the index can serve.
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            rows = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
            plan = " ".join(str(row[0]) for row in rows)
    assert "ix_outbox_lower_recipient_created_at" in plan, plan
