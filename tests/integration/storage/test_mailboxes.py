"""Mailboxes: one row per name, saved by upsert, cursors as large as IMAP's 32-bit UIDs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

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
