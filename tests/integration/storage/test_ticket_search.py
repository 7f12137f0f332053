"""`Tickets.search`: filters, text search, sorting and pagination with a total (exact up to
the query's count limit, a lower bound past it), on both backends; and the metric counts of
`Reports`."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable

from core.model import Priority, TicketQuery, TicketSort, TicketStatus
from core.ports import UnitOfWork
from tests.integration.storage import records
from tests.integration.storage.records import at, id_of


def _seed(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        ada = uow.customers.add(records.customer())
        bob = uow.customers.add(records.customer(email="bob@example.test", name="Bob"))
        assert ada.id is not None and bob.id is not None
        rows = [
            (ada.id, "Invoice missing", TicketStatus.OPEN, Priority.P2, "billing", None),
            (ada.id, "Login broken 100%", TicketStatus.NEW, Priority.P0, "technical", "web:al"),
            (bob.id, "Where is my INVOICE?", TicketStatus.RESOLVED, Priority.P3, "billing", None),
            (bob.id, "Hello", TicketStatus.OPEN, Priority.P1, "general", "web:al"),
        ]
        for n, (customer_id, subject, status, priority, category, assignee) in enumerate(rows):
            uow.tickets.add(
                records.ticket(
                    customer_id,
                    subject=subject,
                    status=status,
                    priority=priority,
                    category=category,
                    assignee=assignee,
                    created_at=at(n),
                    updated_at=at(10 - n),
                )
            )
        uow.commit()


def _subjects(uow_factory: Callable[[], UnitOfWork], **query: object) -> tuple[list[str], int]:
    with uow_factory() as uow:
        page = uow.tickets.search(TicketQuery(**query))  # type: ignore[arg-type]
    return [t.subject for t in page.tickets], page.total


def test_filters_text_sort_and_pages(uow_factory: Callable[[], UnitOfWork]) -> None:
    _seed(uow_factory)
    subjects, total = _subjects(uow_factory)
    assert total == 4 and subjects[0] == "Hello"  # newest first
    assert _subjects(uow_factory, text="invoice") == (
        ["Where is my INVOICE?", "Invoice missing"],
        2,
    )
    assert _subjects(uow_factory, text="100%") == (["Login broken 100%"], 1)  # % is literal
    assert _subjects(uow_factory, status=TicketStatus.OPEN, category="billing")[1] == 1
    assert _subjects(uow_factory, customer_email=" BOB@example.test")[1] == 2
    assert _subjects(uow_factory, assignee="web:al", priority=Priority.P0) == (
        ["Login broken 100%"],
        1,
    )
    by_priority, _ = _subjects(uow_factory, sort=TicketSort.PRIORITY, descending=False)
    assert by_priority == ["Login broken 100%", "Hello", "Invoice missing", "Where is my INVOICE?"]
    page, total = _subjects(uow_factory, sort=TicketSort.UPDATED_AT, limit=2, offset=1)
    assert total == 4 and page == ["Login broken 100%", "Where is my INVOICE?"]


def test_report_counts(uow_factory: Callable[[], UnitOfWork]) -> None:
    _seed(uow_factory)
    with uow_factory() as uow:
        counts = uow.reports.ticket_counts()
        assert counts[("open", "P2")] == 1 and sum(counts.values()) == 4
        assert uow.reports.outbox_counts() == {}
        assert uow.reports.draft_counts() == {}


def test_the_total_stops_at_the_count_limit(uow_factory: Callable[[], UnitOfWork]) -> None:
    _seed(uow_factory)

    def page(**query: object) -> tuple[list[str], int, bool]:
        with uow_factory() as uow:
            found = uow.tickets.search(TicketQuery(count_limit=2, **query))  # type: ignore[arg-type]
        return [t.subject for t in found.tickets], found.total, found.total_exact

    assert page(status=TicketStatus.OPEN) == (["Hello", "Invoice missing"], 2, True)
    # More than the limit: a lower bound, at least the end of the page asked for …
    assert page(limit=1) == (["Hello"], 2, False)
    assert page(limit=1, offset=2) == (["Login broken 100%"], 3, False)
    # … until a page reaches the end, which makes it exact; past the end, only "more than".
    assert page(limit=2, offset=3) == (["Invoice missing"], 4, True)
    assert page(limit=2, offset=9) == ([], 2, False)


def test_missing_due_times_sort_last_both_ways(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        customer_id = id_of(uow.customers.add(records.customer()))
        for n, due in enumerate([at(5), None, at(1), None, at(3)]):
            uow.tickets.add(records.ticket(customer_id, subject=f"t{n}", resolution_due=due))
        uow.commit()
    for count_limit in (1000, 1):  # the matches fetched first, and the indexed order
        for descending, expected in ((False, "t2 t4 t0 t1 t3"), (True, "t0 t4 t2 t3 t1")):
            query = TicketQuery(
                sort=TicketSort.RESOLUTION_DUE, descending=descending, count_limit=count_limit
            )
            with uow_factory() as uow:
                found = uow.tickets.search(query)
            assert " ".join(t.subject for t in found.tickets) == expected


def test_pages_by_position_cover_every_match_once_in_order(
    uow_factory: Callable[[], UnitOfWork],
) -> None:
    """Both plans (the few matches fetched first, and the indexed order past the count
    limit, where PostgreSQL reads NULL due times separately), every sort and direction."""
    with uow_factory() as uow:
        customer_id = id_of(uow.customers.add(records.customer()))
        for n in range(11):
            uow.tickets.add(
                records.ticket(
                    customer_id,
                    subject=f"t{n}",
                    status=TicketStatus.OPEN if n % 4 else TicketStatus.PENDING,
                    priority=list(Priority)[n % 3],
                    created_at=at(n // 3),
                    updated_at=at(-(n // 2)),
                    resolution_due=None if n % 3 == 1 else at(n % 2),
                )
            )
        uow.commit()
        everything = uow.tickets.search(TicketQuery(limit=100)).tickets
    for count_limit, sort, descending, status in itertools.product(
        (1000, 1), TicketSort, (True, False), (None, TicketStatus.OPEN)
    ):
        wanted = [t for t in everything if status is None or t.status is status]
        value = sort.value
        present = sorted(
            (t for t in wanted if getattr(t, value) is not None),
            key=lambda t: (getattr(t, value), id_of(t)),
            reverse=descending,
        )
        absent = sorted(
            (t for t in wanted if getattr(t, value) is None), key=id_of, reverse=descending
        )
        query = TicketQuery(
            status=status, sort=sort, descending=descending, limit=2, count_limit=count_limit
        )
        walked: list[str] = []
        for _ in range(20):
            with uow_factory() as uow:
                found = uow.tickets.search(query)
            walked.extend(t.subject for t in found.tickets)
            if found.next is None:
                break
            query = dataclasses.replace(query, after=found.next)
        case = (count_limit, sort, descending, status)
        assert walked == [t.subject for t in present + absent], case
