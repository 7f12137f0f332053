"""Threading identifiers: our verifiable Message-IDs, the subject token, reply prefixes.

A follow-up is matched first by the Message-IDs it references (RFC 5322 §3.6.4), which we
can verify because ours carry an HMAC tag; the `[#T42]` subject token is a weaker signal
that intake trusts only from the ticket's own customer.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_OWN_ID = re.compile(
    r"^sb\.(?P<ref>T\d+)\.(?P<draft>\d+)\.(?P<version>\d+)\.(?P<tag>[0-9a-f]{16})@"
)
_SUBJECT_TOKEN = re.compile(r"\[#(T\d+)\]")
# Localized reply and forward prefixes: English, German (AW, WG), Nordic (SV, VS, VB),
# French (TR, RE), Dutch (Antw, Doorst), Spanish/Italian (RV, R, I), Polish (Odp, PD).
_REPLY_PREFIX = re.compile(
    r"^\s*((re|aw|sv|vs|vb|antw|odp|rv|r|fw|fwd|wg|tr|doorst|pd|i|enc)"
    r"(\[\d+\])?\s*:\s*)+",
    re.IGNORECASE,
)


def _tag(secret: bytes, token: str) -> str:
    return hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()[:16]


def make_message_id(*, ref: str, draft_id: int, version: int, secret: bytes, domain: str) -> str:
    """A deterministic id for one approved draft version, so a resend reuses it (no brackets)."""
    token = f"{ref}.{draft_id}.{version}"
    return f"sb.{token}.{_tag(secret, token)}@{domain}"


def ref_from_message_id(message_id: str, *, secret: bytes) -> str | None:
    """The ticket ref inside one of our Message-IDs, or None if it is not ours or forged."""
    match = _OWN_ID.match(message_id.strip("<> "))
    if match is None:
        return None
    token = f"{match['ref']}.{match['draft']}.{match['version']}"
    if not hmac.compare_digest(_tag(secret, token), match["tag"]):
        return None
    return match["ref"]


def find_subject_ref(subject: str) -> str | None:
    match = _SUBJECT_TOKEN.search(subject)
    return match.group(1) if match else None


def strip_reply_prefixes(subject: str) -> str:
    return _REPLY_PREFIX.sub("", subject).strip()


def reply_subject(subject: str, ref: str) -> str:
    """`Re: <original> [#T42]`: one prefix, one token, however long the thread has run."""
    base = _SUBJECT_TOKEN.sub("", strip_reply_prefixes(subject)).strip() or "Your request"
    return f"Re: {base} [#{ref}]"
