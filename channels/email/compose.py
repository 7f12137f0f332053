"""Build the email for an approved reply: threading headers, loop guards, text and HTML parts.

Pure: the same outbox item gives the same message (its Date is the approval time, RFC 5322
§3.6.1: when the author declared it ready), so a resend after a crash carries the identical
Message-ID and headers, and the recipient's client can see it is a duplicate.
"""

from __future__ import annotations

import re
from email import policy
from email.headerregistry import Address, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import Policy

from core.model import OutboxItem
from core.ports import Renderer
from core.threading import find_subject_ref

TEXT_TEMPLATE = "email/reply.txt.j2"
HTML_TEMPLATE = "email/reply.html.j2"

# RFC 5322 §3.6.4 msg-id without its brackets: printable ASCII, no brackets or whitespace, an
# "@". Stored ids of messages that had none ("sha256:…" content hashes) are not msg-ids.
_MSG_ID = re.compile(r"[!-;=?-~]+@[!-;=?-~]+")
_BLANK_LINES = re.compile(r"\n[ \t]*\n+")


class _MsgIdListHeader(UnstructuredHeader, BaseHeader):
    """In-Reply-To and References, folded only between ids.

    The stdlib folds a token longer than a line as an RFC 2047 encoded word (seen on 3.11
    with a 100-character Message-ID), which turns `<id>` into `=?utf-8?q?=3Cid…?=` and
    breaks threading. RFC 5322 §2.2.3 allows folding at whitespace, so we fold between ids and let
    a single long id exceed 78 characters (the hard limit is 998).
    """

    def fold(self, *, policy: Policy) -> str:
        linesep = policy.linesep
        limit = policy.max_line_length or 998
        head = f"{self.name}:"
        lines: list[str] = []
        current = head
        for token in str(self).split():
            if current != head and len(current) + 1 + len(token) > limit:
                lines.append(current)
                current = ""
            current += " " + token
        lines.append(current)
        return linesep.join(lines) + linesep


def _make_policy() -> policy.EmailPolicy[EmailMessage]:
    registry = HeaderRegistry()
    registry.map_to_type("in-reply-to", _MsgIdListHeader)
    registry.map_to_type("references", _MsgIdListHeader)
    return policy.SMTP.clone(header_factory=registry)


REPLY_POLICY = _make_policy()


def compose_reply(
    item: OutboxItem,
    *,
    from_address: str,
    from_name: str,
    renderer: Renderer,
) -> EmailMessage:
    """The reply as a multipart/alternative message, ready for `smtplib.send_message`.

    Raises ValueError when an address cannot be written into a header (a malformed
    recipient): no retry can fix that.
    """
    message = EmailMessage(policy=REPLY_POLICY)
    message["Message-ID"] = _angle(item.message_id)
    message["Date"] = item.created_at
    message["From"] = _address(from_address, from_name)
    message["To"] = _address(item.recipient, "")
    message["Subject"] = _one_line(item.subject)
    parent = _clean_id(item.in_reply_to or "")
    if parent:
        message["In-Reply-To"] = _angle(parent)
    references = thread_references(item.references, parent)
    if references:
        message["References"] = " ".join(_angle(ref) for ref in references)
    # Asks Exchange and Outlook not to send out-of-office or other auto-replies back to us
    # (MS-OXCMAIL §2.1.3.2.20); it is a request, so intake still runs loop detection.
    message["X-Auto-Response-Suppress"] = "All"
    if item.automatic:
        # RFC 3834 §5: only mail no person approved is automatic. A human-approved reply
        # carries no Auto-Submitted, so customers' own autoresponders may still answer it.
        message["Auto-Submitted"] = "auto-replied"

    body = item.body.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    context = {
        "body": body,
        "paragraphs": split_paragraphs(body),
        "subject": item.subject,
        "ref": find_subject_ref(item.subject) or "",
        "from_name": from_name,
    }
    # Quoted-printable keeps every line 7-bit and short whatever the text, so no relay has
    # to support 8BITMIME and long paragraphs survive line-length limits.
    message.set_content(
        renderer.render([TEXT_TEMPLATE], context), charset="utf-8", cte="quoted-printable"
    )
    message.add_alternative(
        renderer.render([HTML_TEMPLATE], context),
        subtype="html",
        charset="utf-8",
        cte="quoted-printable",
    )
    return message


def thread_references(references: tuple[str, ...], parent: str) -> list[str]:
    """The References ids: the stored chain, then the parent if missing (RFC 5322 §3.6.4:
    the parent's References followed by the parent's Message-ID), invalid ids dropped."""
    chain: list[str] = []
    for ref in (*references, parent):
        cleaned = _clean_id(ref)
        if cleaned and cleaned not in chain:
            chain.append(cleaned)
    return chain


def split_paragraphs(text: str) -> list[list[str]]:
    """Paragraphs at blank lines, each a list of its lines, for the HTML part."""
    return [
        [line.strip() for line in block.split("\n")]
        for block in _BLANK_LINES.split(text.strip("\n"))
        if block.strip()
    ]


def _one_line(value: str) -> str:
    """Header text on one line: a line break in a customer's subject must not become a
    header of its own (the stdlib refuses it, which would fail the reply for good)."""
    return " ".join(value.split())


def _clean_id(value: str) -> str:
    cleaned = value.strip().strip("<>").strip()
    return cleaned if _MSG_ID.fullmatch(cleaned) else ""


def _angle(message_id: str) -> str:
    return f"<{message_id.strip().strip('<>')}>"


def _address(addr_spec: str, display_name: str) -> Address:
    # Address quotes display names with specials ("Acme, Inc.") and encodes non-ASCII ones
    # (RFC 2047) when the header is written; it raises ValueError on a malformed addr-spec.
    return Address(display_name=display_name, addr_spec=addr_spec.strip())
