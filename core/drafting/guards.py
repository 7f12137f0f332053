"""Checks on what goes to a remote model and on what comes back, before an agent sees it.

Pure functions. Redaction replaces e-mail addresses, phone numbers, card-like numbers (13–19
digits passing the Luhn check) and IBANs with labelled placeholders, so a remote model can
still write "we will contact you at [EMAIL]" without receiving the value. The commitment check
does not block anything (nothing is sent without approval, DESIGN §3.3): it tells the approver
where the draft promises money, dates or legal positions.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_PHONE = re.compile(r"(?<![\w@])\+?\(?\d[\d ()./-]{6,}\d\b")


def _is_luhn(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[CARD]" if 13 <= len(digits) <= 19 and _is_luhn(digits) else match.group(0)


def _phone(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[PHONE]" if 7 <= len(digits) <= 15 else match.group(0)


def redact_pii(text: str) -> str:
    """`text` with e-mail addresses, IBANs, card numbers and phone numbers replaced."""
    text = _EMAIL.sub("[EMAIL]", text)
    text = _IBAN.sub("[IBAN]", text)
    text = _CARD.sub(_card, text)
    return _PHONE.sub(_phone, text)


# (pattern, what the approver is told). English and German wording, as our templates.
_COMMITMENTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"\b(refund(ed|s)?|reimburs\w*|money back|erstatt\w*|rückzahlung)\b", re.I),
        "promises a refund",
    ),
    (
        re.compile(r"\b(credit(ed|s)?|discount|voucher|free of charge|gutschrift)\b", re.I),
        "offers a credit or discount",
    ),
    (
        re.compile(
            r"\b(by|until|before|on|bis)\s+(monday|tuesday|wednesday|thursday|friday|saturday|"
            r"sunday|tomorrow|today|the end of|\d{1,2}[./]\d{1,2}|\d{4}-\d{2}-\d{2}|"
            r"january|february|march|april|may|june|july|august|september|october|"
            r"november|december)\b|\bwithin \d+ (hours?|days?|weeks?)\b",
            re.I,
        ),
        "commits to a date or deadline",
    ),
    (
        re.compile(
            r"\b(guarantee\w*|liab\w*|legal\w*|lawyer|gdpr|dsgvo|compensat\w*|warrant\w*|"
            r"breach|court|haftung)\b",
            re.I,
        ),
        "makes a legal statement",
    ),
)


def find_commitments(text: str) -> list[str]:
    """What the draft commits to, for the approver to check; empty when nothing."""
    return [label for pattern, label in _COMMITMENTS if pattern.search(text)]


def check_length(text: str, *, min_chars: int = 20, max_chars: int = 4000) -> str | None:
    """Why the text's length is unusable, or None."""
    size = len(text.strip())
    if size < min_chars:
        return f"too short ({size} characters)"
    if size > max_chars:
        return f"too long ({size} characters, limit {max_chars})"
    return None


def check_language(text: str, expected: str, *, detect: Callable[[str], str]) -> str | None:
    """A note when the draft is not in the customer's language, or None."""
    found = detect(text)
    return None if found == expected else f"written in '{found}', the customer wrote '{expected}'"


def review(text: str, *, language: str, detect: Callable[[str], str]) -> tuple[str, ...]:
    """Every flag the guards raise on a finished draft."""
    flags = [f"commitment: {label}" for label in find_commitments(text)]
    if (note := check_language(text, language, detect=detect)) is not None:
        flags.append(f"language: {note}")
    if (note := check_length(text)) is not None:
        flags.append(f"length: {note}")
    return tuple(flags)
