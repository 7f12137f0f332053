"""Every REST endpoint end to end on SQLite: auth failures, bad input, idempotent creation,
approval through the same state machine as Slack (one outbox row, none when refused)."""

from __future__ import annotations

from typing import Any

from core.accounts import revoke_token
from core.model import AuditEvent
from tests.integration.channels.web.conftest import Api

TICKET = {
    "subject": "Invoice is wrong",
    "message": "My invoice for March charges me twice. Please fix it.",
    "customer_email": "Ann@Customer.example",
    "customer_name": "Ann Lee",
}


def _create(api: Api, login: str = "alice", **extra: Any) -> dict[str, Any]:
    headers = api.auth(login) | extra.pop("headers", {})
    response = api.client.post("/api/tickets", json={**TICKET, **extra}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _outbox(api: Api, ref: str) -> list[Any]:
    with api.services.new_uow() as uow:
        ticket = uow.tickets.get_by_ref(ref)
        assert ticket is not None and ticket.id is not None
        return list(uow.outbox.list_for_ticket(ticket.id))


def _audit(api: Api, ref: str) -> list[AuditEvent]:
    with api.services.new_uow() as uow:
        ticket = uow.tickets.get_by_ref(ref)
        assert ticket is not None and ticket.id is not None
        return uow.audit.list_for_ticket(ticket.id)


def test_auth_is_required_and_bad_or_revoked_tokens_are_refused(api: Api) -> None:
    assert api.client.get("/api/tickets").status_code == 401
    bad = api.client.get("/api/tickets", headers={"Authorization": "Bearer sbt_nope"})
    assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
    basic = api.client.get("/api/tickets", headers={"Authorization": "Basic YTpi"})
    assert basic.status_code == 401
    assert api.client.get("/api/tickets", headers=api.auth("bob")).status_code == 200
    with api.services.new_uow() as uow:
        user = uow.users.get_by_login("bob")
        assert user is not None and user.id is not None
        [token] = uow.tokens.list_for_user(user.id)
    assert token.id is not None and token.last_used_at is not None
    revoke_token(api.services.new_uow(), token_id=token.id, actor="test", clock=api.services.clock)
    assert api.client.get("/api/tickets", headers=api.auth("bob")).status_code == 401


def test_create_ticket_goes_through_intake_and_is_idempotent(api: Api) -> None:
    key = {"Idempotency-Key": "order-42"}
    first = _create(api, headers=key)
    assert first["disposition"] == "new_ticket"
    ticket = first["ticket"]
    assert ticket["ref"].startswith("T") and ticket["category"] == "billing"
    again = api.client.post("/api/tickets", json=TICKET, headers=api.auth("alice") | key)
    assert again.status_code == 200
    assert again.json()["disposition"] == "duplicate"
    assert again.json()["ticket"]["ref"] == ticket["ref"]
    listed = api.client.get("/api/tickets", headers=api.auth("alice")).json()
    assert listed["total"] == 1 and listed["total_exact"] is True
    actions = [(e.actor, e.action) for e in _audit(api, ticket["ref"])]
    assert ("web:alice", "ticket.created_via_api") in actions


def test_create_with_overrides_needs_a_decider(api: Api) -> None:
    refused = api.client.post(
        "/api/tickets", json={**TICKET, "priority": "P0"}, headers=api.auth("bob")
    )
    assert refused.status_code == 403
    assert api.client.get("/api/tickets", headers=api.auth("bob")).json()["total"] == 0
    made = _create(api, "mia", priority="P0", category="technical")
    assert made["ticket"]["priority"] == "P0" and made["ticket"]["category"] == "technical"


def test_bad_input_names_the_field_and_writes_nothing(api: Api) -> None:
    h = api.auth("alice")
    cases = [
        ({k: v for k, v in TICKET.items() if k != "subject"}, "subject"),
        ({**TICKET, "customer_email": "not-an-address"}, "customer_email"),
        ({**TICKET, "category": "astrology"}, "category"),
        ({**TICKET, "priority": "P9"}, "priority"),
        ({**TICKET, "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        response = api.client.post("/api/tickets", json=body, headers=h)
        assert response.status_code == 422, (field, response.text)
        assert field in response.text
    listing = api.client.get("/api/tickets", headers=h)
    assert listing.json()["total"] == 0
    for query, field in (("status=lost", "status"), ("limit=0", "limit"), ("limit=1000", "limit")):
        response = api.client.get(f"/api/tickets?{query}", headers=h)
        assert response.status_code == 422 and field in response.text
    assert api.client.get("/api/tickets/T999", headers=h).status_code == 404


def test_list_filters_sort_and_paginate(api: Api) -> None:
    _create(api)
    _create(api, subject="Cannot log in", message="Password reset does not work", priority="P1")
    _create(api, customer_email="bob@else.example", subject="Shipping delay")
    h = api.auth("alice")
    page = api.client.get("/api/tickets?limit=2&offset=0", headers=h).json()
    assert page["total"] == 3 and len(page["items"]) == 2
    assert page["items"][0]["subject"] == "Shipping delay"
    found = api.client.get("/api/tickets?q=LOG+IN", headers=h).json()
    assert [t["subject"] for t in found["items"]] == ["Cannot log in"]
    mine = api.client.get("/api/tickets?customer=ann@customer.example", headers=h).json()
    assert mine["total"] == 2
    urgent = api.client.get("/api/tickets?sort=priority&order=asc", headers=h).json()
    assert urgent["items"][0]["priority"] == "P1"
    assert api.client.get("/api/tickets?priority=P1", headers=h).json()["total"] == 1


def test_get_patch_and_note(api: Api) -> None:
    ref = _create(api)["ticket"]["ref"]
    h = api.auth("alice")
    detail = api.client.get(f"/api/tickets/{ref}", headers=h).json()
    assert detail["customer"]["email"] == "ann@customer.example"
    assert detail["messages"][0]["text"].startswith("My invoice")
    assert detail["drafts"][0]["status"] == "pending"

    assert (
        api.client.patch(
            f"/api/tickets/{ref}", json={"priority": "P0"}, headers=api.auth("bob")
        ).status_code
        == 403
    )
    assert (
        api.client.patch(f"/api/tickets/{ref}", json={"status": None}, headers=h).status_code == 422
    )
    assert api.client.patch(f"/api/tickets/{ref}", json={}, headers=h).status_code == 422
    changed = api.client.patch(
        f"/api/tickets/{ref}",
        json={"priority": "P1", "category": "technical", "assignee": "web:alice"},
        headers=h,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["priority"], body["category"], body["assignee"]) == (
        "P1",
        "technical",
        "web:alice",
    )
    resolved = api.client.patch(
        f"/api/tickets/{ref}", json={"status": "resolved", "assignee": None}, headers=h
    )
    assert resolved.json()["status"] == "resolved" and resolved.json()["assignee"] is None
    for status in ("open", "pending", "closed", "open"):
        moved = api.client.patch(f"/api/tickets/{ref}", json={"status": status}, headers=h)
        assert moved.status_code == 200 and moved.json()["status"] == status, moved.text
    back_to_new = api.client.patch(f"/api/tickets/{ref}", json={"status": "new"}, headers=h)
    assert back_to_new.status_code == 422 and back_to_new.json()["detail"][0]["loc"] == [
        "body",
        "status",
    ]

    note = api.client.post(
        f"/api/tickets/{ref}/notes", json={"text": "Called her."}, headers=api.auth("bob")
    )
    assert note.status_code == 201
    assert (
        api.client.post(f"/api/tickets/{ref}/notes", json={"text": ""}, headers=h).status_code
        == 422
    )
    messages = api.client.get(f"/api/tickets/{ref}", headers=h).json()["messages"]
    assert messages[-1]["direction"] == "note" and messages[-1]["author"] == "web:bob"
    actions = [(e.actor, e.action) for e in _audit(api, ref)]
    assert ("web:alice", "ticket.priority") in actions
    assert ("web:bob", "ticket.refused") in actions
    assert ("web:bob", "ticket.note") in actions


def _draft(api: Api, ref: str) -> dict[str, Any]:
    drafts = api.client.get(f"/api/tickets/{ref}", headers=api.auth("alice")).json()["drafts"]
    draft: dict[str, Any] = drafts[-1]
    return draft


def test_approve_queues_one_reply_and_refuses_the_unauthorised(api: Api) -> None:
    ref = _create(api)["ticket"]["ref"]
    draft = _draft(api, ref)
    url = f"/api/drafts/{draft['id']}/approve"
    body = {"version": draft["version"]}
    refused = api.client.post(url, json=body, headers=api.auth("bob"))
    assert refused.status_code == 403
    assert _outbox(api, ref) == []
    assert ("web:bob", "draft.refused") in [(e.actor, e.action) for e in _audit(api, ref)]

    approved = api.client.post(
        url, json={**body, "text": "Sorry! Refunded."}, headers=api.auth("alice")
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["draft"]["status"] == "edited"
    again = api.client.post(url, json=body, headers=api.auth("mia"))
    assert again.status_code == 409
    [item] = _outbox(api, ref)
    # An API ticket is answered by email to its customer.
    assert item.body == "Sorry! Refunded." and item.recipient == "ann@customer.example"
    assert item.channel == "email"
    assert approved.json()["outbox_id"] == item.id
    assert api.client.post(url, json={}, headers=api.auth("alice")).status_code == 422
    assert (
        api.client.post("/api/drafts/999/approve", json=body, headers=api.auth("mia")).status_code
        == 404
    )


def test_reject_needs_a_reason_and_a_decider(api: Api) -> None:
    ref = _create(api)["ticket"]["ref"]
    draft = _draft(api, ref)
    url = f"/api/drafts/{draft['id']}/reject"
    body = {"version": draft["version"], "reason": "wrong tone"}
    assert api.client.post(url, json={"version": 1}, headers=api.auth("mia")).status_code == 422
    assert api.client.post(url, json=body, headers=api.auth("bob")).status_code == 403
    rejected = api.client.post(url, json=body, headers=api.auth("mia"))
    assert rejected.status_code == 200 and rejected.json()["draft"]["status"] == "rejected"
    assert _outbox(api, ref) == []


def test_stats_and_classify(api: Api) -> None:
    _create(api)
    stats = api.client.get("/api/stats?days=7", headers=api.auth("bob")).json()
    assert stats["new"] == 1 and stats["open"] == 1 and stats["top_categories"] == {"billing": 1}
    assert stats["average_new_per_day"] == round(1 / 7, 2)
    assert api.client.get("/api/stats?days=0", headers=api.auth("bob")).status_code == 422
    urgent = api.client.post(
        "/api/classify",
        json={
            "text": "URGENT: our production database is down and customers cannot log in."
            " This is unacceptable!"
        },
        headers=api.auth("bob"),
    ).json()
    assert urgent["priority"] in ("P0", "P1") and urgent["sentiment"] >= 4
    assert api.client.post("/api/classify", json={}, headers=api.auth("bob")).status_code == 422
    assert api.client.post("/api/classify", json={"text": "x"}).status_code == 401
    assert api.client.get("/api/tickets", headers=api.auth("bob")).json()["total"] == 1


def test_health_metrics_and_docs_are_open(api: Api) -> None:
    health = api.client.get("/health")
    assert health.status_code == 200
    assert health.json() == {
        "status": "ok",
        "database": "ok",
        "mailboxes": {},
        "slack": "off",
        "llm": "offline",
    }
    _create(api)
    metrics = api.client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = metrics.text
    assert 'supportbot_tickets{status="new",priority="P3"}' in text or "supportbot_tickets{" in text
    assert "# TYPE supportbot_outbox_items gauge" in text
    assert 'supportbot_drafts{status="pending"} 1' in text
    assert "supportbot_quarantine_held 0" in text
    assert (
        sum(
            int(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("supportbot_tickets{")
        )
        == 1
    )
    assert api.client.get("/openapi.json").json()["paths"]["/api/tickets"]
    assert api.client.get("/docs").status_code == 200


def test_health_is_503_when_a_mailbox_login_fails(api: Api) -> None:
    from core.model import MailboxState

    with api.services.new_uow() as uow:
        uow.mailboxes.save(MailboxState("support", auth_failures=2, last_error="auth refused"))
        uow.commit()
    health = api.client.get("/health")
    assert health.status_code == 503 and health.json()["mailboxes"] == {"support": "auth refused"}
