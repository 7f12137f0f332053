"""What a model learns to predict, and the one spelling of each target's labels.

Exports spell labels many ways ("p1", "1", "Negative", a 1–5 star score); normalising them
here means a model trained on one export can be evaluated on another.
"""

from __future__ import annotations

from enum import StrEnum

from core.errors import InvalidInput


class Target(StrEnum):
    CATEGORY = "category"
    PRIORITY = "priority"
    SENTIMENT = "sentiment"


NEGATIVE, NEUTRAL, POSITIVE = "negative", "neutral", "positive"
_SENTIMENT_NAMES = {
    "negative": NEGATIVE,
    "neg": NEGATIVE,
    "neutral": NEUTRAL,
    "neu": NEUTRAL,
    "positive": POSITIVE,
    "pos": POSITIVE,
}
# Our sentiment level runs 1 (happy) .. 5 (angry); a 3-class label sits at these levels.
LEVEL_OF_CLASS = {NEGATIVE: 4, NEUTRAL: 3, POSITIVE: 1}


def sentiment_class(level: int) -> str:
    """The 3-class label of a 1 (happy) .. 5 (angry) level. Level 2 is a calm, courteous
    message ("Could you send the invoice? Thanks"): neutral, since nobody is pleased yet."""
    return NEGATIVE if level >= 4 else POSITIVE if level == 1 else NEUTRAL


def normalize_label(target: Target, raw: str) -> str:
    """The canonical label for `raw`, or InvalidInput naming it and what is accepted."""
    label = raw.strip()
    if target is Target.CATEGORY:
        return label
    if target is Target.PRIORITY:
        digits = label.upper().removeprefix("P")
        if digits in {"0", "1", "2", "3"}:
            return f"P{digits}"
        raise InvalidInput(f"priority label {raw!r}: use P0–P3 or 0–3 (0 most urgent)")
    if label.lower() in _SENTIMENT_NAMES:
        return _SENTIMENT_NAMES[label.lower()]
    if label in {"1", "2", "3", "4", "5"}:
        return sentiment_class(int(label))
    raise InvalidInput(
        f"sentiment label {raw!r}: use negative/neutral/positive or a level 1 (happy)–5 (angry)"
    )


def normalize_labels(target: Target, raw: tuple[str, ...]) -> tuple[str, ...]:
    cache: dict[str, str] = {}
    return tuple(cache.get(r) or cache.setdefault(r, normalize_label(target, r)) for r in raw)
