"""The digest's report queries (SqlReports) and the digest's sent-record lookup
(SqlAudit.list_for_key), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable

from core.digest import compute_figures
from core.model import DraftStatus, TicketStatus
from core.ports import UnitOfWork
from tests.integration.storage import records
from tests.integration.storage.records import at, id_of

START, END = at(0), at(24 * 60)


def test_tickets_alive_are_those_created_before_the_end_and_not_resolved_before_the_start(
    uow_factory: Callable[[], UnitOfWork],
) -> None:
    with uow_factory() as uow:
        customer_id = id_of(uow.customers.add(records.customer()))

        def add(subject: str, created: float, resolved: float | None = None) -> None:
            status = TicketStatus.OPEN if resolved is None else TicketStatus.RESOLVED
            uow.tickets.add(
                records.ticket(
                    customer_id,
                    subject=subject,
                    created_at=at(created),
                    updated_at=at(created),
                    status=status,
                    resolved_at=None if resolved is None else at(resolved),
                )
            )

        add("old, still open", -5000)
        add("old, resolved before the start", -5000, -1)
        add("old, resolved exactly at the start", -5000, 0)
        add("new, resolved inside", 60, 120)
        add("created exactly at the end", 24 * 60)
        add("created inside, still open", 23 * 60)
        uow.commit()
    with uow_factory() as uow:
        alive = uow.reports.tickets_alive(START, END)
    assert [t.subject for t in alive] == [
        "old, still open",
        "old, resolved exactly at the start",
        "new, resolved inside",
        "created inside, still open",
    ]  # by creation time, then id
    assert all(t.created_at.tzinfo is not None for t in alive)


def test_decision_counts_group_the_period_by_action(
    uow_factory: Callable[[], UnitOfWork],
) -> None:
    with uow_factory() as uow:
        customer_id = id_of(uow.customers.add(records.customer()))
        ticket_id = id_of(uow.tickets.add(records.ticket(customer_id)))
        draft_id = id_of(uow.drafts.add(records.draft(ticket_id)))
        for minutes, action in [
            (-1, DraftStatus.APPROVED),  # before the period
            (0, DraftStatus.APPROVED),
            (10, DraftStatus.APPROVED),
            (20, DraftStatus.EDITED),
            (30, DraftStatus.REJECTED),
            (24 * 60, DraftStatus.REJECTED),  # at the end: the next period
        ]:
            uow.drafts.add_decision(records.decision(draft_id, action=action, at=at(minutes)))
        uow.commit()
    with uow_factory() as uow:
        assert uow.reports.decision_counts(START, END) == {
            "approved": 2,
            "edited": 1,
            "rejected": 1,
        }
        assert uow.reports.decision_counts(at(-100), at(-50)) == {}
        figures = compute_figures(uow, start=START, end=END)
    assert (figures.drafts_approved, figures.drafts_edited, figures.drafts_rejected) == (2, 1, 1)
    assert (figures.new, figures.open) == (1, 1)


def test_list_for_key_finds_exactly_that_key(uow_factory: Callable[[], UnitOfWork]) -> None:
    def sent(key: str, means: str = "dm", action: str = "digest.sent") -> None:
        detail = json.dumps({"idem_key": key, "means": means})
        uow.audit.add(records.audit_event(action=action, detail=detail))

    with uow_factory() as uow:
        sent("digest:U1:2026-11-24", "dm")
        sent("digest:U1:2026-11-24", "email")
        sent("digest:U1:2026-11-2")  # a prefix of the key
        sent("digest:U1:2026-11-245")  # the key is a prefix of this one
        sent("digest:U1:2026-11-24", action="sla.warning")  # another action
        sent("digest:U_%:x")  # LIKE's wildcards are matched literally
        uow.commit()
    with uow_factory() as uow:
        found = uow.audit.list_for_key("digest.sent", "digest:U1:2026-11-24")
        assert [json.loads(e.detail)["means"] for e in found] == ["dm", "email"]
        assert uow.audit.list_for_key("digest.sent", "digest:U1:2026-11-25") == []
        assert len(uow.audit.list_for_key("digest.sent", "digest:U_%:x")) == 1
        assert uow.audit.list_for_key("digest.sent", "digest:UA%:x") == []
        assert uow.audit.list_for_key("digest.sent", "digest:U1%") == []
