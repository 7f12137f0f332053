"""Sentiment: VADER plus support-domain rules must read frustration and politeness correctly."""

import tomllib

import pytest
from pydantic import TypeAdapter

from core.triage.sentiment import (
    SentimentPolicy,
    SentimentRule,
    score_sentiment,
    validate_sentiment_policy,
)

POLICY = SentimentPolicy()
OUTAGE = (
    "URGENT: our production database is down and customers cannot log in. This is unacceptable!"
)
INVOICE = "Could you send me a copy of last month's invoice? Thanks"
WAITING = "I've been waiting 3 weeks and nobody answers"
FIXED = "Thank you so much, that fixed it!"


def test_angry_outage_is_level_4_or_5() -> None:
    assert score_sentiment(OUTAGE, policy=POLICY).level >= 4


def test_polite_invoice_request_is_mildly_positive_not_delighted() -> None:
    result = score_sentiment(INVOICE, policy=POLICY)
    assert result.level == 2
    assert 0 < result.score < 0.3


@pytest.mark.parametrize(
    "text",
    [
        "Hello, we would love to know whether the blue jacket comes in XL. Thanks so much!",
        "Great product so far! Could you tell me where to find the user manual?",
        "Hi, I'd really appreciate it if someone could send me the warranty terms. Wonderful!",
    ],
)
def test_friendly_words_in_a_request_are_manners_not_joy(text: str) -> None:
    vader_only = SentimentPolicy(rules=(), polite=(), request=(), caps_weight=0.0)
    assert score_sentiment(text, policy=vader_only).level == 1
    result = score_sentiment(text, policy=POLICY)
    assert result.level in (2, 3)  # calm or neutral: not pleased
    assert any("a request" in signal for signal in result.signals)


def test_a_request_that_also_reports_a_fix_stays_happy() -> None:
    text = "That fixed it, thank you! Could you also close the other ticket?"
    assert score_sentiment(text, policy=POLICY).level == 1


@pytest.mark.parametrize(
    "text",
    [
        "The parcel has been stuck at your depot since last Thursday.",
        "You charged me twice for the same order.",
        "The replacement part still hasn't been shipped.",
        "Oh wonderful, the portal is down again right before payroll.",
        "I want to speak to a supervisor about this.",
        "Le colis n'est toujours pas arrivé.",
    ],
)
def test_frustration_without_sentiment_words_is_negative(text: str) -> None:
    assert score_sentiment(text, policy=POLICY).level >= 4


def test_praise_vader_reads_backwards_is_positive() -> None:
    text = "I couldn't be more pleased with how quickly the new laptop arrived."
    vader_only = SentimentPolicy(rules=(), polite=(), request=())
    assert score_sentiment(text, policy=vader_only).level >= 3
    assert score_sentiment(text, policy=POLICY).level == 1


def test_waiting_and_ignored_is_angry() -> None:
    result = score_sentiment(WAITING, policy=POLICY)
    assert result.level >= 4
    assert any("waiting 3 weeks" in signal for signal in result.signals)


def test_gratitude_for_a_fix_is_happiest() -> None:
    assert score_sentiment(FIXED, policy=POLICY).level == 1


def test_domain_rules_turn_vaders_neutral_reading_negative() -> None:
    vader_only = SentimentPolicy(rules=(), polite=(), caps_weight=0.0)
    assert score_sentiment(WAITING, policy=vader_only).score == pytest.approx(0.0, abs=0.05)
    assert score_sentiment(WAITING, policy=POLICY).score <= -0.5


def test_politeness_is_not_read_as_happiness() -> None:
    vader_only = SentimentPolicy(rules=(), polite=(), request=())
    assert score_sentiment("Please reset my password", policy=vader_only).score > 0.3
    assert score_sentiment("Please reset my password", policy=POLICY).score < 0.2


@pytest.mark.parametrize(
    "text",
    [
        "It is still not working after your update.",
        "I want to cancel my subscription.",
        "If this is not fixed I will talk to my lawyer.",
        "I have filed a chargeback with my bank.",
        "No response from anyone since Monday.",
    ],
)
def test_support_complaints_are_unhappy(text: str) -> None:
    assert score_sentiment(text, policy=POLICY).level >= 4


def test_shouting_in_capitals_counts_against_the_message() -> None:
    calm = score_sentiment("why is the export page so slow today", policy=POLICY)
    shout = score_sentiment("WHY IS THE EXPORT PAGE SO SLOW TODAY", policy=POLICY)
    assert shout.score < calm.score
    assert any("ALL CAPS" in signal for signal in shout.signals)


def test_a_rule_counts_once_however_often_it_matches() -> None:
    policy = SentimentPolicy(rules=(SentimentRule("refund", -0.3),), polite=())
    once = score_sentiment("refund", policy=policy).score
    thrice = score_sentiment("refund refund refund", policy=policy).score
    assert once == thrice == pytest.approx(-0.3)


def test_score_is_clamped_to_minus_one() -> None:
    text = "Unacceptable, ridiculous, worst service, my lawyer will do a chargeback!!!"
    result = score_sentiment(text, policy=POLICY)
    assert result.score == -1.0
    assert result.level == 5


def test_empty_text_is_neutral() -> None:
    assert score_sentiment("", policy=POLICY).level == 3


def test_levels_are_cut_points_with_inclusive_lower_bounds() -> None:
    policy = SentimentPolicy(
        rules=(SentimentRule("x", 0.1),), polite=(), levels=(-0.5, -0.1, 0.1, 0.5)
    )
    assert score_sentiment("x", policy=policy).level == 2  # exactly on the 0.1 cut


def test_custom_levels_change_the_mapping() -> None:
    strict = SentimentPolicy(levels=(-0.9, -0.8, -0.7, -0.6))
    assert score_sentiment(INVOICE, policy=strict).level == 1


def test_validation_rejects_unordered_levels_and_bad_regex() -> None:
    with pytest.raises(ValueError, match="ascending"):
        validate_sentiment_policy(SentimentPolicy(levels=(0.5, 0.1, -0.1, -0.5)))
    with pytest.raises(ValueError, match=r"sentiment rule #0 '\('"):
        validate_sentiment_policy(SentimentPolicy(rules=(SentimentRule("(", -1.0),)))
    validate_sentiment_policy(POLICY)


def test_policy_loads_from_toml() -> None:
    data = tomllib.loads(
        """
        levels = [-0.6, -0.2, 0.2, 0.6]
        [[rules]]
        pattern = "\\\\bbroken\\\\b"
        weight = -0.5
        why = "our product name"
        """
    )
    policy = TypeAdapter(SentimentPolicy).validate_python(data)
    assert policy.levels == (-0.6, -0.2, 0.2, 0.6)
    assert policy.rules == (SentimentRule(r"\bbroken\b", -0.5, "our product name"),)
