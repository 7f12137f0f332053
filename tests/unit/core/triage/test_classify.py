"""Category rules: whole-word matching, subject over body, fallback, and a validated policy."""

import tomllib

import pytest
from pydantic import TypeAdapter

from core.triage.classify import (
    CategoryPolicy,
    CategoryRule,
    classify,
    validate_category_policy,
)

POLICY = CategoryPolicy()


@pytest.mark.parametrize(
    ("subject", "text", "category"),
    [
        ("Invoice copy", "Could you send me a copy of last month's invoice? Thanks", "billing"),
        ("", "I was double-charged for my plan this month", "billing"),
        ("URGENT", "Our production database is down and the API returns error 502", "technical"),
        ("Hello", "I forgot my password and I'm locked out", "account"),
        ("Where is my parcel?", "The tracking number shows nothing", "shipping"),
        ("", "My order has not arrived yet", "shipping"),
    ],
)
def test_default_rules_pick_the_obvious_category(subject: str, text: str, category: str) -> None:
    assert classify(subject=subject, text=text, policy=POLICY).category == category


def test_no_match_falls_back_with_zero_confidence() -> None:
    result = classify(subject="Question", text="What are your opening hours?", policy=POLICY)
    assert (result.category, result.confidence, result.matched) == ("general", 0.0, ())


def test_keywords_match_whole_words_only() -> None:
    result = classify(subject="", text="We made a billion downloads", policy=POLICY)
    assert result.category == "general"


def test_keyword_phrases_allow_any_whitespace_and_case() -> None:
    result = classify(subject="", text="I am LOCKED\n  OUT", policy=POLICY)
    assert result.matched == ("locked out",)


def test_subject_outweighs_body() -> None:
    policy = CategoryPolicy(
        rules=(
            CategoryRule("billing", keywords=("invoice",)),
            CategoryRule("shipping", ("parcel",)),
        )
    )
    by_subject = classify(subject="invoice", text="parcel", policy=policy)
    by_body = classify(subject="parcel", text="invoice", policy=policy)
    assert (by_subject.category, by_body.category) == ("billing", "shipping")


def test_tie_goes_to_the_earlier_category() -> None:
    policy = CategoryPolicy(
        rules=(CategoryRule("shipping", ("parcel",)), CategoryRule("billing", ("invoice",)))
    )
    assert classify(subject="", text="parcel invoice", policy=policy).category == "billing"


def test_confidence_grows_with_agreeing_evidence_and_drops_with_conflict() -> None:
    one = classify(subject="", text="invoice", policy=POLICY).confidence
    many = classify(subject="", text="invoice, refund and VAT", policy=POLICY).confidence
    mixed = classify(subject="", text="invoice for the parcel delivery", policy=POLICY).confidence
    assert 0 < mixed < one < many < 1


def test_repeating_a_keyword_counts_once() -> None:
    once = classify(subject="", text="invoice", policy=POLICY)
    often = classify(subject="", text="invoice invoice invoice", policy=POLICY)
    assert once.confidence == often.confidence
    assert often.matched == ("invoice",)


def test_patterns_fire_and_are_reported() -> None:
    result = classify(subject="", text="You took €49.00 from me", policy=POLICY)
    assert result.category == "billing"
    assert result.matched == (r"[$€£]\s?\d",)


def test_custom_taxonomy_is_data() -> None:
    policy = CategoryPolicy(
        categories=("returns", "other"),
        fallback="other",
        rules=(CategoryRule("returns", patterns=(r"\bsend (?:it )?back\b",)),),
    )
    assert classify(subject="", text="I want to send it back", policy=policy).category == "returns"
    assert classify(subject="", text="invoice", policy=policy).category == "other"


def test_validation_names_the_bad_rule() -> None:
    unknown = CategoryPolicy(
        rules=(CategoryRule("billing", ("x",)), CategoryRule("refunds", ("y",)))
    )
    with pytest.raises(ValueError, match=r"rule #1 \('refunds'\): unknown category"):
        validate_category_policy(unknown)
    bad_regex = CategoryPolicy(rules=(CategoryRule("billing", patterns=("[unclosed",)),))
    with pytest.raises(ValueError, match=r"rule #0 \('billing'\): invalid regex '\[unclosed'"):
        validate_category_policy(bad_regex)
    with pytest.raises(ValueError, match="fallback"):
        validate_category_policy(CategoryPolicy(fallback="misc"))
    validate_category_policy(POLICY)


def test_policy_loads_from_toml() -> None:
    data = tomllib.loads(
        """
        categories = ["bugs", "other"]
        fallback = "other"
        subject_weight = 3.0
        [[rules]]
        category = "bugs"
        keywords = ["crash"]
        """
    )
    policy = TypeAdapter(CategoryPolicy).validate_python(data)
    assert policy.rules == (CategoryRule("bugs", keywords=("crash",)),)
    assert classify(subject="", text="it may crash", policy=policy).category == "bugs"
