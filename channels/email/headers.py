"""Read header fields from a parsed mail without ever raising, whatever the sender's client wrote.

`EmailMessage.__getitem__` parses lazily and can raise on malformed values, turns raw 8-bit bytes
into U+FFFD, and keeps undecodable encoded words as surrogates. These helpers start from the raw
stored value instead (`raw_items()`), repair 8-bit text first (RFC 6532 allows UTF-8; older clients
send Latin-1), and only then let the stdlib header registry decode RFC 2047 encoded words.
"""

from __future__ import annotations

import functools
import re
from email import policy
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import Message
from email.utils import getaddresses

from channels.email.charsets import resolve_charset, scrub_text

_LINE_BREAKS = re.compile(r"\r\n|\r|\n")
_WHITESPACE = re.compile(r"\s+")
# Deliberately plain: a fallback for values the RFC 5322 parser gave up on, not a validator.
_LOOSE_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_ANGLE_ID = re.compile(r"<([^<>]*)>")
# RFC 2045 §5.1 token "/" token, at the start of a Content-Type value.
_MIME_TYPE = re.compile(r"\s*([!#$%&'*+.^`|~\w-]+/[!#$%&'*+.^`|~\w-]+)")
# The start of an RFC 2047 encoded word up to its encoding letter; RFC 2231 §5 allows `*lang`.
_ENCODED_WORD_START = re.compile(r"=\?([^?*\s]+)((?:\*[^?\s]*)?\?[bBqQ]\?)")


class _RememberingRegistry(HeaderRegistry):
    """The stdlib's header registry, remembering the last headers it parsed.

    The modern policy parses a header anew every time it is read, and reading one message
    asks for the same few many times over (the feed parser alone reads each part's
    Content-Type three times; the loop rules and the sender each read From): that was over
    half of the parse time. Header objects are immutable, so handing out the same one is safe.
    """

    def __init__(self) -> None:
        super().__init__()
        self._parse = functools.lru_cache(maxsize=128)(super().__call__)

    def __call__(self, name: str, value: str) -> BaseHeader:
        header: BaseHeader = self._parse(name, value)
        return header


# `policy.default` with the remembering registry: what inbound mail is parsed with.
PARSE_POLICY = policy.default.clone(header_factory=_RememberingRegistry())


def read_raw_values(msg: Message, name: str, *, hint: str | None = None) -> list[str]:
    """Every value of header `name`, unfolded and with 8-bit bytes decoded, in order.

    `hint` is a charset declared elsewhere in the mail: raw 8-bit headers that are not UTF-8 are
    most likely in the body's charset (Shift_JIS, GBK…), which beats guessing windows-1252.
    """
    wanted = name.lower()
    values: list[str] = []
    for key, value in msg.raw_items():
        if key.lower() == wanted:
            values.append(scrub_text(_LINE_BREAKS.sub("", str(value)), hint))
    return values


def read_raw_value(msg: Message, name: str, *, hint: str | None = None) -> str | None:
    """The first value of header `name` (see `read_raw_values`), or None when absent."""
    values = read_raw_values(msg, name, hint=hint)
    return values[0] if values else None


def has_header(msg: Message, name: str) -> bool:
    """Whether header `name` is present at all, whatever its value."""
    wanted = name.lower()
    return any(key.lower() == wanted for key, _ in msg.raw_items())


def decode_words(value: str, hint: str | None = None) -> str:
    """Decode RFC 2047 encoded words in an unstructured value; keep the value if that fails."""
    if "=?" not in value:
        return value
    try:
        # Any name outside the registry's table gets the unstructured parser.
        decoded = str(PARSE_POLICY.header_factory("X-Unstructured", rename_word_charsets(value)))
    except Exception:  # the header parser has raised on hostile input before
        return value
    return scrub_text(decoded, hint)


def rename_word_charsets(value: str) -> str:
    """Swap the charset label of each RFC 2047 encoded word for the codec that decodes it best,
    e.g. `gb2312` → `gb18030`: senders label GBK text as GB2312, and the stdlib trusts labels."""

    def rename(match: re.Match[str]) -> str:
        codec = resolve_charset(match.group(1))
        return f"=?{codec or match.group(1)}{match.group(2)}"

    return _ENCODED_WORD_START.sub(rename, value)


def read_text(msg: Message, name: str, *, hint: str | None = None) -> str:
    """The decoded first value of an unstructured header such as Subject, whitespace collapsed."""
    value = read_raw_value(msg, name, hint=hint)
    if value is None:
        return ""
    return _WHITESPACE.sub(" ", decode_words(value, hint)).strip()


def read_addresses(msg: Message, name: str, *, hint: str | None = None) -> list[tuple[str, str]]:
    """(display name, addr_spec) pairs of an address header, across all its occurrences.

    Empty addr_specs (what a garbage value such as `@@@` parses to) are dropped. When the RFC 5322
    parser finds nothing usable, a loose pattern still rescues a bare address from the value.
    """
    pairs: list[tuple[str, str]] = []
    for value in read_raw_values(msg, name, hint=hint):
        pairs.extend(parse_address_list(value, hint=hint))
    return pairs


def parse_address_list(value: str, *, hint: str | None = None) -> list[tuple[str, str]]:
    """Parse one address-list value leniently; see `read_addresses`."""
    pairs: list[tuple[str, str]] = []
    try:
        header = PARSE_POLICY.header_factory("To", value)
        for address in header.addresses:
            addr_spec = address.addr_spec.strip()
            if addr_spec and addr_spec != "<>":
                pairs.append((scrub_text(address.display_name, hint), scrub_text(addr_spec)))
    except Exception:  # the header parser has raised on hostile input before
        pairs = [(scrub_text(n, hint), a.strip()) for n, a in getaddresses([value]) if a.strip()]
    if not any(is_plausible_address(addr) for _, addr in pairs):
        pairs.extend(("", found) for found in _LOOSE_ADDRESS.findall(value))
    return pairs


def is_plausible_address(addr_spec: str) -> bool:
    """Whether a string looks like local@domain: enough to reply to, not a validation."""
    local, at, domain = addr_spec.rpartition("@")
    return bool(at and local and domain) and not any(ch.isspace() for ch in addr_spec)


def read_mime_type(part: Message) -> str:
    """The lower-cased `type/subtype` of a part, like `get_content_type()` but without building
    the full header object, which costs more than the rest of the parse on multipart mail.

    As in the stdlib (RFC 2045 §5.2), a missing or invalid value means the default type.
    """
    value = read_raw_value(part, "Content-Type")
    match = _MIME_TYPE.match(value) if value else None
    if match is None:
        return part.get_default_type() if value is None else "text/plain"
    return match.group(1).lower()


def read_mime_param(part: Message, name: str, *, header: str = "Content-Type") -> str | None:
    """A simple (not RFC 2231-encoded) parameter such as `charset` or `report-type`, or None."""
    value = read_raw_value(part, header)
    if not value:
        return None
    pattern = rf'(?:^|;)\s*{re.escape(name)}\s*=\s*(?:"([^"]*)"|([^;\s]+))'
    match = re.search(pattern, value, re.IGNORECASE)
    if match is None:
        return None
    found = match.group(1) if match.group(1) is not None else match.group(2)
    return found.strip() or None


def read_disposition(part: Message) -> str | None:
    """The lower-cased disposition type (`inline`, `attachment`; RFC 2183), or None."""
    value = read_raw_value(part, "Content-Disposition")
    if not value:
        return None
    token = value.split(";", 1)[0].strip().lower()
    return token or None


def list_children(part: Message) -> list[Message]:
    """The sub-parts of a multipart (or the message inside a message/*), else nothing."""
    payload = part.get_payload() if part.is_multipart() else None
    if not isinstance(payload, list):
        return []
    return [child for child in payload if isinstance(child, Message)]


def read_ids(msg: Message, name: str) -> tuple[str, ...]:
    """Message-IDs from Message-ID, In-Reply-To or References, without angle brackets.

    RFC 5322 §3.6.4 wants `<id>` tokens; clients add comments, phrases ("Your message of …") and
    commas between them, and a few omit the brackets, so bracketed tokens win and bare tokens that
    contain "@" are the fallback.
    """
    ids: list[str] = []
    for value in read_raw_values(msg, name):
        found = _ANGLE_ID.findall(value)
        if not found:
            found = [token for token in re.split(r"[\s,]+", value) if "@" in token]
        for candidate in found:
            cleaned = _WHITESPACE.sub("", candidate).strip("<>")
            if cleaned and cleaned not in ids:
                ids.append(cleaned)
    return tuple(ids)


def read_message_id(msg: Message) -> str | None:
    """This message's own id without brackets or whitespace, or None when missing or empty."""
    value = read_raw_value(msg, "Message-ID")
    if value is None:
        return None
    found = _ANGLE_ID.findall(value)
    candidate = found[0] if found else value
    cleaned = _WHITESPACE.sub("", candidate).strip("<>")
    return cleaned or None
