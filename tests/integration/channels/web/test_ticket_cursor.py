"""`GET /api/tickets` paged by cursor, on SQLite and PostgreSQL: walking `next_cursor` yields
every matching ticket once, in the sort order, for every sort and direction (ties and empty
due times included), with filters, and while new tickets arrive; a bad cursor is a 422
naming `cursor`."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.bootstrap import bootstrap
from bot.settings import load_settings
from channels.web.app import create_app
from core.accounts import add_user, issue_token
from core.model import Priority, Role, Ticket, TicketStatus
from core.ports import UnitOfWork
from tests.integration.channels.web.conftest import Api
from tests.integration.storage import records
from tests.integration.storage.records import at

SORTS = ("created_at", "updated_at", "priority", "resolution_due")
PRIORITIES = (Priority.P2, Priority.P0, Priority.P3, Priority.P1)


@pytest.fixture
def api_on(
    env: dict[str, str], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Api]:
    """The `api` fixture's app with one manager token, on each backend."""
    monkeypatch.setenv("SUPPORTBOT_DATABASE__URL", database_url)
    services = bootstrap(load_settings())
    try:
        add_user(
            services.new_uow(),
            login="mia",
            password_hash="$argon2id$unused",
            role=Role.MANAGER,
            actor="test",
            clock=services.clock,
        )
        token = issue_token(
            services.new_uow(), login="mia", name="tests", actor="test", clock=services.clock
        )
        with TestClient(create_app(services)) as client:
            yield Api(client, services, {"mia": token.secret})
    finally:
        services.close()


def _seed(uow: UnitOfWork, count: int, *, minutes: int = 0) -> list[Ticket]:
    """`count` tickets whose sort values repeat (three share a creation time, every fourth
    has no resolution due time), so the order leans on the id as tie-break; created from
    `minutes` after the records' T0 on."""
    ada = uow.customers.get_by_email("ada@example.test") or uow.customers.add(records.customer())
    assert ada.id is not None
    added = []
    for n in range(count):
        added.append(
            uow.tickets.add(
                records.ticket(
                    ada.id,
                    subject=f"Ticket {n}",
                    status=TicketStatus.OPEN if n % 3 else TicketStatus.PENDING,
                    priority=PRIORITIES[n % 4],
                    created_at=at(minutes + n // 3),
                    updated_at=at(100 - n // 2),
                    resolution_due=None if n % 4 == 1 else at(500 + n % 5),
                )
            )
        )
    uow.commit()
    return added


def _expected(tickets: list[Ticket], sort: str, *, descending: bool) -> list[str]:
    """The documented order: by the sort value, NULLs last, then by id, both in `order`."""
    present = [t for t in tickets if getattr(t, sort) is not None]
    absent = [t for t in tickets if getattr(t, sort) is None]
    present.sort(key=lambda t: (getattr(t, sort), t.id), reverse=descending)
    absent.sort(key=lambda t: t.id or 0, reverse=descending)
    return [t.ref for t in present + absent]


def _walk(api: Api, **params: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """Every page from the first by `next_cursor`: the refs in order, and each page's body."""
    refs: list[str] = []
    pages: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = api.client.get("/api/tickets", params=query, headers=api.auth("mia"))
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body)
        refs.extend(item["ref"] for item in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return refs, pages
        assert len(pages) < 100, "the walk does not end"


@pytest.mark.parametrize("order", ["desc", "asc"])
@pytest.mark.parametrize("sort", SORTS)
def test_walking_by_cursor_yields_each_ticket_once_in_sort_order(
    api_on: Api, sort: str, order: str
) -> None:
    with api_on.services.new_uow() as uow:
        tickets = _seed(uow, 23)
    refs, pages = _walk(api_on, sort=sort, order=order, limit=4)
    assert refs == _expected(tickets, sort, descending=order == "desc")
    assert [len(page["items"]) for page in pages] == [4, 4, 4, 4, 4, 3]
    assert all(page["total"] == 23 and page["total_exact"] for page in pages)


def test_cursor_with_filters_and_a_last_page_that_is_full(api_on: Api) -> None:
    with api_on.services.new_uow() as uow:
        tickets = _seed(uow, 24)
    wanted = [t for t in tickets if t.status is TicketStatus.OPEN and t.priority is Priority.P0]
    refs, pages = _walk(api_on, status="open", priority="P0", sort="updated_at", limit=2)
    assert refs == _expected(wanted, "updated_at", descending=True)
    assert len(wanted) == 4 and len(pages) == 2  # no empty page after a full last one
    assert pages[-1]["next_cursor"] is None


def test_tickets_added_during_a_walk_neither_repeat_nor_hide_older_ones(api_on: Api) -> None:
    with api_on.services.new_uow() as uow:
        tickets = _seed(uow, 9)
    h = api_on.auth("mia")
    first = api_on.client.get("/api/tickets?limit=4", headers=h).json()
    with api_on.services.new_uow() as uow:  # newer than all: would shift every offset
        _seed(uow, 3, minutes=60)
    cursor, seen = first["next_cursor"], [item["ref"] for item in first["items"]]
    while cursor:
        page = api_on.client.get(f"/api/tickets?limit=4&cursor={cursor}", headers=h).json()
        seen.extend(item["ref"] for item in page["items"])
        cursor = page["next_cursor"]
    assert seen == _expected(tickets, "created_at", descending=True)


def test_an_offset_page_leads_on_by_cursor(api_on: Api) -> None:
    with api_on.services.new_uow() as uow:
        tickets = _seed(uow, 10)
    h = api_on.auth("mia")
    expected = _expected(tickets, "priority", descending=False)
    page = api_on.client.get("/api/tickets?sort=priority&order=asc&limit=3&offset=3", headers=h)
    cursor = page.json()["next_cursor"]
    after = api_on.client.get(
        f"/api/tickets?sort=priority&order=asc&limit=3&cursor={cursor}", headers=h
    ).json()
    assert [item["ref"] for item in after["items"]] == expected[6:9]


def _packed(fields: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).rstrip(b"=").decode()


def test_bad_cursors_are_422_naming_the_cursor(api_on: Api) -> None:
    with api_on.services.new_uow() as uow:
        _seed(uow, 5)
    h = api_on.auth("mia")
    good = api_on.client.get("/api/tickets?limit=2", headers=h).json()["next_cursor"]
    assert good
    when = datetime(2026, 11, 23, 9, 30).isoformat()
    cases = {
        "not base64 or JSON": "%%%not-a-cursor",
        "JSON, not ours": _packed({"id": 3}),
        "another version": _packed([2, "created_at", "desc", when + "+00:00", 3]),
        "a time without zone": _packed([1, "created_at", "desc", when, 3]),
        "a time that is no time": _packed([1, "created_at", "desc", "yesterday", 3]),
        "a priority that is none": _packed([1, "priority", "asc", "P9", 3]),
        "an id that is no row": _packed([1, "priority", "asc", "P1", 2**40]),
        "an id that is text": _packed([1, "priority", "asc", "P1", "3"]),
        "an unknown sort": _packed([1, "colour", "asc", "red", 3]),
    }
    for name, cursor in cases.items():
        response = api_on.client.get("/api/tickets", params={"cursor": cursor}, headers=h)
        assert response.status_code == 422, name
        assert response.json()["detail"][0]["loc"] == ["query", "cursor"], name
    for query in ("sort=priority", "order=asc", "offset=2"):  # not the cursor's listing
        response = api_on.client.get(f"/api/tickets?{query}&cursor={good}", headers=h)
        assert response.status_code == 422, query
        assert response.json()["detail"][0]["loc"] == ["query", "cursor"], query
    first = api_on.client.get("/api/tickets?limit=2&cursor=", headers=h).json()
    assert first["next_cursor"] == good  # an empty cursor is the first page
    refused = api_on.client.get("/api/tickets?cursor=%25%25", headers={"Authorization": "x"})
    assert refused.status_code == 401  # no token: nothing is said about the cursor
