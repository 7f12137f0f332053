"""The Zendesk and Intercom webhooks end to end on SQLite: signed payloads become tickets
through intake, a redelivery is a duplicate, and anything unsigned, stale, malformed or
unconfigured is refused without storing a thing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.bootstrap import bootstrap
from bot.settings import load_settings
from channels.web.app import create_app
from tests.integration.channels.web.conftest import Api
from tests.support import isolate_settings

ZENDESK_SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
INTERCOM_SECRET = "intercom-client-secret"

ZENDESK = {
    "ticket": {
        "id": "35436",
        "subject": "Refund for a double charge",
        "description": "I was charged twice for my March invoice.\nPlease refund one.",
        "requester": {"email": "Ann@Customer.example", "name": "Ann Lee"},
    }
}

INTERCOM: dict[str, Any] = {
    "type": "notification_event",
    "app_id": "abc123",
    "id": "notif_1",
    "topic": "conversation.user.created",
    "delivery_attempts": 1,
    "data": {
        "type": "notification_event_data",
        "item": {
            "type": "conversation",
            "id": "1911149811",
            "source": {
                "type": "conversation",
                "id": "1001",
                "delivered_as": "customer_initiated",
                "subject": "",
                "body": "<p>Hi, I cannot log in since the update.</p><p>Error: <b>403</b></p>",
                "author": {
                    "type": "user",
                    "id": "5f0c",
                    "name": "Bo Chen",
                    "email": "bo@shop.example",
                },
                "attachments": [],
            },
        },
    },
}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The conftest's environment plus both webhook secrets (overrides its `env`)."""
    return isolate_settings(
        monkeypatch,
        tmp_path,
        SUPPORTBOT_APPROVAL__APPROVERS='["web:alice"]',
        SUPPORTBOT_KB__TOP_K="0",
        SUPPORTBOT_WEB__ZENDESK_WEBHOOK_SECRET=ZENDESK_SECRET,
        SUPPORTBOT_WEB__INTERCOM_CLIENT_SECRET=INTERCOM_SECRET,
    )


def _stamp(at: datetime | None = None) -> str:
    return (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _zendesk(
    api: Api, body: bytes, *, stamp: str | None = None, secret: str = ZENDESK_SECRET
) -> Any:
    stamp = stamp or _stamp()
    signature = base64.b64encode(
        hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()
    ).decode()
    headers = {
        "Content-Type": "application/json",
        "X-Zendesk-Webhook-Signature": signature,
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
    }
    return api.client.post("/api/webhooks/zendesk", content=body, headers=headers)


def _intercom(api: Api, body: bytes, *, secret: str = INTERCOM_SECRET) -> Any:
    signature = "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    headers = {"Content-Type": "application/json", "X-Hub-Signature": signature}
    return api.client.post("/api/webhooks/intercom", content=body, headers=headers)


def _encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def _ticket_count(api: Api) -> int:
    listed = api.client.get("/api/tickets", headers=api.auth("alice")).json()
    total: int = listed["total"]
    return total


def _nothing_stored(api: Api) -> bool:
    with api.services.new_uow() as uow:
        held = uow.quarantine.list()
    return _ticket_count(api) == 0 and held == []


def test_zendesk_ticket_becomes_a_ticket_once(api: Api) -> None:
    body = _encode(ZENDESK)
    created = _zendesk(api, body)
    assert created.status_code == 201, created.text
    assert created.json()["outcome"] == "new_ticket"
    ref = created.json()["ticket"]
    detail = api.client.get(f"/api/tickets/{ref}", headers=api.auth("alice")).json()
    assert detail["ticket"]["subject"] == "Refund for a double charge"
    assert detail["ticket"]["channel"] == "api"
    assert detail["customer"] == {
        "email": "ann@customer.example",
        "name": "Ann Lee",
        "tier": "free",
    }
    [message] = detail["messages"]
    assert message["text"] == "I was charged twice for my March invoice.\nPlease refund one."
    assert detail["drafts"][0]["status"] == "pending"  # a person decides, as for mail

    with api.services.new_uow() as uow:
        ticket = uow.tickets.get_by_ref(ref)
        assert ticket is not None and ticket.id is not None
        [stored] = uow.messages.list_for_ticket(ticket.id)
        audit = [(e.actor, e.action) for e in uow.audit.list_for_ticket(ticket.id)]
    assert stored.external_id == "zendesk:ticket:35436"
    assert stored.raw == body  # the exact bytes that were signed
    assert ("webhook:zendesk", "ticket.created_via_webhook") in audit

    # Zendesk retries: a redelivery (new timestamp, new signature) is the same ticket.
    again = _zendesk(api, body, stamp=_stamp(datetime.now(UTC) - timedelta(minutes=1)))
    assert again.status_code == 200, again.text
    assert again.json() == {"outcome": "duplicate", "ticket": ref, "reason": None}
    assert _ticket_count(api) == 1


def test_intercom_conversation_becomes_a_ticket_once(api: Api) -> None:
    body = _encode(INTERCOM)
    created = _intercom(api, body)
    assert created.status_code == 201, created.text
    ref = created.json()["ticket"]
    detail = api.client.get(f"/api/tickets/{ref}", headers=api.auth("alice")).json()
    # A chat has no subject: its first line stands in, rather than "(no subject)".
    assert detail["ticket"]["subject"] == "Hi, I cannot log in since the update."
    assert detail["customer"]["email"] == "bo@shop.example"
    assert detail["customer"]["name"] == "Bo Chen"
    text = detail["messages"][0]["text"]
    assert "Hi, I cannot log in since the update." in text and "Error: 403" in text
    assert "<p>" not in text
    with api.services.new_uow() as uow:
        ticket = uow.tickets.get_by_ref(ref)
        assert ticket is not None and ticket.id is not None
        [stored] = uow.messages.list_for_ticket(ticket.id)
    assert stored.external_id == "intercom:conversation:1911149811" and stored.raw == body

    # A retried notification, even under a new notification id, is the same conversation.
    retried = _encode({**INTERCOM, "id": "notif_2", "delivery_attempts": 2})
    again = _intercom(api, retried)
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    assert again.json()["ticket"] == ref
    assert _ticket_count(api) == 1


def test_bad_or_missing_signatures_are_refused_and_store_nothing(api: Api) -> None:
    zendesk, intercom = _encode(ZENDESK), _encode(INTERCOM)
    assert _zendesk(api, zendesk, secret="not-the-secret").status_code == 401
    assert _intercom(api, intercom, secret="not-the-secret").status_code == 401
    # Signed, then tampered with: the signature covers the bytes.
    tampered = _encode({**ZENDESK, "ticket": {**ZENDESK["ticket"], "id": "1"}})
    stamp = _stamp()
    good = base64.b64encode(
        hmac.new(ZENDESK_SECRET.encode(), stamp.encode() + zendesk, hashlib.sha256).digest()
    ).decode()
    swapped = api.client.post(
        "/api/webhooks/zendesk",
        content=tampered,
        headers={
            "X-Zendesk-Webhook-Signature": good,
            "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        },
    )
    assert swapped.status_code == 401
    unsigned = api.client.post("/api/webhooks/intercom", content=intercom)
    assert unsigned.status_code == 401 and "X-Hub-Signature" in unsigned.json()["detail"]
    no_stamp = api.client.post(
        "/api/webhooks/zendesk", content=zendesk, headers={"X-Zendesk-Webhook-Signature": good}
    )
    assert no_stamp.status_code == 401
    assert _nothing_stored(api)


def test_stale_or_future_zendesk_timestamps_are_refused(api: Api) -> None:
    body = _encode(ZENDESK)
    now = datetime.now(UTC)
    stale = _zendesk(api, body, stamp=_stamp(now - timedelta(minutes=6)))
    assert stale.status_code == 401 and "timestamp" in stale.json()["detail"]
    assert _zendesk(api, body, stamp=_stamp(now + timedelta(minutes=6))).status_code == 401
    assert _zendesk(api, body, stamp="yesterday").status_code == 401
    assert _nothing_stored(api)
    assert _zendesk(api, body, stamp=_stamp(now - timedelta(minutes=4))).status_code == 201


def test_malformed_payloads_are_422_naming_the_field(api: Api) -> None:
    ticket = ZENDESK["ticket"]
    no_email = {"ticket": {**ticket, "requester": {"name": "Ann Lee"}}}
    response = _zendesk(api, _encode(no_email))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "ticket", "requester", "email"]

    # An unexpanded or empty placeholder is not an address.
    blank = {"ticket": {**ticket, "requester": {"email": "", "name": ""}}}
    assert _zendesk(api, _encode(blank)).status_code == 422

    item = INTERCOM["data"]["item"]
    no_body = {**item, "source": {k: v for k, v in item["source"].items() if k != "body"}}
    response = _intercom(api, _encode({**INTERCOM, "data": {"item": no_body}}))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "data", "item", "source", "body"]

    no_item = _intercom(api, _encode({**INTERCOM, "data": {}}))
    assert no_item.json()["detail"][0]["loc"] == ["body", "data", "item"]
    no_topic = _intercom(api, _encode({k: v for k, v in INTERCOM.items() if k != "topic"}))
    assert no_topic.status_code == 422 and no_topic.json()["detail"][0]["loc"] == ["body", "topic"]
    assert _intercom(api, b"not json").status_code == 422
    assert _intercom(api, b"[1, 2]").status_code == 422

    # Zendesk's own ticket event has no requester address: refused, saying what to do.
    event = {"type": "zen:event-type:ticket.created", "detail": {"id": "35436"}}
    refused = _zendesk(api, _encode(event))
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "type"]
    assert "trigger" in refused.json()["detail"][0]["msg"]
    assert _nothing_stored(api)


def test_other_topics_and_events_are_acknowledged_and_ignored(api: Api) -> None:
    ping = _intercom(api, _encode({"type": "notification_event", "topic": "ping", "data": {}}))
    assert ping.status_code == 200 and ping.json()["outcome"] == "ignored"
    replied = _intercom(api, _encode({**INTERCOM, "topic": "conversation.user.replied"}))
    assert replied.status_code == 200 and replied.json()["outcome"] == "ignored"
    assert "conversation.user.replied" in replied.json()["reason"]
    user_event = {"type": "zen:event-type:user.created", "detail": {"id": "7"}}
    ignored = _zendesk(api, _encode(user_event))
    assert ignored.status_code == 200 and ignored.json()["outcome"] == "ignored"
    assert _nothing_stored(api)


def test_oversized_bodies_are_refused_before_verification(api: Api) -> None:
    huge = b'{"topic": "' + b"x" * (1024 * 1024) + b'"}'
    assert _intercom(api, huge).status_code == 413


@pytest.fixture
def unconfigured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    isolate_settings(monkeypatch, tmp_path / "bare")
    services = bootstrap(load_settings())
    with TestClient(create_app(services)) as client:
        yield client
    services.close()


def test_unconfigured_webhooks_answer_404_naming_the_setting(unconfigured: TestClient) -> None:
    body = _encode(INTERCOM)
    signature = "sha1=" + hmac.new(b"", body, hashlib.sha1).hexdigest()  # empty secret
    response = unconfigured.post(
        "/api/webhooks/intercom", content=body, headers={"X-Hub-Signature": signature}
    )
    assert response.status_code == 404
    assert "web.intercom_client_secret" in response.json()["detail"]
    zendesk = unconfigured.post("/api/webhooks/zendesk", content=_encode(ZENDESK))
    assert zendesk.status_code == 404
    assert "web.zendesk_webhook_secret" in zendesk.json()["detail"]
    # Still documented, so an operator can find what to configure.
    paths = unconfigured.get("/openapi.json").json()["paths"]
    assert {"/api/webhooks/zendesk", "/api/webhooks/intercom"} <= set(paths)
