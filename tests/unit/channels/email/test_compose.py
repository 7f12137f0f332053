"""compose_reply: threading headers, loop guards, both parts, escaping, non-ASCII round trips."""

from __future__ import annotations

import email
from dataclasses import replace
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage

import pytest

from bot.rendering import JinjaRenderer
from channels.email.compose import compose_reply, split_paragraphs, thread_references
from core.model import Channel, OutboxItem

CREATED = datetime(2026, 11, 23, 14, 5, tzinfo=UTC)
OUR_ID = "sb.T42.7.1.0123456789abcdef@mail.example.test"
LONG_ID = "CAF" + "x" * 90 + "@mail.gmail.com"
RENDERER = JinjaRenderer()

ITEM = OutboxItem(
    ticket_id=42,
    draft_id=7,
    channel=Channel.EMAIL,
    recipient="ann@customer.example",
    subject="Re: Login problem [#T42]",
    body="Hello Ann,\n\nWe reset your password.\nPlease try again.\n\nBest regards,\nAcme",
    message_id=OUR_ID,
    created_at=CREATED,
    in_reply_to="m2@customer.example",
    references=("m1@customer.example", "sb.T42.3.1.fedcba9876543210@mail.example.test"),
)


def compose(item: OutboxItem = ITEM, **options: object) -> EmailMessage:
    return compose_reply(
        item,
        from_address="support@acme.example",
        from_name="Acme Support",
        renderer=RENDERER,
        **options,  # type: ignore[arg-type]
    )


def reparse(message: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(message.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def content(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert isinstance(part, EmailMessage)
    text: str = part.get_content()
    return text.replace("\r\n", "\n")


def test_threading_and_identity_headers() -> None:
    parsed = reparse(compose())
    assert parsed["Message-ID"] == f"<{OUR_ID}>"
    assert parsed["In-Reply-To"] == "<m2@customer.example>"
    # RFC 5322 §3.6.4: the parent's References, then the parent itself.
    assert parsed["References"].split() == [
        "<m1@customer.example>",
        "<sb.T42.3.1.fedcba9876543210@mail.example.test>",
        "<m2@customer.example>",
    ]
    assert parsed["Subject"] == "Re: Login problem [#T42]"
    assert parsed["Date"].datetime == CREATED
    assert parsed["From"].addresses[0].display_name == "Acme Support"
    assert parsed["From"].addresses[0].addr_spec == "support@acme.example"
    assert parsed["To"].addresses[0].addr_spec == "ann@customer.example"


def test_loop_guards_auto_submitted_only_when_automatic() -> None:
    human = reparse(compose())
    assert human["X-Auto-Response-Suppress"] == "All"
    assert "Auto-Submitted" not in human
    automatic = reparse(compose(replace(ITEM, automatic=True, draft_id=None)))
    assert automatic["Auto-Submitted"] == "auto-replied"
    assert automatic["X-Auto-Response-Suppress"] == "All"


def test_a_first_reply_without_parent_has_no_threading_headers() -> None:
    parsed = reparse(compose(replace(ITEM, in_reply_to=None, references=())))
    assert "In-Reply-To" not in parsed and "References" not in parsed
    assert parsed["Message-ID"] == f"<{OUR_ID}>"


def test_plain_and_html_alternatives_carry_the_body() -> None:
    parsed = reparse(compose())
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert content(parsed, "plain") == ITEM.body + "\n"
    html = content(parsed, "html")
    assert ">Hello Ann,</p>" in html
    assert ">We reset your password.<br>\nPlease try again.</p>" in html
    assert ">Best regards,<br>\nAcme</p>" in html
    assert html.count("<p ") == 3


def test_html_escapes_customer_and_agent_text_and_loads_nothing_external() -> None:
    body = 'Hi,\n\n<script>alert("x")</script> & <img src="https://evil.example/t.gif">'
    parsed = reparse(compose(replace(ITEM, body=body)))
    html = content(parsed, "html")
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;img" in html
    assert "http" not in html.replace("https://evil.example", "")
    assert '<script>alert("x")</script>' in content(parsed, "plain")  # text is not HTML


def test_non_ascii_names_subjects_and_bodies_round_trip_as_7bit() -> None:
    item = replace(
        ITEM,
        subject="Re: Rückerstattung für Bestellung 1234 – bitte dringend prüfen [#T42]",
        body="Grüß Gott Jürgen,\n\ndie Erstattung über 12 € ist unterwegs. 日本語も大丈夫です。",
    )
    message = compose_reply(
        item,
        from_address="support@acme.example",
        from_name="Acme, Kundenservice Zürich",
        renderer=RENDERER,
    )
    raw = message.as_bytes()
    assert raw.isascii()  # RFC 2047 headers and quoted-printable bodies: no 8BITMIME needed
    assert b"=?utf-8?" in raw
    parsed = reparse(message)
    assert parsed["Subject"] == item.subject
    assert parsed["From"].addresses[0].display_name == "Acme, Kundenservice Zürich"
    assert content(parsed, "plain") == item.body + "\n"
    assert "12 €" in content(parsed, "html") and "日本語も大丈夫です。" in content(parsed, "html")


def test_long_message_ids_are_folded_between_ids_never_encoded() -> None:
    parsed_item = replace(ITEM, in_reply_to=f"<{LONG_ID}>", references=("m1@customer.example",))
    raw = compose(parsed_item).as_bytes()
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    assert b"=?" not in header_block
    assert f"In-Reply-To: <{LONG_ID}>".encode() in header_block
    assert b"References: <m1@customer.example>\r\n <" + LONG_ID.encode() + b">" in header_block
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    parsed = reparse(compose(parsed_item))
    assert parsed["References"].split() == ["<m1@customer.example>", f"<{LONG_ID}>"]


def test_references_drop_ids_that_are_not_msg_ids_and_duplicates() -> None:
    refs = ("<a@x>", "sha256:0f3a", "a@x", "has space@x", "b@y")
    assert thread_references(refs, "c@z") == ["a@x", "b@y", "c@z"]
    assert thread_references(("a@x",), "") == ["a@x"]


def test_a_resend_composes_the_same_headers() -> None:
    first, second = compose(), compose()
    assert first.items() == second.items()


def test_a_line_break_in_the_subject_stays_in_one_header() -> None:
    parsed = reparse(compose(replace(ITEM, subject="Re: Help\r\nBcc: victim@example.com [#T42]")))
    assert parsed["Subject"] == "Re: Help Bcc: victim@example.com [#T42]"
    assert "Bcc" not in parsed


def test_a_malformed_recipient_is_refused() -> None:
    with pytest.raises(ValueError):
        compose(replace(ITEM, recipient="not an address"))


def test_paragraphs_split_at_blank_lines_even_with_spaces() -> None:
    assert split_paragraphs("a\nb\n \n\nc\n") == [["a", "b"], ["c"]]
    assert split_paragraphs("") == []
