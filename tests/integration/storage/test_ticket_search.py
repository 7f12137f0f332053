"""`Tickets.search`: filters, text search, sorting and pagination with a total, on both
backends; and the metric counts of `Reports`."""

from __future__ import annotations

from collections.abc import Callable

from core.model import Priority, TicketQuery, TicketSort, TicketStatus
from core.ports import UnitOfWork
from tests.integration.storage import records
from tests.integration.storage.records import at


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
