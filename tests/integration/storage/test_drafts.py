"""Drafts: versions, decisions, and the conditional transition that makes approval act once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from sqlalchemy.exc import IntegrityError

from core.model import Draft, DraftStatus, Ticket
from core.ports import UnitOfWork
from tests.integration.storage import records
from tests.integration.storage.records import at, id_of

APPROVABLE = [DraftStatus.PENDING]


def _add_draft(uow_factory: Callable[[], UnitOfWork], ticket: Ticket, version: int = 1) -> Draft:
    with uow_factory() as uow:
        draft = uow.drafts.add(records.draft(id_of(ticket), version))
        uow.commit()
    return draft


def test_add_get_list_and_latest(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket
) -> None:
    ticket_id = id_of(stored_ticket)
    full = records.draft(
        ticket_id,
        2,
        provider="gemini",
        model="gemini-2.5-flash",
        prompt_version="reply-v3",
        fallback_reason=None,
        created_at=at(5),
    )
    with uow_factory() as uow:
        assert uow.drafts.latest_for_ticket(ticket_id) is None
        second = uow.drafts.add(full)
        first = uow.drafts.add(records.draft(ticket_id, 1, fallback_reason="timeout"))
        uow.commit()
    assert second == replace(full, id=second.id)
    with uow_factory() as uow:
        assert uow.drafts.get(id_of(first)) == first
        assert uow.drafts.get(999999) is None
        assert uow.drafts.list_for_ticket(ticket_id) == [first, second]
        assert uow.drafts.latest_for_ticket(ticket_id) == second
        assert uow.drafts.list_for_ticket(999999) == []


def test_a_version_exists_once_per_ticket(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket
) -> None:
    with uow_factory() as uow:
        uow.drafts.add(records.draft(id_of(stored_ticket), 1))
        with pytest.raises(IntegrityError):
            uow.drafts.add(records.draft(id_of(stored_ticket), 1))


def test_transition_records_who_when_and_the_edited_text(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket
) -> None:
    draft = _add_draft(uow_factory, stored_ticket)
    with uow_factory() as uow:
        changed = uow.drafts.transition(
            id_of(draft),
            version=1,
            from_statuses=APPROVABLE,
            to_status=DraftStatus.EDITED,
            actor="U7",
            at=at(3),
            text="Edited reply",
        )
        uow.commit()
        assert changed
        assert uow.drafts.get(id_of(draft)) == replace(
            draft, status=DraftStatus.EDITED, decided_by="U7", decided_at=at(3), text="Edited reply"
        )


def test_transition_without_text_or_actor_keeps_them(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket
) -> None:
    draft = _add_draft(uow_factory, stored_ticket)
    with uow_factory() as uow:
        assert uow.drafts.transition(
            id_of(draft),
            version=1,
            from_statuses=APPROVABLE,
            to_status=DraftStatus.APPROVED,
            actor="U7",
            at=at(3),
        )
        # Sending names no actor: the approver must stay on record.
        assert uow.drafts.transition(
            id_of(draft),
            version=1,
            from_statuses=[DraftStatus.APPROVED, DraftStatus.EDITED],
            to_status=DraftStatus.SENT,
            at=at(4),
        )
        uow.commit()
        assert uow.drafts.get(id_of(draft)) == replace(
            draft, status=DraftStatus.SENT, decided_by="U7", decided_at=at(4)
        )


def test_stale_version_or_wrong_status_changes_nothing(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket
) -> None:
    draft = _add_draft(uow_factory, stored_ticket)
    with uow_factory() as uow:
        stale = uow.drafts.transition(
            id_of(draft),
            version=2,
            from_statuses=APPROVABLE,
            to_status=DraftStatus.APPROVED,
            actor="U7",
            at=at(3),
            text="x",
        )
        wrong_status = uow.drafts.transition(
            id_of(draft),
            version=1,
            from_statuses=[DraftStatus.APPROVED],
            to_status=DraftStatus.SENT,
            actor="U7",
            at=at(3),
        )
        missing = uow.drafts.transition(
            999999, version=1, from_statuses=APPROVABLE, to_status=DraftStatus.APPROVED
        )
        nothing_allowed = uow.drafts.transition(
            id_of(draft), version=1, from_statuses=[], to_status=DraftStatus.APPROVED
        )
        uow.commit()
        assert (stale, wrong_status, missing, nothing_allowed) == (False, False, False, False)
        assert uow.drafts.get(id_of(draft)) == draft


def test_two_approvers_racing_approve_once(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket
) -> None:
    """Each approver has its own unit of work (its own connection); both start together.
    The loser's UPDATE waits for the winner's lock and then matches no row."""
    draft = _add_draft(uow_factory, stored_ticket)
    start = threading.Barrier(2)

    def approve(actor: str) -> bool:
        with uow_factory() as uow:
            start.wait(timeout=10)
            approved = uow.drafts.transition(
                id_of(draft),
                version=1,
                from_statuses=APPROVABLE,
                to_status=DraftStatus.APPROVED,
                actor=actor,
                at=at(1),
            )
            uow.commit()
            return approved

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = dict(zip(["U1", "U2"], pool.map(approve, ["U1", "U2"]), strict=True))

    assert sorted(outcomes.values()) == [False, True]
    winner = next(actor for actor, won in outcomes.items() if won)
    with uow_factory() as uow:
        stored = uow.drafts.get(id_of(draft))
    assert stored is not None
    assert (stored.status, stored.decided_by) == (DraftStatus.APPROVED, winner)


def test_decisions_are_kept_per_draft_in_order(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket
) -> None:
    first = _add_draft(uow_factory, stored_ticket, 1)
    second = _add_draft(uow_factory, stored_ticket, 2)
    with uow_factory() as uow:
        rejected = uow.drafts.add_decision(
            records.decision(id_of(first), action=DraftStatus.REJECTED, at=at(2), reason="wrong")
        )
        edited = uow.drafts.add_decision(
            records.decision(
                id_of(first), action=DraftStatus.EDITED, at=at(1), diff="-a\n+b", actor="U9"
            )
        )
        uow.drafts.add_decision(records.decision(id_of(second), version=2))
        uow.commit()
        assert uow.drafts.list_decisions(id_of(first)) == [edited, rejected]
        assert rejected.reason == "wrong"
        assert uow.drafts.list_decisions(999999) == []
