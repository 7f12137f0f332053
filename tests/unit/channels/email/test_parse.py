"""parse_email: charsets, headers, body choice, reply stripping, attachments, and never raising."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

import channels.email.parse as parse_module
from channels.email.parse import parse_email
from core.model import AutoKind, Channel, InboundMessage

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def parse(raw: bytes, *, max_attachment_bytes: int = 10 * 1024 * 1024) -> InboundMessage:
    return parse_email(raw, received_at=NOW, max_attachment_bytes=max_attachment_bytes)


def plain_mail(body: bytes, *, content_type: bytes = b"text/plain", extra: bytes = b"") -> bytes:
    return (
        b"From: Anna Customer <Anna@Example.COM>\n"
        b"To: support@example.org\n"
        b"Subject: Help\n"
        b"Message-ID: <abc-1@example.com>\n" + extra + b"MIME-Version: 1.0\n"
        b"Content-Type: " + content_type + b"\n"
        b"Content-Transfer-Encoding: 8bit\n\n" + body
    )


# --- charsets --------------------------------------------------------------------------------


def test_8bit_latin1_body_without_declared_charset_reads_correctly() -> None:
    msg = parse(plain_mail(b"Gr\xfc\xdfe aus K\xf6ln, caf\xe9 kostet 3 \x80.\n"))
    assert msg.text == "Grüße aus Köln, café kostet 3 €."


def test_8bit_body_declared_iso_8859_1_reads_cp1252_euro_sign() -> None:
    # Senders that say ISO-8859-1 use windows-1252's 0x80 for € (as browsers assume too).
    raw = plain_mail(
        b"Preis: 10 \x80, M\xfcller, d\xe9j\xe0 vu\n",
        content_type=b"text/plain; charset=iso-8859-1",
    )
    assert parse(raw).full_text == "Preis: 10 €, Müller, déjà vu"


@pytest.mark.parametrize(
    ("charset", "body", "expected"),
    [
        (b"unknown-8bit", "Grüße".encode(), "Grüße"),
        (b"x-unknown", b"Gr\xfc\xdfe", "Grüße"),
        (b"utf8", "Grüße".encode(), "Grüße"),
        (b"ks_c_5601-1987", "안녕하세요".encode("cp949"), "안녕하세요"),
        (b"no-such-charset", b"Gr\xfc\xdfe", "Grüße"),
    ],
)
def test_unknown_or_misspelt_charsets_fall_back(charset: bytes, body: bytes, expected: str) -> None:
    msg = parse(plain_mail(body, content_type=b"text/plain; charset=" + charset))
    assert msg.problem is None
    assert msg.text == expected


def test_utf8_label_on_latin1_bytes_gives_letters_not_replacement_characters() -> None:
    msg = parse(plain_mail(b"M\xfcller", content_type=b"text/plain; charset=utf-8"))
    assert msg.text == "Müller"


def test_raw_8bit_header_is_decoded_without_surrogates() -> None:
    raw = plain_mail(b"Hallo").replace(b"Anna Customer", b"J\xfcrgen M\xfcller")
    msg = parse(raw)
    assert msg.sender_name == "Jürgen Müller"
    assert msg.sender_email == "anna@example.com"


def test_bare_cr_and_crlf_line_endings_give_the_same_text() -> None:
    lf = plain_mail(b"line one\nline two\n")
    results = [parse(lf.replace(b"\n", ending)) for ending in (b"\n", b"\r\n", b"\r")]
    assert {m.text for m in results} == {"line one\nline two"}
    assert all(m.subject == "Help" and m.sender_email == "anna@example.com" for m in results)


# --- headers ---------------------------------------------------------------------------------


def test_headers_become_fields() -> None:
    raw = (
        b'From: "Customer, Anna" <Anna@Example.COM>\n'
        b"To: Support <Support@Example.org>, other@example.org\n"
        b"Cc: boss@example.com\n"
        b"Subject: =?utf-8?q?R=C3=A9clamation_urgente?=\n"
        b"  =?utf-8?q?_=E2=80=93_commande?=\n"
        b"Message-ID: < abc-1@example.com >\n"
        b"In-Reply-To: <m1@example.org> (Support's message of Monday)\n"
        b"References: <m0@example.org> garbage, <m1@example.org>\n\n"
        b"Bonjour\n"
    )
    msg = parse(raw)
    assert msg.channel is Channel.EMAIL
    assert msg.raw == raw
    assert msg.received_at == NOW
    assert msg.external_id == "abc-1@example.com"
    assert msg.sender_email == "anna@example.com"
    assert msg.sender_name == "Customer, Anna"
    assert msg.subject == "Réclamation urgente – commande"
    assert msg.in_reply_to == ("m1@example.org",)
    assert msg.references == ("m0@example.org", "m1@example.org")
    assert msg.recipients == ("support@example.org", "other@example.org", "boss@example.com")
    assert msg.automatic is None
    assert msg.problem is None


def test_missing_message_id_gives_none_so_intake_hashes_the_bytes() -> None:
    raw = b"From: a@example.com\nSubject: hi\n\nbody\n"
    msg = parse(raw)
    assert msg.external_id is None
    assert msg.dedupe_key.startswith("sha256:")


def test_garbage_from_falls_back_to_reply_to_keeping_the_display_name() -> None:
    raw = b"From: Anna @@@\nReply-To: <anna@example.com>\nSubject: hi\n\nbody\n"
    msg = parse(raw)
    assert msg.sender_email == "anna@example.com"
    assert msg.problem is None


def test_no_sender_anywhere_is_a_problem_for_a_person_s_mail() -> None:
    msg = parse(b"From: @@@\nSubject: hi\n\nbody\n")
    assert msg.sender_email == ""
    assert msg.problem is not None and "sender" in msg.problem


# --- never raise -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\xff garbage",
        b"",
        b"\r\n\r\n",
        b"Content-Type: multipart/mixed\n\n--x\n",
        b"\xff" * 300,
    ],
)
def test_garbage_returns_a_message_with_a_problem(raw: bytes) -> None:
    msg = parse(raw)
    assert isinstance(msg, InboundMessage)
    assert msg.raw == raw
    assert msg.problem


def test_an_internal_error_becomes_a_bounded_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*_: object, **__: object) -> None:
        raise RuntimeError("boom " * 200)

    monkeypatch.setattr(parse_module, "classify_automatic", explode)
    msg = parse(plain_mail(b"hello"))
    assert msg.problem is not None
    assert msg.problem.startswith("parse error: RuntimeError: boom")
    assert len(msg.problem) <= 300
    assert msg.raw == plain_mail(b"hello")


def test_uuencoded_content_does_not_crash() -> None:
    inline = plain_mail(b"See file:\nbegin 644 a.txt\n#86)C\n`\nend\n")
    assert "begin 644 a.txt" in parse(inline).text
    declared = (
        b"From: a@example.com\nSubject: uu\nMIME-Version: 1.0\n"
        b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n"
        b"--b\nContent-Type: application/msword; name=x.doc\n"
        b"Content-Transfer-Encoding: x-uuencode\n\n,2&5L;&\\@6F%M;6%D\n`\n--b--\n"
    )
    msg = parse(declared)
    assert msg.problem is None
    assert [a.filename for a in msg.attachments] == ["x.doc"]


# --- body choice and HTML --------------------------------------------------------------------


def test_plain_text_is_preferred_over_html() -> None:
    mail = EmailMessage()
    mail["From"] = "a@example.com"
    mail["Subject"] = "alt"
    mail.set_content("plain version")
    mail.add_alternative("<p>html version</p>", subtype="html")
    assert parse(mail.as_bytes()).full_text == "plain version"


def test_html_only_mail_is_converted_with_quotes_only_in_full_text() -> None:
    html = (
        "<html><head><title>T</title><style>p{color:red}</style></head><body>"
        "<p>The export still fails &amp; times out.</p><script>alert(1)</script>"
        '<div class="gmail_quote">On Mon, Support wrote:'
        '<blockquote class="gmail_quote">Please try again.</blockquote></div>'
        "</body></html>"
    )
    mail = EmailMessage()
    mail["From"] = "a@example.com"
    mail["Subject"] = "html"
    mail.set_content(html, subtype="html")
    msg = parse(mail.as_bytes())
    assert msg.text == "The export still fails & times out."
    assert "Please try again." in msg.full_text
    assert "alert" not in msg.full_text
    assert "color" not in msg.full_text


def test_apple_mail_cited_blockquote_is_dropped_from_text() -> None:
    # No attribution line here, so only the HTML structure tells that this is a quote.
    html = (
        "<div>Works now, thank you.</div>"
        '<blockquote type="cite"><div>Could you clear the cache and retry?</div></blockquote>'
    )
    mail = EmailMessage()
    mail["From"] = "a@example.com"
    mail.set_content(html, subtype="html")
    msg = parse(mail.as_bytes())
    assert msg.text == "Works now, thank you."
    assert "clear the cache" in msg.full_text


def test_outlook_html_reply_block_is_dropped_from_text() -> None:
    html = (
        "<div>Yes, invoice 42.</div><hr>"
        '<div id="divRplyFwdMsg"><b>From:</b> Support<br><b>Sent:</b> Monday</div>'
        "<div>Which invoice?</div>"
    )
    mail = EmailMessage()
    mail["From"] = "a@example.com"
    mail.set_content(html, subtype="html")
    msg = parse(mail.as_bytes())
    assert "Yes, invoice 42." in msg.text
    assert "Support" not in msg.text
    assert "Support" in msg.full_text


# --- reply stripping -------------------------------------------------------------------------


def test_gmail_style_english_reply_keeps_only_the_new_part() -> None:
    body = (
        b"Thanks, restarting fixed it!\n\n"
        b"On Mon, Nov 23, 2026 at 10:02 AM Support <support@example.org> wrote:\n"
        b"> Please restart the sync service.\n"
        b">\n"
        b"> Best regards,\n"
        b"> Support\n"
    )
    msg = parse(plain_mail(body))
    assert msg.text == "Thanks, restarting fixed it!"
    assert "restart the sync service" in msg.full_text


def test_german_outlook_reply_keeps_only_the_new_part() -> None:
    body = (
        "Hallo,\n\ndas Problem besteht weiterhin.\n\n"
        "Mit freundlichen Grüßen\nJürgen Müller\n\n"
        "Von: Support <support@example.org>\n"
        "Gesendet: Montag, 23. November 2026 10:02\n"
        "An: Jürgen Müller <j@example.de>\n"
        "Betreff: Ihre Anfrage\n\n"
        "Bitte starten Sie den Dienst neu.\n"
    ).encode()
    msg = parse(plain_mail(body, content_type=b"text/plain; charset=utf-8"))
    assert msg.text == "Hallo,\n\ndas Problem besteht weiterhin."
    assert "Bitte starten Sie den Dienst neu." in msg.full_text


def test_bottom_posted_reply_skips_the_quote() -> None:
    body = (
        b"Am 07.05.2012 08:10, schrieb Support:\n"
        b"> Wann passt es?\n> --\n> Support\n"
        b"Freitag passt.\n"
    )
    assert parse(plain_mail(body)).text == "Freitag passt."


def test_a_reply_that_is_only_quote_falls_back_to_the_full_text() -> None:
    body = b"On Mon, Support wrote:\n> only quoted\n"
    msg = parse(plain_mail(body))
    assert msg.text == msg.full_text
    assert "only quoted" in msg.text


# --- attachments -----------------------------------------------------------------------------


def test_rfc2047_subject_and_rfc2231_filename_are_decoded() -> None:
    raw = (
        b"From: a@example.com\n"
        b"Subject: =?iso-8859-1?q?Rechnung_f=FCr_M=E4rz?=\n"
        b"MIME-Version: 1.0\n"
        b"Content-Type: multipart/mixed; boundary=b\n\n"
        b"--b\nContent-Type: text/plain\n\nsiehe Anhang\n"
        b"--b\nContent-Type: application/pdf\n"
        b"Content-Disposition: attachment; filename*=utf-8''Rechnung%20M%C3%A4rz.pdf\n"
        b"Content-Transfer-Encoding: base64\n\nJVBERi0=\n"
        b'--b\nContent-Type: image/png; name="=?utf-8?b?w7xiZXIucG5n?="\n'
        b"Content-Transfer-Encoding: base64\n\niVBORw==\n"
        b"--b--\n"
    )
    msg = parse(raw)
    assert msg.subject == "Rechnung für März"
    assert msg.text == "siehe Anhang"
    pdf, png = msg.attachments
    assert (pdf.filename, pdf.content_type, pdf.content) == (
        "Rechnung März.pdf",
        "application/pdf",
        b"%PDF-",
    )
    assert (png.filename, png.size) == ("über.png", 4)


def test_attachment_above_the_cap_keeps_its_size_but_not_its_bytes() -> None:
    mail = EmailMessage()
    mail["From"] = "a@example.com"
    mail.set_content("two files")
    mail.add_attachment(b"x" * 100, maintype="application", subtype="zip", filename="big.zip")
    mail.add_attachment(b"y" * 10, maintype="text", subtype="csv", filename="small.csv")
    msg = parse(mail.as_bytes(), max_attachment_bytes=50)
    big, small = msg.attachments
    assert (big.filename, big.size, big.content) == ("big.zip", 100, None)
    assert (small.filename, small.size, small.content) == ("small.csv", 10, b"y" * 10)
    assert msg.text == "two files"


def test_forwarded_message_is_shown_inline_and_kept_as_eml() -> None:
    inner = EmailMessage()
    inner["From"] = "Vendor <billing@vendor.example>"
    inner["Date"] = "Mon, 23 Nov 2026 09:00:00 +0000"
    inner["Subject"] = "Your invoice 42"
    inner.set_content("Amount due: 99 EUR")
    outer = EmailMessage()
    outer["From"] = "a@example.com"
    outer["Subject"] = "Fwd: Your invoice 42"
    outer.set_content("Is this right?")
    outer.add_attachment(inner)
    msg = parse(outer.as_bytes())
    assert msg.text.startswith("Is this right?")
    for text in (msg.text, msg.full_text):
        assert "From: Vendor <billing@vendor.example>" in text
        assert "Subject: Your invoice 42" in text
        assert "Date: Mon, 23 Nov 2026 09:00:00 +0000" in text
        assert "Amount due: 99 EUR" in text
    (eml,) = msg.attachments
    assert (eml.filename, eml.content_type) == ("Your invoice 42.eml", "message/rfc822")
    assert eml.content is not None and b"Amount due: 99 EUR" in eml.content


def test_delivery_report_parses_and_sets_the_verdict() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.org\nTo: support@example.org\nSubject: Undelivered\n"
        b"MIME-Version: 1.0\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
        b"--b\nContent-Type: text/plain\n\nYour message could not be delivered.\n"
        b"--b\nContent-Type: message/delivery-status\n\n"
        b"Reporting-MTA: dns; mx.example.org\n\n"
        b"Final-Recipient: rfc822; gone@example.com\nAction: failed\nStatus: 5.1.1\n"
        b"--b\nContent-Type: message/rfc822\n\nFrom: support@example.org\nSubject: Re\n\nHi\n"
        b"--b--\n"
    )
    msg = parse(raw)
    assert msg.problem is None
    assert msg.automatic is AutoKind.BOUNCE
    assert msg.bounced_recipients == ("gone@example.com",)
    assert msg.text == "Your message could not be delivered."
    assert [a.content_type for a in msg.attachments] == ["message/rfc822"]
