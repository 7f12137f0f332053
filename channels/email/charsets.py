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

# 8-bit relatives to try after a 7-bit hint, keyed by codec-name prefix.
_HINT_FAMILIES: dict[str, tuple[str, ...]] = {
    "iso2022_jp": ("cp932", "euc_jp"),
    "iso2022_kr": ("cp949",),
}

# The codecs whose label is so often wrong that valid UTF-8 beats it.
_WEAK_LABELS = frozenset({"windows-1252"})

_SURROGATE_RUN = re.compile("[\ud800-\udfff]+")

_CP1252_FALLBACK = "supportbot-cp1252-fallback"


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
    codec = resolve_charset(label)
    if data.isascii() and not is_seven_bit_stateful(codec):
        return data.decode("ascii")
    if codec is None or codec in _WEAK_LABELS:
        return decode_guessing(data)
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        pass
    if codec == "utf-8":
        return decode_mixed(data)
    if not data.isascii():  # ASCII bytes "valid as UTF-8" say nothing: keep the label then
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return data.decode(codec, errors="replace")


def is_seven_bit_stateful(codec: str | None) -> bool:
    """Whether a codec encodes non-ASCII text in ASCII bytes (ISO-2022-*, UTF-7, HZ): such
    bodies look like ASCII but must still be decoded."""
    return codec is not None and codec.replace("_", "-").startswith(
        ("iso2022", "iso-2022", "utf-7", "hz")
    )


def decode_guessing(data: bytes, hint: str | None = None) -> str:
    """Decode 8-bit bytes without a trustworthy label: UTF-8, else the hint (a charset declared
    elsewhere in the same mail), else UTF-8 with windows-1252 for the bytes that are not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    for codec in expand_hint(resolve_charset(hint)):
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            pass
    return decode_mixed(data)


def decode_mixed(data: bytes) -> str:
    """Decode bytes that are not valid UTF-8: valid sequences as UTF-8, every other byte as
    windows-1252 (Latin-1 for its five undefined bytes).

    This is right both for Latin-1 text under a UTF-8 label (no sequence is valid, so every byte
    becomes its cp1252 letter) and for text pasted together from UTF-8 and Latin-1 sources, which
    support mail that went through several clients often is.
    """
    return data.decode("utf-8", errors=_CP1252_FALLBACK)


def decode_byte_as_cp1252(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler for `decode_mixed`: the offending bytes as windows-1252."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    text = "".join(
        bytes([byte]).decode("windows-1252", errors="ignore") or chr(byte) for byte in bad
    )
    return text, error.end


def expand_hint(codec: str | None) -> tuple[str, ...]:
    """The hinted codec and, for 7-bit Japanese and Korean mail, the 8-bit encodings the same
    senders use in raw headers (a Shift_JIS subject on an ISO-2022-JP body is common)."""
    if codec is None or codec in _WEAK_LABELS:
        return ()
    relatives = [extra for prefix, extra in _HINT_FAMILIES.items() if codec.startswith(prefix)]
    return (codec, *(name for names in relatives for name in names))


def scrub_text(text: str, hint: str | None = None) -> str:
    """Make a string safe to store: no lone surrogates, no NUL characters.

    The stdlib email package smuggles undecodable header bytes through as surrogate escapes
    (U+DC80–U+DCFF), which cannot be encoded to UTF-8 and so break databases and JSON; each run is
    decoded as the bytes it stands for (see `decode_guessing` for `hint`). PostgreSQL rejects NUL
    in text columns.
    """
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not _SURROGATE_RUN.search(text):
        return text
    try:
        # Raw header values are ASCII plus escapes: decode them whole, because a multi-byte
        # character (Shift_JIS, GBK) can have an ASCII second byte that splits the runs.
        return decode_guessing(text.encode("ascii", "surrogateescape"), hint)
    except UnicodeEncodeError:
        pass
    return _SURROGATE_RUN.sub(lambda match: decode_surrogate_run(match.group(), hint), text)


def decode_surrogate_run(run: str, hint: str | None) -> str:
    """Turn one run of surrogate escapes back into bytes and decode those."""
    if all("\udc80" <= ch <= "\udcff" for ch in run):
        return decode_guessing(bytes(ord(ch) - 0xDC00 for ch in run), hint)
    return "\ufffd" * len(run)


codecs.register_error(_CP1252_FALLBACK, decode_byte_as_cp1252)
