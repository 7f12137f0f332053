"""Mailboxes: one row per name, saved by upsert, cursors as large as IMAP's 32-bit UIDs; a
lease that one instance at a time holds, renews, gives up, or loses when it runs out."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from core.model import MailboxState
from core.ports import UnitOfWork
from tests.integration.storage.records import at

MAX_UID = 2**32 - 1  # UIDs and UIDVALIDITY are unsigned 32-bit: beyond a signed INTEGER


def test_save_inserts_then_replaces(uow_factory: Callable[[], UnitOfWork]) -> None:
    fresh = MailboxState(name="support")
    with uow_factory() as uow:
        assert uow.mailboxes.get("support") is None
        uow.mailboxes.save(fresh)
        uow.commit()
    with uow_factory() as uow:
        assert uow.mailboxes.get("support") == fresh

    polled = MailboxState(
        name="support",
        uidvalidity=MAX_UID,
        last_uid=MAX_UID - 1,
        last_success_at=at(1),
        last_error="timeout",
        last_error_at=at(0.5),
        auth_failures=2,
        lag_seconds=12.5,
    )
    with uow_factory() as uow:
        uow.mailboxes.save(polled)
        uow.commit()
    with uow_factory() as uow:
        assert uow.mailboxes.get("support") == polled
        assert uow.mailboxes.list() == [polled]

    # Saving writes every field, so clearing one clears it in the row.
    healthy = replace(polled, last_error=None, last_error_at=None, auth_failures=0)
    with uow_factory() as uow:
        uow.mailboxes.save(healthy)
        uow.commit()
    with uow_factory() as uow:
        assert uow.mailboxes.get("support") == healthy


def test_list_is_ordered_by_name(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        assert uow.mailboxes.list() == []
        for name in ("support", "billing", "sales"):
            uow.mailboxes.save(MailboxState(name=name, last_uid=len(name)))
        uow.commit()
    with uow_factory() as uow:
        assert [state.name for state in uow.mailboxes.list()] == ["billing", "sales", "support"]
        assert uow.mailboxes.get("billing") == MailboxState(name="billing", last_uid=7)
        assert uow.mailboxes.get("missing") is None


def test_an_unsaved_change_is_rolled_back(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        uow.mailboxes.save(MailboxState(name="support", last_uid=10))
        uow.commit()
        uow.mailboxes.save(MailboxState(name="support", last_uid=20))
    with uow_factory() as uow:
        assert uow.mailboxes.get("support") == MailboxState(name="support", last_uid=10)


def test_a_lease_is_taken_renewed_refused_to_others_and_taken_over_after_expiry(
    uow_factory: Callable[[], UnitOfWork],
) -> None:
    with uow_factory() as uow:
        assert uow.mailboxes.lease_holder("support", now=at(0)) is None
        assert uow.mailboxes.try_lease("support", owner="a", now=at(0), seconds=60)
        uow.commit()
    with uow_factory() as uow:
        # The row exists now, with default cursor and health: `get` sees a fresh mailbox.
        assert uow.mailboxes.get("support") == MailboxState(name="support")
        assert uow.mailboxes.lease_holder("support", now=at(0.5)) == ("a", at(1))
        assert not uow.mailboxes.try_lease("support", owner="b", now=at(0.5), seconds=60)
        assert uow.mailboxes.try_lease("support", owner="a", now=at(0.5), seconds=60)  # renew
        uow.commit()
    with uow_factory() as uow:
        assert not uow.mailboxes.try_lease("support", owner="b", now=at(1.25), seconds=60)
        # Past a's renewed lease (until 1.5): b takes over, and a is refused from then on.
        assert uow.mailboxes.try_lease("support", owner="b", now=at(1.75), seconds=60)
        assert not uow.mailboxes.try_lease("support", owner="a", now=at(1.75), seconds=60)
        uow.commit()
    with uow_factory() as uow:
        assert not uow.mailboxes.release("support", "a")  # not a's to give up
        assert uow.mailboxes.release("support", "b")
        uow.commit()
    with uow_factory() as uow:
        assert uow.mailboxes.lease_holder("support", now=at(1.8)) is None
        assert uow.mailboxes.try_lease("support", owner="a", now=at(1.8), seconds=60)
        uow.commit()


def test_saving_the_cursor_leaves_the_lease_alone(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        uow.mailboxes.save(MailboxState(name="support", last_uid=5))
        assert uow.mailboxes.try_lease("support", owner="a", now=at(0), seconds=60)
        uow.mailboxes.save(MailboxState(name="support", last_uid=9))
        uow.commit()
    with uow_factory() as uow:
        assert uow.mailboxes.get("support") == MailboxState(name="support", last_uid=9)
        assert uow.mailboxes.lease_holder("support", now=at(0)) == ("a", at(1))


def test_a_reader_that_lost_its_lease_cannot_move_the_cursor(
    uow_factory: Callable[[], UnitOfWork],
) -> None:
    with uow_factory() as uow:
        assert uow.mailboxes.try_lease("support", owner="new", now=at(5), seconds=60)
        assert uow.mailboxes.save(MailboxState(name="support", last_uid=90), owner="new", now=at(5))
        uow.commit()
    with uow_factory() as uow:  # "old" held the lease before, read up to 40, and wakes up
        assert not uow.mailboxes.save(
            MailboxState(name="support", last_uid=40), owner="old", now=at(5.5)
        )
        uow.commit()
    with uow_factory() as uow:
        assert uow.mailboxes.get("support") == MailboxState(name="support", last_uid=90)
        # Once the lease has run out, anyone may write, as anyone may take it.
        assert uow.mailboxes.save(
            MailboxState(name="support", last_uid=91), owner="old", now=at(6.5)
        )
        assert uow.mailboxes.save(MailboxState(name="other", last_uid=1), owner="x", now=at(0))
        uow.commit()
    with uow_factory() as uow:
        assert uow.mailboxes.get("support") == MailboxState(name="support", last_uid=91)
        assert uow.mailboxes.get("other") == MailboxState(name="other", last_uid=1)


@pytest.mark.parametrize("existing_row", [False, True], ids=["new-row", "expired-row"])
def test_of_two_instances_racing_for_a_free_lease_exactly_one_wins(
    uow_factory: Callable[[], UnitOfWork], existing_row: bool
) -> None:
    if existing_row:
        with uow_factory() as uow:
            uow.mailboxes.save(MailboxState(name="support", last_uid=3))
            assert uow.mailboxes.try_lease("support", owner="old", now=at(0), seconds=60)
            uow.commit()
    for round_ in range(10):
        now = at(10 + round_ * 10)  # every round starts with the previous lease run out
        start = threading.Barrier(2)

        def take(owner: str, now: datetime = now, start: threading.Barrier = start) -> bool:
            with uow_factory() as uow:
                start.wait(timeout=10)
                won = uow.mailboxes.try_lease("support", owner=owner, now=now, seconds=60)
                uow.commit()
            return won

        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(take, [f"a{round_}", f"b{round_}"]))
        assert sorted(results) == [False, True], results
        winner = f"a{round_}" if results[0] else f"b{round_}"
        with uow_factory() as uow:
            assert uow.mailboxes.lease_holder("support", now=now) == (
                winner,
                now + timedelta(seconds=60),
            )
