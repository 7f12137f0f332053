"""Read header fields from a parsed mail without ever raising, whatever the sender's client wrote.

`EmailMessage.__getitem__` parses lazily and can raise on malformed values, turns raw 8-bit bytes
into U+FFFD, and keeps undecodable encoded words as surrogates. These helpers start from the raw
stored value instead (`raw_items()`), repair 8-bit text first (RFC 6532 allows UTF-8; older clients
send Latin-1), and only then let the stdlib header registry decode RFC 2047 encoded words.
"""

from __future__ import annotations

import re
from email import policy
from email.message import Message
from email.utils import getaddresses

from channels.email.charsets import scrub_text

_LINE_BREAKS = re.compile(r"\r\n|\r|\n")
_WHITESPACE = re.compile(r"\s+")
# Deliberately plain: a fallback for values the RFC 5322 parser gave up on, not a validator.
_LOOSE_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_ANGLE_ID = re.compile(r"<([^<>]*)>")


def read_raw_values(msg: Message, name: str) -> list[str]:
    """Every value of header `name`, unfolded and with 8-bit bytes decoded, in order."""
    wanted = name.lower()
    values: list[str] = []
    for key, value in msg.raw_items():
        if key.lower() == wanted:
            values.append(scrub_text(_LINE_BREAKS.sub("", str(value))))
    return values


def read_raw_value(msg: Message, name: str) -> str | None:
    """The first value of header `name` (see `read_raw_values`), or None when absent."""
    values = read_raw_values(msg, name)
    return values[0] if values else None


def has_header(msg: Message, name: str) -> bool:
    """Whether header `name` is present at all, whatever its value."""
    wanted = name.lower()
    return any(key.lower() == wanted for key in msg.keys())


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words in an unstructured value; keep the value if that fails."""
    if "=?" not in value:
        return value
    try:
        # Any name outside the registry's table gets the unstructured parser.
        decoded = str(policy.default.header_factory("X-Unstructured", value))
    except Exception:  # the header parser has raised on hostile input before
        return value
    return scrub_text(decoded)


def read_text(msg: Message, name: str) -> str:
    """The decoded first value of an unstructured header such as Subject, whitespace collapsed."""
    value = read_raw_value(msg, name)
    if value is None:
        return ""
    return _WHITESPACE.sub(" ", decode_words(value)).strip()


def read_addresses(msg: Message, name: str) -> list[tuple[str, str]]:
    """(display name, addr_spec) pairs of an address header, across all its occurrences.

    Empty addr_specs (what a garbage value such as `@@@` parses to) are dropped. When the RFC 5322
    parser finds nothing usable, a loose pattern still rescues a bare address from the value.
    """
    pairs: list[tuple[str, str]] = []
    for value in read_raw_values(msg, name):
        pairs.extend(parse_address_list(value))
    return pairs


def parse_address_list(value: str) -> list[tuple[str, str]]:
    """Parse one address-list value leniently; see `read_addresses`."""
    pairs: list[tuple[str, str]] = []
    try:
        header = policy.default.header_factory("To", value)
        for address in header.addresses:
            addr_spec = address.addr_spec.strip()
            if addr_spec and addr_spec != "<>":
                pairs.append((scrub_text(address.display_name), scrub_text(addr_spec)))
    except Exception:  # the header parser has raised on hostile input before
        pairs = [(scrub_text(n), a.strip()) for n, a in getaddresses([value]) if a.strip()]
    if not any(is_plausible_address(addr) for _, addr in pairs):
        pairs.extend(("", found) for found in _LOOSE_ADDRESS.findall(value))
    return pairs


def is_plausible_address(addr_spec: str) -> bool:
    """Whether a string looks like local@domain: enough to reply to, not a validation."""
    local, at, domain = addr_spec.rpartition("@")
    return bool(at and local and domain) and not any(ch.isspace() for ch in addr_spec)


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
