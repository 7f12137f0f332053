"""The triage pipeline: steps in order, results assembled, policy as data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from core.model import Priority, Tier
from core.pipeline import (
    STEPS,
    TriageInput,
    TriagePolicy,
    escalate_priority,
    run_triage,
    validate_triage_policy,
)
from core.triage.learned import Prediction, TriageModels
from core.triage.priority import PriorityPolicy

MONDAY = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def test_outage_is_urgent_and_angry() -> None:
    text = (
        "URGENT: our production database is down and customers cannot log in. This is unacceptable!"
    )
    result = run_triage(
        TriageInput(subject="", text=text, created_at=MONDAY), policy=TriagePolicy()
    )
    assert result.priority in (Priority.P0, Priority.P1)
    assert result.sentiment >= 4
    assert result.category == "technical"
    assert result.sla.first_response_due is not None
    assert result.sla.first_response_due > MONDAY
    assert any(s.startswith("severity") for s in result.signals)


def test_invoice_request_is_calm_billing() -> None:
    text = "Could you send me a copy of last month's invoice? Thanks"
    result = run_triage(
        TriageInput(subject="", text=text, created_at=MONDAY), policy=TriagePolicy()
    )
    assert result.category == "billing"
    assert result.priority in (Priority.P2, Priority.P3)
    assert result.sentiment <= 2
    assert result.language == "en"


def test_enterprise_tier_gets_an_earlier_deadline() -> None:
    text = "The export feature fails with an error for our team."
    free = run_triage(TriageInput(subject="", text=text, created_at=MONDAY), policy=TriagePolicy())
    ent = run_triage(
        TriageInput(subject="", text=text, created_at=MONDAY, tier=Tier.ENTERPRISE),
        policy=TriagePolicy(),
    )
    assert ent.priority_score > free.priority_score
    assert ent.sla.first_response_due and free.sla.first_response_due
    assert ent.sla.first_response_due < free.sla.first_response_due


def test_thresholds_come_from_policy() -> None:
    text = "Could you send me a copy of last month's invoice? Thanks"
    strict = replace(TriagePolicy(), priority=replace(PriorityPolicy(), p0=0.0, p1=-1, p2=-2))
    result = run_triage(TriageInput(subject="", text=text, created_at=MONDAY), policy=strict)
    assert result.priority is Priority.P0


def test_steps_out_of_order_fail_loudly() -> None:
    reordered = (STEPS[3], STEPS[0], STEPS[1], STEPS[2], STEPS[4])
    with pytest.raises(RuntimeError, match="sentiment is not known"):
        run_triage(
            TriageInput(subject="", text="hi", created_at=MONDAY),
            policy=TriagePolicy(),
            steps=reordered,
        )


def test_every_step_says_why() -> None:
    assert [s.name for s in STEPS] == ["language", "category", "sentiment", "priority", "sla"]
    assert all(s.why for s in STEPS)


def test_bad_policy_is_reported_with_its_section() -> None:
    bad = replace(TriagePolicy(), priority=replace(PriorityPolicy(), p0=5, p1=10))
    with pytest.raises(ValueError, match=r"^priority"):
        validate_triage_policy(bad)


def test_escalate_priority_only_raises() -> None:
    assert escalate_priority(Priority.P2, Priority.P0) is Priority.P0
    assert escalate_priority(Priority.P1, Priority.P3) is Priority.P1


def test_only_the_start_of_a_long_message_is_triaged() -> None:
    tail = " lorem ipsum" * 2000 + " URGENT outage, production is down!"
    calm = run_triage(
        TriageInput(subject="", text="Hello." + tail, created_at=MONDAY), policy=TriagePolicy()
    )
    everything = run_triage(
        TriageInput(subject="", text="Hello." + tail, created_at=MONDAY),
        policy=replace(TriagePolicy(), max_text_chars=100_000),
    )
    assert calm.priority_score < everything.priority_score


class _Always:
    """A stand-in for a trained model: one fixed answer, and the texts it was shown."""

    def __init__(self, label: str, confidence: float = 0.9) -> None:
        self.prediction = Prediction(label, confidence)
        self.seen: list[str] = []

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        self.seen += texts
        return [self.prediction for _ in texts]


OUTAGE = "URGENT: production is down and customers cannot log in. This is unacceptable!"


def test_installed_models_decide_their_targets_and_the_rules_view_stays_visible() -> None:
    category, priority, sentiment = _Always("card_arrival"), _Always("P2"), _Always("positive")
    models = TriageModels(category=category, priority=priority, sentiment=sentiment)
    result = run_triage(
        TriageInput(subject="Down", text=OUTAGE, created_at=MONDAY),
        policy=TriagePolicy(),
        models=models,
    )
    assert (result.category, result.category_confidence) == ("card_arrival", 0.9)
    assert result.priority is Priority.P2
    assert result.sentiment == 1
    assert category.seen == [f"Down\n{OUTAGE}"]
    assert "category: by model card_arrival (0.90), rules: technical" in result.signals
    assert "sentiment: by model positive (0.90), rules: level 5" in result.signals
    assert any(s.startswith("priority: by model P2 (0.90), rules: P") for s in result.signals)
    # The SLA follows the model's priority, not the rules'.
    by_rules = run_triage(
        TriageInput(subject="Down", text=OUTAGE, created_at=MONDAY), policy=TriagePolicy()
    )
    assert result.sla.first_response_due != by_rules.sla.first_response_due


def test_a_target_without_a_model_stays_with_the_rules() -> None:
    models = TriageModels(sentiment=_Always("negative"))
    result = run_triage(
        TriageInput(subject="", text=OUTAGE, created_at=MONDAY),
        policy=TriagePolicy(),
        models=models,
    )
    assert result.category == "technical"
    assert result.sentiment == 4
