"""Priority: an additive score from the policy's table, mapped to P0-P3 at exact boundaries."""

import dataclasses
import tomllib

import pytest
from pydantic import TypeAdapter

from core.model import Priority, Tier
from core.triage.priority import (
    PriorityInput,
    PriorityPolicy,
    SeverityTerm,
    priority_for_score,
    score_priority,
    validate_priority_policy,
)
from core.triage.sentiment import SentimentPolicy, score_sentiment

POLICY = PriorityPolicy()
OUTAGE = (
    "URGENT: our production database is down and customers cannot log in. This is unacceptable!"
)
INVOICE = "Could you send me a copy of last month's invoice? Thanks"


def prioritise(text: str, *, tier: Tier = Tier.FREE) -> Priority:
    """The priority of `text` with its sentiment from the real sentiment scorer."""
    sentiment = score_sentiment(text, policy=SentimentPolicy()).level
    inputs = PriorityInput(subject="", text=text, tier=tier, sentiment=sentiment)
    return score_priority(inputs, policy=POLICY).priority


def test_free_tier_outage_is_critical_or_high() -> None:
    assert prioritise(OUTAGE) in {Priority.P0, Priority.P1}


def test_free_tier_invoice_request_is_low_or_medium() -> None:
    assert prioritise(INVOICE) in {Priority.P3, Priority.P2}


def test_enterprise_tier_raises_the_same_text() -> None:
    text = "The export button is not working"
    assert prioritise(text, tier=Tier.FREE) == Priority.P3
    assert prioritise(text, tier=Tier.ENTERPRISE) == Priority.P2


@pytest.mark.parametrize(
    ("score", "priority"),
    [
        (16.0, Priority.P0),
        (15.9, Priority.P1),
        (11.0, Priority.P1),
        (10.9, Priority.P2),
        (6.0, Priority.P2),
        (5.9, Priority.P3),
        (0.0, Priority.P3),
    ],
)
def test_thresholds_are_the_lowest_score_of_each_band(score: float, priority: Priority) -> None:
    assert priority_for_score(score, policy=POLICY) == priority


def test_each_term_counts_once_and_is_explained() -> None:
    policy = PriorityPolicy(severity=(SeverityTerm(r"\bdown\b", 5),), impact=())
    inputs = PriorityInput(subject="down", text="down, down, down", tier=Tier.FREE, sentiment=3)
    result = score_priority(inputs, policy=policy)
    assert result.score == 5
    assert result.signals == ("severity: 'down' +5",)


def test_severity_is_capped() -> None:
    terms = tuple(SeverityTerm(word, 5) for word in ("outage", "breach", "urgent"))
    policy = PriorityPolicy(severity=terms, impact=(), severity_cap=8)
    inputs = PriorityInput(subject="", text="urgent outage breach", tier=Tier.FREE, sentiment=3)
    assert score_priority(inputs, policy=policy).score == 8


def test_repeat_contacts_and_age_add_points_up_to_their_caps() -> None:
    base = PriorityInput(subject="", text="hello", tier=Tier.FREE, sentiment=3)
    assert score_priority(dataclasses.replace(base, repeat_contacts=1), policy=POLICY).score == 1.5
    assert score_priority(dataclasses.replace(base, repeat_contacts=9), policy=POLICY).score == 4.5
    assert score_priority(dataclasses.replace(base, age_hours=36), policy=POLICY).score == 1.5
    assert score_priority(dataclasses.replace(base, age_hours=500), policy=POLICY).score == 3


def test_angry_sentiment_adds_points() -> None:
    calm = PriorityInput(subject="", text="hello", tier=Tier.FREE, sentiment=3)
    angry = dataclasses.replace(calm, sentiment=5)
    assert (
        score_priority(angry, policy=POLICY).score - score_priority(calm, policy=POLICY).score == 4
    )


def test_custom_policy_changes_the_result() -> None:
    strict = PriorityPolicy(tier_points={"enterprise": 20}, p0=30, p1=20, p2=10)
    inputs = PriorityInput(subject="", text="question", tier=Tier.ENTERPRISE, sentiment=3)
    assert score_priority(inputs, policy=POLICY).priority == Priority.P3
    assert score_priority(inputs, policy=strict).priority == Priority.P1


def test_validation_rejects_bad_thresholds_keys_and_regex() -> None:
    with pytest.raises(ValueError, match="p0 > p1 > p2"):
        validate_priority_policy(PriorityPolicy(p0=10, p1=11))
    with pytest.raises(ValueError, match="unknown tier"):
        validate_priority_policy(PriorityPolicy(tier_points={"gold": 3}))
    with pytest.raises(ValueError, match="sentiment_points"):
        validate_priority_policy(PriorityPolicy(sentiment_points={"angry": 3}))
    with pytest.raises(ValueError, match=r"impact term #0 '\('"):
        validate_priority_policy(PriorityPolicy(impact=(SeverityTerm("(", 1),)))
    validate_priority_policy(POLICY)


def test_policy_loads_from_toml() -> None:
    data = tomllib.loads(
        """
        p0 = 20
        tier_points = { enterprise = 8, paid = 3, free = 0 }
        sentiment_points = { "5" = 6 }
        [[severity]]
        pattern = "meltdown"
        points = 9
        """
    )
    policy = TypeAdapter(PriorityPolicy).validate_python(data)
    inputs = PriorityInput(subject="Meltdown", text="", tier=Tier.ENTERPRISE, sentiment=5)
    assert score_priority(inputs, policy=policy).score == 9 + 8 + 6
