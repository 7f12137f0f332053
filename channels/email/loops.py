"""Recognise mail that machines wrote (bounces, auto-replies, list and bulk mail), and who bounced.

Answering such mail is how mail loops start, so intake never drafts to it (DESIGN §3, invariant 5).
Each rule below is one signal with the standard it comes from; the verdict is the strongest kind
any rule found, in the order BOUNCE > AUTO_REPLY > BULK: a bounce also carries `Auto-Submitted`,
and a vacation reply often carries `Precedence: bulk`, yet each is first of all what it reports.
Heuristic rules (subjects) only ever make a message automatic, never the reverse.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from email.message import Message

from channels.email.charsets import decode_bytes
from channels.email.headers import (
    has_header,
    is_plausible_address,
    list_children,
    parse_address_list,
    read_addresses,
    read_mime_param,
    read_mime_type,
    read_raw_value,
    read_raw_values,
    read_text,
)
from core.model import AutoKind

# Local parts that only delivery software sends from (RFC 5321 §4.5.1 requires `postmaster`;
# MAILER-DAEMON is the Sendmail/Postfix/Exim tradition).
_DAEMON_LOCALPARTS = frozenset(
    {"mailer-daemon", "postmaster", "post_master", "mail-daemon", "mailerdaemon"}
)
# Display names delivery software signs with, for `From: MAILER-DAEMON <>` and the like.
_DAEMON_NAMES = frozenset(
    {"mailer-daemon", "postmaster", "mail delivery system", "mail delivery subsystem"}
)
# Addresses that say no one reads replies; answering them can only produce a bounce.
_NO_REPLY_LOCALPARTS = frozenset(
    {"no-reply", "noreply", "no_reply", "do-not-reply", "donotreply", "do_not_reply"}
)
# List-manager accounts that send notices (not-a-member, moderation, loop alerts).
_LIST_ADMIN_SUFFIXES = ("-admin", "-owner", "-request", "-bounces")

# Subjects that delivery software writes on non-delivery reports, for the bounces that carry no
# RFC 3464 report (qmail, Exim without DSN, old Exchange, Lotus Notes, web-mail providers).
# Machine phrasing no customer writes: believed on its own.
_BOUNCE_SUBJECT_EXACT = re.compile(
    r"^\s*(?:"
    r"undeliverable:|undelivered mail returned to sender|delivery status notification"
    r"|mail delivery failed: returning message|returned mail:|failure notice\s*$"
    r"|delivery notification: delivery has failed|mail system error - returned mail"
    r"|warning: could not send message|unzustellbar:|non remis\s*:|onbestelbaar:"
    r")",
    re.IGNORECASE,
)
# Generic phrasing a shop's customer may well use ("Delivery failed for order 42"): believed only
# with a null envelope sender (RFC 5321 §4.5.5), which a person's client never sends.
_BOUNCE_SUBJECT_GENERIC = re.compile(
    r"^\s*(?:"
    r"undeliverable|undelivered|mail delivery failed|mail delivery failure|returned mail"
    r"|return(?:ed)? to sender|delivery failure|message delivery failure|delivery failed"
    r"|non[- ]?delivery|nondeliverable|mail could not be delivered|could not send message"
    r"|message could not be delivered|permanent delivery failure|delayed mail"
    r"|delivery delayed|message not delivered|no se puede entregar|niet bezorgd"
    r"|unable to deliver"
    r")",
    re.IGNORECASE,
)

# Subjects of vacation and other auto-responders, in the languages customers write in. They are
# prefixes: "Out of Office" inside a customer's sentence must not silence the customer.
_AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(?:"
    r"automatic reply|auto[- ]?reply|auto[- ]?response|autorespons|auto[- ]?antwort"
    r"|out of (?:the )?office|away from (?:the )?office|on vacation|vacation reply"
    r"|autosvar|automatisk svar|abwesenheitsnotiz|automatische antwort"
    r"|automatisch antwoord|afwezigheidsmelding|r[ée]ponse automatique|absence du bureau"
    r"|respuesta autom[áa]tica|risposta automatica|resposta autom[áa]tica|fuori sede"
    r"|complaint about message from"
    r")",
    re.IGNORECASE,
)

# Lines after which Exim, qmail and Sendmail list the failed addresses in a plain-text bounce.
_TEXT_BOUNCE_LEAD = re.compile(
    r"following address(?:\(es\)|es)? (?:failed|had permanent fatal errors|had delivery errors)"
    r"|(?:wasn't|were|was) (?:not )?able to deliver your message to the following address"
    r"|unable to deliver (?:your )?message to the following address"
    r"|could not be delivered to the following recipient"
    r"|did not reach the following recipient"
    r"|delivery to the following recipients? failed permanently",
    re.IGNORECASE,
)
# Where the copy of the returned message starts: addresses below it are not the failures.
_TEXT_BOUNCE_END = re.compile(
    r"^\s*-{2,}.*(?:copy of|below this line|original message|transcript)", re.IGNORECASE
)
# A line that starts with the failed address: `user@host`, `<user@host>:` or `<user@host>: why`.
_TEXT_BOUNCE_ADDRESS = re.compile(
    r"^\s*<?([\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+)>?:?(?:\s|$)"
)
_TEXT_BOUNCE_WINDOW = 40  # lines after the lead; a bounce lists its failures right there
# Amazon SES bounce events (JSON in the body of an SNS mail). Matched textually: SNS wraps long
# lines, so the JSON does not always parse.
_SES_BOUNCE = re.compile(r'"notificationType"\s*:\s*"Bounce"')
_SES_PERMANENT = re.compile(r'"bounceType"\s*:\s*"Permanent"')
_SES_RECIPIENT = re.compile(r'"emailAddress"\s*:\s*"([^"\s]+@[^"\s]+)"')


def classify_automatic(msg: Message) -> tuple[AutoKind | None, tuple[str, ...]]:
    """Say whether a mail is automatic and, for a bounce, which recipients failed permanently.

    Returns `(None, ())` for mail a person wrote. Only a BOUNCE has bounced recipients.
    """
    verdict = next((kind for kind, rule in _RULES if rule(msg)), None)
    if verdict is not AutoKind.BOUNCE:
        return verdict, ()
    return verdict, find_bounced_recipients(msg)


def is_report(msg: Message, report_type: str) -> bool:
    """Whether the mail is a `multipart/report` of the given report-type (RFC 6522 §3)."""
    if read_mime_type(msg) != "multipart/report":
        return False
    value = read_mime_param(msg, "report-type")
    return value is not None and value.lower() == report_type


def is_delivery_report(msg: Message) -> bool:
    """A DSN: `multipart/report; report-type=delivery-status` (RFC 3464, RFC 6522)."""
    return is_report(msg, "delivery-status") or any(
        read_mime_type(part) == "message/delivery-status" for part in msg.walk()
    )


def has_failed_recipients_header(msg: Message) -> bool:
    """Exim's `X-Failed-Recipients`, which it adds to every bounce it generates."""
    return has_header(msg, "X-Failed-Recipients")


def is_from_mail_daemon(msg: Message) -> bool:
    """From (or envelope sender) MAILER-DAEMON or postmaster: who sends non-delivery reports
    (RFC 5321 §4.5.1). `From: MAILER-DAEMON <>` has no address, so display names count too."""
    pairs = read_addresses(msg, "From")
    if not pairs:
        raw = (read_raw_value(msg, "From") or "").strip()
        pairs = [(raw.split("<", 1)[0].strip(" \"'"), raw.strip("<> "))]
    senders = [addr for _, addr in pairs] + [addr for _, addr in read_addresses(msg, "Return-Path")]
    if any(localpart(addr) in _DAEMON_LOCALPARTS for addr in senders):
        return True
    return any(name.strip().lower() in _DAEMON_NAMES for name, _ in pairs)


def localpart(addr_spec: str) -> str:
    """The lower-cased part before the last "@" (the whole string when there is none)."""
    return addr_spec.rpartition("@")[0].lower() if "@" in addr_spec else addr_spec.lower()


def has_bounce_subject(msg: Message) -> bool:
    """Subject heuristic for bounces without an RFC 3464 report; generic wording only counts
    with a null return path (RFC 5321 §4.5.5) or no From at all."""
    subject = read_text(msg, "Subject")
    if _BOUNCE_SUBJECT_EXACT.search(subject):
        return True
    is_envelope_null = has_null_return_path(msg) or not has_header(msg, "From")
    return is_envelope_null and bool(_BOUNCE_SUBJECT_GENERIC.search(subject))


def is_bounce(msg: Message) -> bool:
    """A non-delivery report, by its report structure, Exim's header, or its sender and subject.

    A daemon sender on its own is enough: RFC 3834 §3.1.1 says responders should not answer it.
    """
    return (
        is_delivery_report(msg)
        or has_failed_recipients_header(msg)
        or is_from_mail_daemon(msg)
        or is_ses_bounce(msg)
        or has_bounce_subject(msg)
    )


def has_null_return_path(msg: Message) -> bool:
    """`Return-Path: <>`: the envelope sender of notifications (RFC 5321 §4.5.5, RFC 3834 §3.3)."""
    return any(value.strip() in {"<>", "< >", ""} for value in read_raw_values(msg, "Return-Path"))


def is_auto_submitted(msg: Message) -> bool:
    """`Auto-Submitted` with any value but `no` (RFC 3834 §5): auto-generated, auto-replied…"""
    value = read_raw_value(msg, "Auto-Submitted")
    if value is None:
        return False
    keyword = value.split(";", 1)[0].split("(", 1)[0].strip().lower()
    return keyword != "no"


def has_autoresponder_header(msg: Message) -> bool:
    """Vendor headers that responders set: X-Autoreply (Sieve/cPanel), X-Autorespond (Yahoo),
    X-Auto-Reply, `X-Autogenerated: Reply`, and `Precedence: auto_reply` (older vacation)."""
    if any(has_header(msg, name) for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply")):
        return True
    generated = (read_raw_value(msg, "X-Autogenerated") or "").strip().lower()
    precedence = (read_raw_value(msg, "Precedence") or "").strip().lower()
    return generated == "reply" or precedence == "auto_reply"


def is_exchange_generated(msg: Message) -> bool:
    """Exchange marks mail its own rules and agents generated (inbox rules, forwards, OOF)."""
    return has_header(msg, "X-MS-Exchange-Generated-Message-Source") or has_header(
        msg, "X-MS-Exchange-Inbox-Rules-Loop"
    )


def is_read_receipt(msg: Message) -> bool:
    """A message disposition notification (RFC 8098), i.e. a read receipt."""
    return is_report(msg, "disposition-notification") or any(
        read_mime_type(part) == "message/disposition-notification" for part in msg.walk()
    )


def is_feedback_report(msg: Message) -> bool:
    """An abuse complaint in the Abuse Reporting Format (RFC 5965): a machine's, not a person's."""
    return is_report(msg, "feedback-report")


def is_from_no_reply(msg: Message) -> bool:
    """A no-reply sender with no Reply-To a person would read: a notification, not a customer.

    Web forms often send from no-reply@ with the customer in Reply-To; those stay customer mail.
    """
    senders = [addr for _, addr in read_addresses(msg, "From")]
    if not any(localpart(addr) in _NO_REPLY_LOCALPARTS for addr in senders):
        return False
    reply_to = [addr for _, addr in read_addresses(msg, "Reply-To")]
    return all(localpart(addr) in _NO_REPLY_LOCALPARTS for addr in reply_to)


def is_list_manager_notice(msg: Message) -> bool:
    """A list manager's own notice (fml's `X-MLServer`, Mailman's `X-List-Administrivia`) from its
    -admin/-owner/-request address: "you are not a member", "held for moderation", loop alerts."""
    if has_header(msg, "X-List-Administrivia"):
        return True
    if not has_header(msg, "X-MLServer"):
        return False
    senders = [addr for _, addr in read_addresses(msg, "From")]
    return any(localpart(addr).endswith(_LIST_ADMIN_SUFFIXES) for addr in senders)


def is_ses_notification(msg: Message) -> bool:
    """An Amazon SES event delivered through SNS by mail (bounce, complaint or delivery)."""
    return has_header(msg, "x-amz-sns-message-id")


def is_ses_bounce(msg: Message) -> bool:
    """An SES notification reporting a permanent bounce; its body is the JSON event."""
    if not is_ses_notification(msg):
        return False
    text = read_first_text(msg)
    return bool(_SES_BOUNCE.search(text)) and bool(_SES_PERMANENT.search(text))


def has_auto_reply_subject(msg: Message) -> bool:
    """Subject heuristic for responders that set no header at all (many do not)."""
    return bool(_AUTO_REPLY_SUBJECT.search(read_text(msg, "Subject")))


def is_auto_reply(msg: Message) -> bool:
    """An auto-responder's mail: any RFC 3834 signal, vendor header, MDN, ARF, or subject.

    A null return path alone counts too: RFC 3834 §3.3 asks responders to send with one, and a
    person's mail client never does.
    """
    return (
        is_auto_submitted(msg)
        or has_autoresponder_header(msg)
        or is_exchange_generated(msg)
        or is_read_receipt(msg)
        or is_feedback_report(msg)
        or has_auto_reply_subject(msg)
        or has_null_return_path(msg)
        or is_from_no_reply(msg)
        or is_list_manager_notice(msg)
        or is_ses_notification(msg)
    )


def is_bulk(msg: Message) -> bool:
    """List or bulk mail: `Precedence: bulk|junk|list` (de facto; RFC 3834 §3.1.8 tells
    responders to honour it), or any list header of RFC 2369 or RFC 2919, or `X-Mailing-List`."""
    precedence = (read_raw_value(msg, "Precedence") or "").strip().lower()
    if precedence in {"bulk", "junk", "list"}:
        return True
    list_headers = ("List-Id", "List-Unsubscribe", "List-Post", "X-Mailing-List")
    return any(has_header(msg, name) for name in list_headers)


# In verdict order (see the module docstring): the first rule that matches decides, and the
# rules after it are not run.
_RULES: tuple[tuple[AutoKind, Callable[[Message], bool]], ...] = (
    (AutoKind.BOUNCE, is_bounce),
    (AutoKind.AUTO_REPLY, is_auto_reply),
    (AutoKind.BULK, is_bulk),
)


def find_bounced_recipients(msg: Message) -> tuple[str, ...]:
    """Addresses a bounce reports as permanently failed, lower-cased, without duplicates.

    Sources, best first: the per-recipient blocks of every RFC 3464 `message/delivery-status`
    part; Exim's `X-Failed-Recipients`; and, only when neither gave anything, the address lines
    under a known lead sentence in the first text part of a plain-text bounce.
    """
    found = keep_plausible([*read_dsn_failures(msg), *read_failed_recipients_header(msg)])
    if not found and is_ses_bounce(msg):
        found = keep_plausible(_SES_RECIPIENT.findall(read_first_text(msg)))
    if not found:
        found = keep_plausible(scan_text_bounce(read_first_text(msg)))
    return tuple(found)


def keep_plausible(addresses: Iterable[str]) -> list[str]:
    """Lower-cased addresses that look like local@domain, first occurrence kept."""
    lowered = (addr.lower() for addr in addresses if is_plausible_address(addr))
    return list(dict.fromkeys(lowered))


def read_dsn_failures(msg: Message) -> list[str]:
    """Final-Recipient of each DSN block whose Action is `failed` (RFC 3464 §2.3)."""
    failures: list[str] = []
    for part in msg.walk():
        if read_mime_type(part) == "message/delivery-status":
            failures.extend(read_failed_blocks(split_status_blocks(part)))
    return failures


def split_status_blocks(part: Message) -> list[dict[str, str]]:
    """The header blocks of a delivery-status part as lower-cased name → value maps.

    The stdlib parses the body into one sub-message per block; a DSN whose blank lines were lost
    or which was base64-encoded arrives as text instead, and is split by hand.
    """
    blocks = list_children(part)
    if blocks:
        return [
            {key.lower(): " ".join(str(value).split()) for key, value in block.raw_items()}
            for block in blocks
        ]
    raw = part.get_payload(decode=True)
    text = decode_bytes(raw) if isinstance(raw, bytes) else str(part.get_payload())
    return [parse_field_block(block) for block in re.split(r"\n\s*\n", normalise_newlines(text))]


def parse_field_block(block: str) -> dict[str, str]:
    """Parse `Name: value` lines (with folded continuations) into a lower-cased map."""
    fields: dict[str, str] = {}
    name = ""
    for line in block.split("\n"):
        if line[:1] in {" ", "\t"} and name:
            fields[name] += " " + line.strip()
        elif ":" in line:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            fields[name] = value.strip()
    return fields


def read_failed_blocks(blocks: Iterable[dict[str, str]]) -> list[str]:
    """Recipients of blocks that failed: `Action: failed`, or no Action but a 5.x.x Status."""
    failures: list[str] = []
    for block in blocks:
        action = block.get("action", "").strip().lower()
        status = block.get("status", "").strip()
        if action == "failed" or (not action and status.startswith("5")):
            recipient = block.get("final-recipient") or block.get("original-recipient") or ""
            address = strip_address_type(recipient)
            if address:
                failures.append(address)
    return failures


def strip_address_type(value: str) -> str:
    """`rfc822; <user@example.com>` → `user@example.com` (RFC 3464 §2.3.2 address-type)."""
    _, _, address = value.rpartition(";")
    return re.sub(r"\s+", "", address).strip("<>")


def read_failed_recipients_header(msg: Message) -> list[str]:
    """Addresses in every `X-Failed-Recipients` header (Exim; comma-separated)."""
    return [
        addr
        for value in read_raw_values(msg, "X-Failed-Recipients")
        for _, addr in parse_address_list(value)
    ]


def read_first_text(msg: Message) -> str:
    """The first text/plain part's decoded text: where a plain-text bounce explains itself."""
    for part in msg.walk():
        if read_mime_type(part) == "text/plain":
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                return normalise_newlines(decode_bytes(raw, read_mime_param(part, "charset")))
    return ""


def scan_text_bounce(text: str) -> list[str]:
    """Failed addresses listed under a lead sentence of a plain-text bounce.

    Deliberately conservative: only lines that start with an address, only in a short window after
    a known lead sentence, and never below the marker where the returned message begins, because
    flagging a good customer address as bounced is worse than missing a bad one.
    """
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if _TEXT_BOUNCE_LEAD.search(line):
            return collect_listed_addresses(lines[index + 1 : index + 1 + _TEXT_BOUNCE_WINDOW])
    return []


def collect_listed_addresses(lines: list[str]) -> list[str]:
    """Addresses at the start of lines, up to the returned-message marker."""
    found: list[str] = []
    for line in lines:
        if _TEXT_BOUNCE_END.search(line):
            break
        match = _TEXT_BOUNCE_ADDRESS.match(line)
        if match:
            found.append(match.group(1))
    return found


def normalise_newlines(text: str) -> str:
    """CRLF and bare CR (old Mac mail) to LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")
