"""Label spellings from different exports meet in one canonical form per target."""

import pytest

from core.errors import InvalidInput
from core.learning.targets import Target, normalize_label, normalize_labels, sentiment_class


@pytest.mark.parametrize(
    ("raw", "label"),
    [("P1", "P1"), ("p2", "P2"), ("0", "P0"), (" 3 ", "P3")],
)
def test_priority_spellings(raw: str, label: str) -> None:
    assert normalize_label(Target.PRIORITY, raw) == label


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("Negative", "negative"),
        ("neu", "neutral"),
        ("POS", "positive"),
        ("5", "negative"),
        ("2", "neutral"),
        ("1", "positive"),
    ],
)
def test_sentiment_spellings(raw: str, label: str) -> None:
    assert normalize_label(Target.SENTIMENT, raw) == label


def test_categories_are_kept_as_written() -> None:
    assert normalize_labels(Target.CATEGORY, (" card_arrival ", "Billing")) == (
        "card_arrival",
        "Billing",
    )


@pytest.mark.parametrize(
    ("target", "raw"), [(Target.PRIORITY, "P4"), (Target.PRIORITY, "high"), (Target.SENTIMENT, "6")]
)
def test_unknown_labels_are_named(target: Target, raw: str) -> None:
    with pytest.raises(InvalidInput, match=repr(raw)):
        normalize_label(target, raw)


def test_level_two_is_calm_not_pleased() -> None:
    assert [sentiment_class(level) for level in range(1, 6)] == [
        "positive",
        "neutral",
        "neutral",
        "negative",
        "negative",
    ]
