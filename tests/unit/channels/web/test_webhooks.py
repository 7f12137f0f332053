"""The webhooks' pure parts: signatures against vectors computed with openssl, timestamp
freshness, and the payload → InboundMessage translation for Zendesk and Intercom."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channels.web.webhooks import (
    ZENDESK_TRIGGER_BODY,
    Ignored,
    PayloadError,
    first_line,
    intercom_signature,
    is_fresh_timestamp,
    is_valid_intercom_signature,
    is_valid_zendesk_signature,
    parse_intercom,
    parse_zendesk,
    zendesk_signature,
)
from core.model import Channel, InboundMessage

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="


def _message(result: InboundMessage | Ignored) -> InboundMessage:
    assert isinstance(result, InboundMessage), result
    return result


def _intercom(**source: Any) -> dict[str, Any]:
    base = {"body": "<p>Hello</p>", "author": {"email": "bo@shop.example", "name": "Bo"}}
    item = {"id": 77, "source": {**base, **source}}
    return {
        "type": "notification_event",
        "topic": "conversation.user.created",
        "data": {"item": item},
    }


# --- signatures --------------------------------------------------------------------------------


def test_zendesk_signature_matches_an_openssl_vector() -> None:
    # printf '2021-03-25T05:09:27Z{"a":1}' | openssl dgst -sha256 -hmac SECRET -binary | base64
    expected = "/mXSigLOoEkcTQbsWqgaVKrxFhN+K298pf/niM2rAnI="
    assert zendesk_signature(SECRET, "2021-03-25T05:09:27Z", b'{"a":1}') == expected
    assert is_valid_zendesk_signature(SECRET, "2021-03-25T05:09:27Z", b'{"a":1}', expected)
    # The timestamp is part of what is signed: the same body at another time does not match.
    assert not is_valid_zendesk_signature(SECRET, "2021-03-25T05:09:28Z", b'{"a":1}', expected)
    assert not is_valid_zendesk_signature(SECRET, "2021-03-25T05:09:27Z", b'{"a":2}', expected)


def test_intercom_signature_matches_an_openssl_vector() -> None:
    # printf '{"a":1}' | openssl dgst -sha1 -hmac secret
    expected = "sha1=f8446672f033e4b2beafc5ca3a71eafcd2cafb6e"
    assert intercom_signature("secret", b'{"a":1}') == expected
    assert is_valid_intercom_signature(
        "secret", b'{"a":1}', expected.upper().replace("SHA1", "sha1")
    )
    assert not is_valid_intercom_signature("secret", b'{"a":1}', expected[5:])  # no prefix
    assert not is_valid_intercom_signature("other", b'{"a":1}', expected)


@pytest.mark.parametrize(
    ("stamp", "is_fresh"),
    [
        ("2026-11-23T10:00:00Z", True),
        ("2026-11-23T09:55:00Z", True),
        ("2026-11-23T09:54:59Z", False),
        ("2026-11-23T10:05:01Z", False),  # from the future: a skewed or forged clock
        ("2026-11-23T11:00:00+01:00", True),
        ("2026-11-23T10:00:00", False),  # no zone: cannot be compared honestly
        ("1795437600", False),
        ("", False),
    ],
)
def test_timestamp_freshness(stamp: str, is_fresh: bool) -> None:
    assert is_fresh_timestamp(stamp, now=NOW) is is_fresh


# --- Zendesk -------------------------------------------------------------------------------------


def test_zendesk_trigger_body_translates_to_a_keyed_message() -> None:
    payload = {
        "ticket": {
            "id": 35436,
            "subject": "  Refund please ",
            "description": "Charged twice.\r\nPlease refund.\r\n",
            "requester": {"email": "Ann@Customer.Example", "name": "Ann Lee"},
            "priority": "high",  # fields we do not read are allowed
        }
    }
    raw = json.dumps(payload).encode()
    msg = _message(parse_zendesk(raw, received_at=NOW))
    assert msg.channel is Channel.API and msg.raw == raw and msg.received_at == NOW
    assert msg.external_id == "zendesk:ticket:35436" and msg.dedupe_key == msg.external_id
    assert (msg.sender_email, msg.sender_name) == ("ann@customer.example", "Ann Lee")
    assert msg.subject == "Refund please"
    assert msg.text == msg.full_text == "Charged twice.\nPlease refund."


def test_the_documented_trigger_body_is_what_parse_zendesk_reads() -> None:
    filled = (
        ZENDESK_TRIGGER_BODY.replace("{{ticket.id}}", "9")
        .replace("{{ticket.title}}", "Broken")
        .replace("{{ticket.description}}", "It broke.")
        .replace("{{ticket.requester.email}}", "a@b.example")
        .replace("{{ticket.requester.name}}", "A")
    )
    msg = _message(parse_zendesk(filled.encode(), received_at=NOW))
    assert (msg.external_id, msg.subject, msg.text) == ("zendesk:ticket:9", "Broken", "It broke.")


def test_zendesk_ticket_without_subject_takes_its_first_line() -> None:
    payload = {
        "ticket": {
            "id": "1",
            "description": "\n Printer on fire\nsecond",
            "requester": {"email": "a@b.example"},
        }
    }
    msg = _message(parse_zendesk(json.dumps(payload).encode(), received_at=NOW))
    assert msg.subject == "Printer on fire" and msg.sender_name == ""


@pytest.mark.parametrize(
    ("ticket", "loc"),
    [
        (
            {"subject": "s", "description": "d", "requester": {"email": "a@b.example"}},
            ("ticket", "id"),
        ),
        (
            {"id": "1", "description": "d", "requester": {"email": "nope"}},
            ("ticket", "requester", "email"),
        ),
        (
            {"id": "1", "description": "  ", "requester": {"email": "a@b.example"}},
            ("ticket", "description"),
        ),
        (
            {"id": "1 2", "description": "d", "requester": {"email": "a@b.example"}},
            ("ticket", "id"),
        ),
        ({"id": "1", "description": "d"}, ("ticket", "requester")),
    ],
)
def test_zendesk_payload_errors_name_the_field(
    ticket: dict[str, Any], loc: tuple[str, ...]
) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_zendesk(json.dumps({"ticket": ticket}).encode(), received_at=NOW)
    assert caught.value.loc == loc


def test_zendesk_events_are_ignored_or_refused_for_ticket_creation() -> None:
    other = {"type": "zen:event-type:user.created", "detail": {}}
    assert isinstance(parse_zendesk(json.dumps(other).encode(), received_at=NOW), Ignored)
    created = {"type": "zen:event-type:ticket.created", "detail": {"id": "1", "requester_id": "2"}}
    with pytest.raises(PayloadError) as caught:
        parse_zendesk(json.dumps(created).encode(), received_at=NOW)
    assert caught.value.loc == ("type",)


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe", b"[]", b'"ticket"'])
def test_non_object_bodies_are_payload_errors(raw: bytes) -> None:
    with pytest.raises(PayloadError):
        parse_zendesk(raw, received_at=NOW)
    with pytest.raises(PayloadError):
        parse_intercom(raw, received_at=NOW)


# --- Intercom ------------------------------------------------------------------------------------


def test_intercom_conversation_translates_html_and_attachments() -> None:
    payload = _intercom(
        subject="Login broken",
        body="<p>I cannot log in.</p><script>alert(1)</script><ul><li>Chrome</li></ul>",
        author={"type": "lead", "email": "BO@Shop.example", "name": None},
        attachments=[
            {"name": "shot.png", "content_type": "image/png", "filesize": 1200, "url": "https://x"}
        ],
    )
    raw = json.dumps(payload).encode()
    msg = _message(parse_intercom(raw, received_at=NOW))
    assert msg.external_id == "intercom:conversation:77" and msg.raw == raw
    assert (msg.sender_email, msg.sender_name, msg.subject) == (
        "bo@shop.example",
        "",
        "Login broken",
    )
    assert "I cannot log in." in msg.text and "Chrome" in msg.text
    assert "alert" not in msg.full_text and "<" not in msg.full_text
    [attachment] = msg.attachments
    assert (attachment.filename, attachment.content_type, attachment.size) == (
        "shot.png",
        "image/png",
        1200,
    )
    assert attachment.content is None  # not fetched


def test_intercom_other_topics_are_ignored_whatever_their_item() -> None:
    for topic in ("ping", "conversation.admin.replied", "contact.created"):
        result = parse_intercom(
            json.dumps({"topic": topic, "data": {"item": 1}}).encode(), received_at=NOW
        )
        assert isinstance(result, Ignored) and topic in result.reason


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({"data": {}}, ("topic",)),
        ({"topic": "conversation.user.created"}, ("data",)),
        ({"topic": "conversation.user.created", "data": {"item": None}}, ("data", "item")),
        (
            _intercom(author={"name": "anonymous lead"}),
            ("data", "item", "source", "author", "email"),
        ),
        (_intercom(body=""), ("data", "item", "source", "body")),
        (_intercom(body="<p> </p><br>"), ("data", "item", "source", "body")),
    ],
)
def test_intercom_payload_errors_name_the_field(
    payload: dict[str, Any], loc: tuple[str, ...]
) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_intercom(json.dumps(payload).encode(), received_at=NOW)
    assert caught.value.loc == loc


def test_first_line_cuts_long_lines_at_a_word() -> None:
    assert first_line("\n\n  short one \nmore") == "short one"
    assert first_line("") == ""
    long = "word " * 30
    cut = first_line(long, limit=22)
    assert cut == "word word word word…"
    assert first_line("x" * 100, limit=10) == "x" * 10 + "…"


# --- whatever a signed sender posts, the parsers answer or refuse, never crash ------------------

_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


def _near(shape: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Payloads shaped like the real ones with any leaf replaced by arbitrary JSON, so the
    fuzzing reaches the field checks rather than stopping at the first missing key."""
    if not shape:
        return _JSON
    return st.fixed_dictionaries(
        {k: (_near(v) if isinstance(v, dict) else _mostly(v)) for k, v in shape.items()}
    )


def _mostly(value: Any) -> st.SearchStrategy[Any]:
    """The real value three times in four, so some payloads get all the way through."""
    return st.integers(0, 3).flatmap(lambda n: _JSON if n == 0 else st.just(value))


_ZENDESK_SHAPE = {
    "ticket": {
        "id": "1",
        "subject": "s",
        "description": "d",
        "requester": {"email": "a@b.example", "name": "A"},
    }
}


@settings(max_examples=150, deadline=None, database=None)
@given(payload=_JSON | _near(_ZENDESK_SHAPE) | _near(_intercom()))
def test_parsers_never_raise_anything_but_payload_errors(payload: Any) -> None:
    raw = json.dumps(payload).encode()
    for parse in (parse_zendesk, parse_intercom):
        try:
            result = parse(raw, received_at=NOW)
        except PayloadError as exc:
            assert exc.message
            continue
        if isinstance(result, InboundMessage):
            assert result.raw == raw and result.sender_email and result.external_id
        else:
            assert result.reason


def test_deeply_nested_json_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="nested"):
        parse_intercom(b"[" * 100_000, received_at=NOW)
