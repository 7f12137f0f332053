"""The digest's report queries (SqlReports) and the digest's sent-record lookup
(SqlAudit.list_for_key), on SQLite and PostgreSQL; the aggregating queries (`period`,
`history`) equal the Python reference (`core.digest.summarize`, `history_from`) on data that
sits on every edge of their rules."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest

from core.digest import (
    HISTORY_DAYS,
    compute_figures,
    history_from,
    period_query,
    summarize,
)
from core.model import DraftStatus, Priority, TicketStatus
from core.ports import UnitOfWork
from tests.integration.storage import records
from tests.integration.storage.records import at, id_of

START, END = at(0), at(24 * 60)
OPEN = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING)


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


# -- the SQL aggregates against the Python reference ----------------------------------------------

_DAY = 24 * 60  # minutes


def _seed_varied(uow_factory: Callable[[], UnitOfWork]) -> None:
    """Tickets on every edge the rules have (created, resolved, answered and due exactly at a
    period's bounds, late by nothing, NULL due times, statuses disagreeing with the times,
    ties in sentiment and due time) and a few hundred random ones around them."""
    rng = random.Random(7)
    with uow_factory() as uow:
        customer_id = id_of(uow.customers.add(records.customer()))

        def add(created: float, **fields: object) -> None:
            uow.tickets.add(
                records.ticket(
                    customer_id, created_at=at(created), updated_at=at(created), **fields
                )
            )

        edges = [0, _DAY, -_DAY, -7 * _DAY, 7 * _DAY, -14 * _DAY]
        for edge in edges:
            add(edge, category="general")
            add(edge - 30, category="general", status=TicketStatus.RESOLVED, resolved_at=at(edge))
            add(edge - 30, first_response_due=at(edge), first_responded_at=at(edge))  # met
            add(edge - 30, first_response_due=at(edge - 1), first_responded_at=at(edge))
            add(edge - 30, first_response_due=at(edge))  # fell due, never answered
            add(edge - 30, resolution_due=at(edge), status=TicketStatus.CLOSED)  # no time
            add(
                edge - _DAY,  # an age exactly at the first bucket's limit
                status=TicketStatus.PENDING,
                sentiment=5,
                sentiment_score=-0.5,
                resolution_due=at(edge),
            )
        add(-3 * _DAY, status=TicketStatus.OPEN, resolved_at=at(-_DAY))  # status disagrees
        add(-5, status=TicketStatus.NEW, sentiment=4, sentiment_score=-0.5)  # unhappy ties
        add(-4, status=TicketStatus.NEW, sentiment=4, sentiment_score=-0.5)
        statuses = list(TicketStatus)
        for n in range(300):
            created = rng.uniform(-20 * _DAY, 2 * _DAY)
            answered = created + rng.expovariate(1 / 300) if rng.random() < 0.8 else None
            resolved = (answered or created) + rng.expovariate(1 / 3000)
            status = rng.choice(statuses)
            is_done = status in (TicketStatus.RESOLVED, TicketStatus.CLOSED)
            add(
                created,
                subject=f"random {n}",
                status=status,
                priority=rng.choice(list(Priority)),
                category=rng.choice(["billing", "technical", "account", "shipping"]),
                sentiment=rng.randint(1, 5),
                sentiment_score=round(rng.uniform(-1, 1), 3),
                first_response_due=at(created + 240) if rng.random() < 0.9 else None,
                resolution_due=at(created + 2 * _DAY) if rng.random() < 0.9 else None,
                first_responded_at=None if answered is None else at(answered),
                resolved_at=at(resolved) if is_done or rng.random() < 0.05 else None,
            )
        uow.commit()


@pytest.mark.parametrize("days", [1, 7, 30])
def test_period_equals_the_python_reference(
    uow_factory: Callable[[], UnitOfWork], days: int
) -> None:
    _seed_varied(uow_factory)
    for end in (at(0), at(_DAY), at(-7 * _DAY), at(0) + timedelta(microseconds=1)):
        for details in (True, False):
            query = period_query(end - timedelta(days=days), end, details=details)
            with uow_factory() as uow:
                report = uow.reports.period(query)
                expected = summarize(uow.reports.tickets_alive(query.start, query.end), query)
            assert report == expected
        assert (report.breaches, report.unhappy) == ((), ())
    query = period_query(at(-_DAY) - timedelta(days=days), at(-_DAY))
    with uow_factory() as uow:
        report = uow.reports.period(query)
    assert report.breaches and report.unhappy and len(report.top_categories) > 1
    assert len(report.breaches) == report.sla_total - report.sla_met
    limited = replace(query, breach_limit=3)
    with uow_factory() as uow:
        first = uow.reports.period(limited)
        expected = summarize(uow.reports.tickets_alive(query.start, query.end), limited)
    assert first.breaches == report.breaches[:3] == expected.breaches
    assert replace(first, breaches=report.breaches) == report  # the counts are the same


def test_history_equals_the_python_reference(uow_factory: Callable[[], UnitOfWork]) -> None:
    _seed_varied(uow_factory)
    for end in (at(0), at(_DAY + 0.5)):
        with uow_factory() as uow:
            history = uow.reports.history(end, days=HISTORY_DAYS, open_statuses=OPEN)
            span = uow.reports.tickets_alive(end - timedelta(days=HISTORY_DAYS), end)
        assert history == history_from(span, end=end, days=HISTORY_DAYS, open_statuses=OPEN)
    assert sum(day.breaches for day in history) > 0


def test_an_empty_period_has_nothing(uow_factory: Callable[[], UnitOfWork]) -> None:
    query = period_query(START, END)
    with uow_factory() as uow:
        assert uow.reports.period(query) == summarize([], query)
        assert [day.new for day in uow.reports.history(END, days=3, open_statuses=OPEN)] == [0] * 3
