"""Decode mail bytes to text when the declared charset is missing, misspelt or wrong.

`EmailMessage.get_content()` raises `LookupError` on names Python does not know (`unknown-8bit`,
`x-unknown`, `ks_c_5601-1987` spelt oddly…) and silently inserts U+FFFD when a body labelled
UTF-8 is really Latin-1. Support mail is full of both, so body and header bytes are decoded here
with a fixed order of guesses instead.
"""

from __future__ import annotations

import codecs
import re

# Labels seen in the wild mapped to the codec that decodes them best. Latin-1 and ASCII map to
# windows-1252 as browsers do (WHATWG Encoding Standard): senders that say ISO-8859-1 routinely
# use cp1252's € and curly quotes in 0x80–0x9F. `None` means "the label tells us nothing".
_CHARSET_ALIASES: dict[str, str | None] = {
    "utf8": "utf-8",
    "utf-8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "us-ascii": "windows-1252",
    "ascii": "windows-1252",
    "ansi_x3.4-1968": "windows-1252",
    "iso-8859-1": "windows-1252",
    "iso8859-1": "windows-1252",
    "iso_8859-1": "windows-1252",
    "iso-8859-1:1987": "windows-1252",
    "latin1": "windows-1252",
    "latin-1": "windows-1252",
    "l1": "windows-1252",
    "cp1252": "windows-1252",
    "windows-1252": "windows-1252",
    "x-cp1252": "windows-1252",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "ks_c_5601-1989": "cp949",
    "euc-kr": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "big5": "big5hkscs",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "iso-2022-jp": "iso2022_jp_2",
    "iso-8859-8-i": "iso-8859-8",
    "windows-874": "cp874",
    "tis-620": "cp874",
    "unknown-8bit": None,
    "x-unknown": None,
    "unknown": None,
    "x-user-defined": None,
    "default": None,
    "charset": None,
}

# The codecs whose label is so often wrong that valid UTF-8 beats it.
_WEAK_LABELS = frozenset({"windows-1252"})

_SURROGATE_RUN = re.compile("[\ud800-\udfff]+")


def resolve_charset(label: str | None) -> str | None:
    """Map a declared charset label to a Python codec name, or None when it is unusable."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    if name in _CHARSET_ALIASES:
        return _CHARSET_ALIASES[name]
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):
        return None


def decode_bytes(data: bytes, label: str | None = None) -> str:
    """Decode body or header bytes, trusting the label only as far as the bytes allow.

    Order: a label we know and that decodes cleanly; otherwise UTF-8 if the bytes are valid
    UTF-8; otherwise windows-1252 (then Latin-1, which never fails) for unlabelled 8-bit text.
    """
    if not data:
        return ""
    if data.isascii():
        return data.decode("ascii")
    codec = resolve_charset(label)
    if codec is None or codec in _WEAK_LABELS:
        return decode_guessing(data)
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        pass
    if codec == "utf-8":
        return decode_broken_utf8(data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode(codec, errors="replace")


def decode_guessing(data: bytes) -> str:
    """Decode 8-bit bytes without a trustworthy label: UTF-8, else windows-1252, else Latin-1."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("windows-1252")
    except UnicodeDecodeError:
        # cp1252 leaves five bytes undefined; Latin-1 maps every byte.
        return data.decode("latin-1")


def decode_broken_utf8(data: bytes) -> str:
    """Decode bytes labelled UTF-8 that are not valid UTF-8.

    If no multi-byte sequence in them is valid the sender's client wrote a legacy 8-bit charset
    under a UTF-8 label, so windows-1252 gives the right letters; otherwise they are UTF-8 with a
    few damaged bytes, and replacement characters lose the least.
    """
    lenient = data.decode("utf-8", errors="replace")
    if any(ord(ch) > 0x7F and ch != "\ufffd" for ch in lenient):
        return lenient
    return decode_guessing(data)


def scrub_text(text: str) -> str:
    """Make a string safe to store: no lone surrogates, no NUL characters.

    The stdlib email package smuggles undecodable header bytes through as surrogate escapes
    (U+DC80–U+DCFF), which cannot be encoded to UTF-8 and so break databases and JSON; each run is
    decoded as the bytes it stands for. PostgreSQL rejects NUL in text columns.
    """
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not _SURROGATE_RUN.search(text):
        return text
    return _SURROGATE_RUN.sub(decode_surrogate_run, text)


def decode_surrogate_run(match: re.Match[str]) -> str:
    """Turn one run of surrogate escapes back into bytes and decode those."""
    run = match.group()
    if all("\udc80" <= ch <= "\udcff" for ch in run):
        return decode_guessing(bytes(ord(ch) - 0xDC00 for ch in run))
    return "\ufffd" * len(run)
