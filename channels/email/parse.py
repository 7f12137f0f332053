"""Turn the raw bytes of one inbound mail into an `InboundMessage`, whatever the bytes are.

This is the email channel's half of "every ingress converges on `handle_inbound`": it translates
and decides nothing. It never raises. Mail we cannot make sense of still becomes an
`InboundMessage`, with `problem` set and the raw bytes attached, so that intake quarantines it for
a human instead of the poller retrying it forever (DESIGN §2, step 7).

Body text comes from text/plain when the sender's client wrote one, and from HTML otherwise; the
new part of a reply is cut with `mail-parser-reply`, which knows the quote headers of many clients
in many languages. Forwarded mails (`message/rfc822`) are shown inline and kept as `.eml` files.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from email import message_from_bytes, policy
from email.errors import MissingHeaderBodySeparatorDefect
from email.message import Message

from mailparser_reply import EmailReplyParser

from channels.email.charsets import decode_bytes, resolve_charset, scrub_text
from channels.email.headers import (
    PARSE_POLICY,
    decode_words,
    is_plausible_address,
    list_children,
    read_addresses,
    read_disposition,
    read_ids,
    read_message_id,
    read_mime_param,
    read_mime_type,
    read_raw_values,
    read_text,
)
from channels.email.html import convert_html
from channels.email.loops import classify_automatic, normalise_newlines
from core.model import Attachment, AutoKind, Channel, InboundMessage

DEFAULT_MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
DEFAULT_REPLY_LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pt", "sv")

# Nesting beyond this is an attack or a loop of forwards; the rest stays in `raw`.
_MAX_DEPTH = 12
# mail-parser-reply's signature pattern backtracks over the whole text; beyond this size the
# message is a pasted log or a digest and its first part is what matters.
_MAX_REPLY_PARSE_CHARS = 200_000
_MAX_PROBLEM_CHARS = 300
_MAX_FILENAME_CHARS = 120

_FILENAME_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
_HTML_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_BLANK_RUNS = re.compile(r"\n[ \t]*(?:\n[ \t]*){2,}")
# Separator lines such as "-----Original Message-----" or "---- Forwarded message ----".
_MARKER_LINE = re.compile(r"^[ \t]*[-_=*]{2,}[^\n]*?[-_=*]{2,}[ \t]*$", re.MULTILINE)
# The blank line that ends the header block, in any of the three line-ending conventions.
_HEADER_END = re.compile(rb"\r?\n\r?\n|\r\r")
# RFC 5322 §2.2: a field name is printable US-ASCII except colon, followed by a colon.
_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:")
# RFC 5322 §4.5.3 obsolete syntax allows blanks before the colon; the stdlib does not.
_SPACE_BEFORE_COLON = re.compile(rb"^([!-9;-~]+)[ \t]+:")

# Leaf types that never hold the sender's words even when they are text/*.
_BODY_TYPES = frozenset({"text/plain", "text/html"})
# Inside a multipart/report these are the returned message, not something the sender wrote.
_RETURNED_TYPES = frozenset({"message/rfc822", "text/rfc822-headers", "message/rfc822-headers"})
_MACHINE_REPORT_TYPES = frozenset(
    {"message/delivery-status", "message/disposition-notification", "message/feedback-report"}
)


@dataclass
class _Collected:
    """What a walk over the MIME tree found, in document order."""

    full: list[str] = field(default_factory=list)  # readable text, quotes kept
    new: list[str] = field(default_factory=list)  # the same with HTML quote containers dropped
    forwards: list[str] = field(default_factory=list)  # forwarded mails rendered as text
    attachments: list[Attachment] = field(default_factory=list)


@dataclass(frozen=True)
class _Options:
    """The caller's limits, passed down the MIME walk."""

    max_attachment_bytes: int
    reply_languages: tuple[str, ...]
    hint: str | None = None  # a charset declared in the mail, for raw 8-bit header bytes


def parse_email(
    raw: bytes,
    *,
    received_at: datetime,
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
    reply_languages: tuple[str, ...] = DEFAULT_REPLY_LANGUAGES,
) -> InboundMessage:
    """Parse one RFC 5322 message; any failure comes back as `problem`, never as an exception.

    Catching everything here is deliberate: a mailbox poller that dies on one hostile message
    stops all support mail, while a quarantined message waits for a human with its bytes intact.
    """
    options = _Options(max_attachment_bytes=max_attachment_bytes, reply_languages=reply_languages)
    try:
        return build_inbound(raw, received_at=received_at, options=options)
    except Exception as exc:  # see docstring: the poller must survive any input
        return InboundMessage(
            channel=Channel.EMAIL,
            raw=raw,
            received_at=received_at,
            problem=describe_failure(exc),
        )


def describe_failure(exc: Exception) -> str:
    """A one-line reason for quarantine, bounded so a huge exception message cannot bloat rows."""
    text = scrub_text(f"parse error: {type(exc).__name__}: {exc}")
    text = " ".join(text.split())
    if len(text) > _MAX_PROBLEM_CHARS:
        text = text[: _MAX_PROBLEM_CHARS - 1] + "…"
    return text


def build_inbound(raw: bytes, *, received_at: datetime, options: _Options) -> InboundMessage:
    """Do the parse for `parse_email`; may raise, which the caller turns into a problem."""
    msg = read_message(raw)
    automatic, bounced = classify_automatic(msg)
    hint = find_declared_charset(msg)
    options = replace(options, hint=hint)
    sender_name, sender_email = choose_sender(msg, hint=hint)

    collected = _Collected()
    collect_part(msg, collected, options=options, depth=0, in_report=False)
    own_full = join_blocks(collected.full)
    own_new = join_blocks(collected.new)
    new_part = strip_quoted_reply(own_new, options.reply_languages) or own_new or own_full

    return InboundMessage(
        channel=Channel.EMAIL,
        raw=raw,
        received_at=received_at,
        external_id=read_message_id(msg),
        sender_email=sender_email,
        sender_name=sender_name,
        subject=read_text(msg, "Subject", hint=hint),
        text=join_blocks([new_part, *collected.forwards]),
        full_text=join_blocks([own_full, *collected.forwards]),
        in_reply_to=read_ids(msg, "In-Reply-To"),
        references=read_ids(msg, "References"),
        recipients=read_recipients(msg),
        automatic=automatic,
        bounced_recipients=bounced,
        attachments=tuple(collected.attachments),
        problem=find_problem(raw, msg, sender_email=sender_email, automatic=automatic),
    )


def find_problem(
    raw: bytes, msg: Message, *, sender_email: str, automatic: AutoKind | None
) -> str | None:
    """Why this message cannot be handled as customer mail, or None when it can.

    Without any header it is not a mail at all; without a sender a person's mail cannot be
    answered, so it goes to a human. Automatic mail without a sender is fine: intake only notes it.
    """
    if not raw.strip():
        return "empty message"
    if not msg.keys():
        return "no header fields: not an RFC 5322 message"
    if not sender_email and automatic is None:
        return "no usable sender address in From, Reply-To, Sender or Return-Path"
    return None


def read_message(raw: bytes) -> Message:
    """Parse bytes with the modern policy, retrying once with a repaired header block.

    The stdlib ends the header block at the first line that is not a header, so one broken fold
    (a tracking header whose continuation lost its indent) or a stray first line such as
    "---- Original email message ----" turns every header after it into body text.
    """
    msg = message_from_bytes(raw, policy=PARSE_POLICY)
    if not any(isinstance(d, MissingHeaderBodySeparatorDefect) for d in msg.defects):
        return msg
    repaired = repair_header_block(raw)
    return msg if repaired is None else message_from_bytes(repaired, policy=PARSE_POLICY)


def repair_header_block(raw: bytes) -> bytes | None:
    """Re-indent the non-header lines inside the header block and drop those before it.

    A line between two header lines is a continuation whose indent was lost (RFC 5322 §2.2.3
    folding), so it is indented again; lines before the first header are debris such as a pasted
    "---- Original email message ----". Lines after the last header stay: there the sender simply
    omitted the blank line, and they are body. Returns None when there is nothing to repair, or
    fewer than two header lines (which keeps arbitrary bytes from being taken for headers).
    """
    split = _HEADER_END.search(raw)
    head, rest = (raw[: split.start()], raw[split.start() :]) if split else (raw, b"")
    lines = head.splitlines(keepends=True)
    header_rows = [i for i, line in enumerate(lines) if _HEADER_LINE.match(line)]
    if len(header_rows) < 2:
        return None
    first, last = header_rows[0], header_rows[-1]
    kept: list[bytes] = []
    for i, line in enumerate(lines):
        if _HEADER_LINE.match(line):
            kept.append(_SPACE_BEFORE_COLON.sub(rb"\1:", line))
        elif i > last or line[:1] in b" \t" or (i == 0 and line.startswith(b"From ")):
            kept.append(line)
        elif i > first and line.strip():
            kept.append(b" " + line)
    repaired = b"".join(kept) + rest
    return None if repaired == raw else repaired


def find_declared_charset(msg: Message) -> str | None:
    """The first charset any text part declares: the best guess for raw 8-bit header bytes."""
    for part in msg.walk():
        label = read_charset(part)
        if label and resolve_charset(label) not in {None, "windows-1252", "utf-8"}:
            return label
    return None


def choose_sender(msg: Message, *, hint: str | None = None) -> tuple[str, str]:
    """(display name, lower-cased address) of whoever we would answer.

    From is the author (RFC 5322 §3.6.2). When it holds no usable address (garbage such as `@@@`,
    or a display name alone) Reply-To, Sender and the envelope's Return-Path stand in; the display
    name still comes from From when it has one, because that is how the person signed.
    """
    from_pairs = read_addresses(msg, "From", hint=hint)
    from_name = next((name for name, _ in from_pairs if name), "")
    for header in ("From", "Reply-To", "Sender", "Return-Path"):
        pairs = from_pairs if header == "From" else read_addresses(msg, header, hint=hint)
        for name, addr in pairs:
            if is_plausible_address(addr):
                return tidy_name(from_name or name), addr.lower()
    # A bare local part such as `MAILER-DAEMON` is better than nothing for a bounce.
    bare = next((addr for _, addr in from_pairs if addr), "")
    return tidy_name(from_name), bare.lower()


def tidy_name(name: str) -> str:
    """Collapse whitespace and drop the quotes some clients leave around display names."""
    return " ".join(name.split()).strip("\"' ")


def read_recipients(msg: Message) -> tuple[str, ...]:
    """Lower-cased To and Cc addresses, first occurrence kept, garbage dropped."""
    addresses = [addr.lower() for h in ("To", "Cc") for _, addr in read_addresses(msg, h)]
    return tuple(dict.fromkeys(addr for addr in addresses if is_plausible_address(addr)))


def collect_part(
    part: Message, out: _Collected, *, options: _Options, depth: int, in_report: bool
) -> None:
    """Walk one MIME node: text goes to `out.full`/`out.new`, files to `out.attachments`.

    Order of checks matters: the stdlib reports message/* parts as multipart too.
    """
    if depth > _MAX_DEPTH:
        return
    ctype = read_mime_type(part)
    if ctype in _MACHINE_REPORT_TYPES:
        return  # machine-readable report fields; loops.py reads them, readers need not
    if ctype in _RETURNED_TYPES and in_report:
        out.attachments.append(build_attachment(part, options=options, index=len(out.attachments)))
        return
    if ctype == "message/rfc822":
        collect_forward(part, out, options=options, depth=depth)
        return
    if part.is_multipart():
        collect_multipart(part, ctype, out, options=options, depth=depth, in_report=in_report)
        return
    if ctype.startswith("multipart/"):
        ctype = "text/plain"  # no usable boundary: the stdlib kept the body as one text
    if ctype in _BODY_TYPES and not is_attachment(part):
        collect_body_text(part, ctype, out)
        if has_filename(part):  # an inline text file: readable, and still a file
            out.attachments.append(
                build_attachment(part, options=options, index=len(out.attachments))
            )
        return
    out.attachments.append(build_attachment(part, options=options, index=len(out.attachments)))


def collect_multipart(
    part: Message,
    ctype: str,
    out: _Collected,
    *,
    options: _Options,
    depth: int,
    in_report: bool,
) -> None:
    """Walk a multipart's children; for multipart/alternative keep one rendering of the body."""
    children = list_children(part)
    in_report = in_report or ctype == "multipart/report"
    if ctype != "multipart/alternative":
        for child in children:
            collect_part(child, out, options=options, depth=depth + 1, in_report=in_report)
        return
    chosen = choose_alternative(children)
    for child in children:
        if child is chosen:
            collect_part(child, out, options=options, depth=depth + 1, in_report=in_report)
        else:
            # Apple Mail nests the inline images in the HTML alternative; keep them as files.
            collect_files_only(child, out, options=options, depth=depth + 1)


def choose_alternative(children: list[Message]) -> Message | None:
    """The alternative to read: plain text with content, else the richest (last) one (RFC 2046
    §5.1.4 orders alternatives by increasing faithfulness)."""
    for child in children:
        if read_mime_type(child) == "text/plain" and has_content(child):
            return child
    filled = [child for child in children if has_content(child)]
    if filled:
        return filled[-1]
    return children[-1] if children else None


def has_content(part: Message) -> bool:
    """Whether a part has anything to show: empty text/plain alternatives are common (Outlook
    templates, broken mailers that leave a stray empty part after the last boundary)."""
    if part.is_multipart():
        return True
    if read_mime_type(part).startswith("text/"):
        return bool(decode_text_part(part).strip())
    return bool(read_part_bytes(part))


def collect_files_only(part: Message, out: _Collected, *, options: _Options, depth: int) -> None:
    """Keep the non-text leaves of an alternative we do not read, so no screenshot is lost."""
    if depth > _MAX_DEPTH:
        return
    maintype = read_mime_type(part).partition("/")[0]
    if part.is_multipart():
        for child in list_children(part):
            collect_files_only(child, out, options=options, depth=depth + 1)
    elif maintype not in {"text", "message", "multipart"}:
        out.attachments.append(build_attachment(part, options=options, index=len(out.attachments)))


def collect_body_text(part: Message, ctype: str, out: _Collected) -> None:
    """Add one text/plain or text/html leaf as readable text."""
    if ctype == "text/html":
        rendered = convert_html(decode_text_part(part))
        full, new = rendered.full, rendered.new
    else:
        full = new = decode_text_part(part).strip()
    if full:
        out.full.append(full)
    if new:
        out.new.append(new)


def collect_forward(part: Message, out: _Collected, *, options: _Options, depth: int) -> None:
    """Show a forwarded mail inline (From, Date, Subject and its whole body) and keep it as .eml.

    The forward is the reason the customer wrote, so it belongs in the text an agent reads; it is
    added after quote stripping, since a forward header would otherwise be cut as a quote. The
    forwarded mail's own attachments stay inside its .eml rather than being listed twice.
    """
    inner = read_inner_message(part)
    if inner is None:
        out.attachments.append(build_attachment(part, options=options, index=len(out.attachments)))
        return
    nested = _Collected()
    collect_part(inner, nested, options=options, depth=depth + 1, in_report=False)
    subject = read_text(inner, "Subject", hint=options.hint)
    lines = ["---------- Forwarded message ----------"]
    for label, value in (
        ("From", read_text(inner, "From", hint=options.hint)),
        ("Date", read_text(inner, "Date")),
        ("Subject", subject),
    ):
        if value:
            lines.append(f"{label}: {value}")
    body = join_blocks([*nested.full, *nested.forwards])
    out.forwards.append(join_blocks(["\n".join(lines), body]))
    filename = tidy_filename(subject or "forwarded message") + ".eml"
    out.attachments.append(
        make_attachment(filename, "message/rfc822", serialise_message(inner), options=options)
    )


def read_inner_message(part: Message) -> Message | None:
    """The message inside a message/rfc822 part, or None when the part is malformed."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    return None


def serialise_message(msg: Message) -> bytes:
    """Bytes of a forwarded message for its .eml attachment, however broken its headers are."""
    try:
        return msg.as_bytes(policy=policy.compat32)
    except Exception:  # the generator has raised on malformed headers before; keep what we can
        try:
            return msg.as_string(policy=policy.compat32).encode("utf-8", "surrogateescape")
        except Exception:
            return b""


def is_attachment(part: Message) -> bool:
    """Whether a text/plain or text/html leaf is a file rather than the body.

    `Content-Disposition: attachment` says so (RFC 2183); a file name without any disposition
    (`Content-Type: text/plain; name=log.txt`) is what older clients send for attached files.
    """
    disposition = read_disposition(part)
    if disposition == "attachment":
        return True
    return disposition is None and has_filename(part)


def has_filename(part: Message) -> bool:
    """Whether the part names a file in Content-Disposition or Content-Type."""
    return bool(read_filename_param(part, hint=None)) or bool(read_filename(part))


def read_filename(part: Message, *, hint: str | None = None) -> str:
    """The part's file name: RFC 2231 parameters, RFC 2047 words (which some clients use instead)
    and raw 8-bit names decoded like other headers (see `read_raw_values` for `hint`).

    Path components are dropped (`C:\\fakepath\\a.pdf`), since a name is all we need.
    """
    name = read_filename_param(part, hint=hint)
    if not name:
        try:
            name = str(part.get_filename() or "")
        except Exception:  # malformed RFC 2231 continuations can raise
            return ""
    name = decode_words(scrub_text(name, hint), hint)
    name = re.split(r"[/\\]", name)[-1]
    return tidy_filename(name) if name.strip() else ""


def read_filename_param(part: Message, *, hint: str | None) -> str:
    """`filename` of Content-Disposition, else `name` of Content-Type, parsed from the raw value.

    Parsing the raw value (not `get_filename()`) keeps 8-bit names, which the stdlib has already
    turned into U+FFFD by the time it hands out parameters.
    """
    for header, param in (("Content-Disposition", "filename"), ("Content-Type", "name")):
        for value in read_raw_values(part, header, hint=hint):
            try:
                found = PARSE_POLICY.header_factory(header, value).params.get(param)
            except Exception:  # hostile parameter syntax; the next source may still do
                continue
            if found:
                return str(found)
    return ""


def tidy_filename(name: str) -> str:
    """A file name safe to show and store: no control or path characters, bounded length."""
    cleaned = " ".join(_FILENAME_UNSAFE.sub(" ", name).split())
    return cleaned[:_MAX_FILENAME_CHARS] or "unnamed"


def build_attachment(part: Message, *, options: _Options, index: int) -> Attachment:
    """Metadata and (within the cap) the decoded bytes of one leaf part."""
    ctype = read_mime_type(part)
    content = read_part_bytes(part)
    filename = read_filename(part, hint=options.hint) or default_filename(ctype, index)
    return make_attachment(filename, ctype, content, options=options)


def make_attachment(
    filename: str, content_type: str, content: bytes, *, options: _Options
) -> Attachment:
    """An Attachment whose bytes are dropped above the cap; the size is always the real one."""
    kept = content if len(content) <= options.max_attachment_bytes else None
    return Attachment(filename=filename, content_type=content_type, size=len(content), content=kept)


def default_filename(content_type: str, index: int) -> str:
    """A name for an unnamed part, e.g. an inline image referenced only by Content-ID."""
    extension = mimetypes.guess_extension(content_type, strict=False) or ".bin"
    return f"part-{index + 1}{extension}"


def read_part_bytes(part: Message) -> bytes:
    """A leaf's content with its transfer encoding undone; a whole message for message/* parts."""
    if part.is_multipart():
        return serialise_message(read_inner_message(part) or part)
    decoded = part.get_payload(decode=True)
    if isinstance(decoded, bytes):
        return decoded
    payload = part.get_payload()
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    return b""


def decode_text_part(part: Message) -> str:
    """A text leaf as str, with the charset fallbacks of `decode_bytes` and LF line endings.

    `get_content()` is not used: it raises `LookupError` on unknown charsets and silently replaces
    bytes when the label is wrong, which is exactly the mail support desks receive.
    """
    data = read_part_bytes(part)
    label = read_charset(part)
    if label is None and read_mime_type(part) == "text/html":
        label = sniff_html_charset(data)
    return scrub_text(normalise_newlines(decode_bytes(data, label)).lstrip("\ufeff"))


def read_charset(part: Message) -> str | None:
    """The declared charset parameter, or None when absent or unreadable."""
    label = read_mime_param(part, "charset")
    return label.lower() if label else None


def sniff_html_charset(data: bytes) -> str | None:
    """The charset an HTML body declares in a <meta> tag, when MIME declared none."""
    match = _HTML_META_CHARSET.search(data[:4096])
    return match.group(1).decode("ascii", "replace") if match else None


def strip_quoted_reply(text: str, languages: tuple[str, ...]) -> str:
    """The new part of a reply: quoted history and signature cut by mail-parser-reply.

    `read(...).replies[0].body` is used rather than `parse_reply`, which keeps the signature.
    `>`-quoted lines are removed first: they are never new, and the library would otherwise take
    a bottom-posted reply's quote for the reply, or a quoted "-- " for the start of a signature.
    Returns "" when nothing is left or the library fails, so the caller falls back to the full text.
    """
    text = drop_quoted_lines(text)
    if not text.strip():
        return ""
    try:
        parsed = EmailReplyParser(languages=list(languages)).read(text[:_MAX_REPLY_PARSE_CHARS])
        replies = parsed.replies
        body = replies[0].body if replies else ""
    except Exception:  # third-party regexes on hostile input: fall back, never fail the mail
        return ""
    if not isinstance(body, str) or not _MARKER_LINE.sub("", body).strip():
        return ""  # nothing but a "---- Forwarded Message ----" line is not a reply
    return body.strip()


def drop_quoted_lines(text: str) -> str:
    """Remove lines quoted with ">" (RFC 3676 §4.5 quote marks, and the older habit)."""
    return "\n".join(line for line in text.split("\n") if not line.lstrip().startswith(">"))


def join_blocks(blocks: list[str]) -> str:
    """Join text blocks with one blank line and collapse longer runs of blank lines."""
    text = "\n\n".join(block.strip() for block in blocks if block and block.strip())
    return _BLANK_RUNS.sub("\n\n", text)
