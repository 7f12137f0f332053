"""The triage pipeline: ordered steps, each with one signature and a reason for its place.

Order and policy are data (Mailman's pipelines): `STEPS` is a table, `TriagePolicy` comes
from configuration, and a step only reads what the steps before it put into `Facts`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TypeVar

from core.learning.targets import LEVEL_OF_CLASS
from core.model import Priority, SlaDue, Tier, TriageResult
from core.triage.classify import CategoryPolicy, Classification, classify, validate_category_policy
from core.triage.language import detect_language
from core.triage.learned import NO_MODELS, LabelPredictor, Prediction, TriageModels
from core.triage.priority import (
    PriorityInput,
    PriorityPolicy,
    PriorityScore,
    score_priority,
    validate_priority_policy,
)
from core.triage.sentiment import (
    Sentiment,
    SentimentPolicy,
    score_sentiment,
    validate_sentiment_policy,
)
from core.triage.sla import SlaPolicy, compute_sla_due, validate_sla_policy

_T = TypeVar("_T")


@dataclass(frozen=True)
class TriagePolicy:
    """Everything triage decides by, as configuration.

    categories: taxonomy and keyword/regex rules.
    sentiment: support-domain rules added to the lexicon score.
    priority: weights and P0–P2 thresholds.
    sla: business hours, holidays and targets per priority × tier.
    default_language: used when a text is too short to tell.
    max_text_chars: only this much of a message is triaged; customers state the problem
        first, and long pasted logs would only slow every rule down.
    """

    categories: CategoryPolicy = field(default_factory=CategoryPolicy)
    sentiment: SentimentPolicy = field(default_factory=SentimentPolicy)
    priority: PriorityPolicy = field(default_factory=PriorityPolicy)
    sla: SlaPolicy = field(default_factory=SlaPolicy)
    default_language: str = "en"
    max_text_chars: int = 5000


def validate_triage_policy(policy: TriagePolicy) -> None:
    """Raise ValueError naming the bad key, so configuration fails at start, not per ticket."""
    checks: tuple[tuple[str, Callable[[], None]], ...] = (
        ("categories", lambda: validate_category_policy(policy.categories)),
        ("sentiment", lambda: validate_sentiment_policy(policy.sentiment)),
        ("priority", lambda: validate_priority_policy(policy.priority)),
        ("sla", lambda: validate_sla_policy(policy.sla)),
    )
    for key, check in checks:
        try:
            check()
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from exc


@dataclass(frozen=True)
class TriageInput:
    subject: str
    text: str
    created_at: datetime
    tier: Tier = Tier.FREE
    repeat_contacts: int = 0  # earlier tickets by the same customer in the last week
    age_hours: float = 0.0


@dataclass(frozen=True)
class Facts:
    """What the pipeline knows so far; each step adds one thing."""

    input: TriageInput
    policy: TriagePolicy
    models: TriageModels = NO_MODELS
    language: str = ""
    category: Classification | None = None
    sentiment: Sentiment | None = None
    priority: PriorityScore | None = None
    sla: SlaDue | None = None


def _need(value: _T | None, name: str) -> _T:
    if value is None:
        raise RuntimeError(f"triage step order is wrong: {name} is not known yet")
    return value


def detect_language_step(facts: Facts) -> Facts:
    text = f"{facts.input.subject}\n{facts.input.text}"
    return replace(facts, language=detect_language(text, default=facts.policy.default_language))


def _predict(model: LabelPredictor | None, facts: Facts) -> Prediction | None:
    if model is None:
        return None
    return model.predict([f"{facts.input.subject}\n{facts.input.text}"])[0]


def _by_model(prediction: Prediction, rules: str) -> str:
    return f"by model {prediction.label} ({prediction.confidence:.2f}), rules: {rules}"


def classify_step(facts: Facts) -> Facts:
    result = classify(
        subject=facts.input.subject, text=facts.input.text, policy=facts.policy.categories
    )
    learned = _predict(facts.models.category, facts)
    if learned is not None:
        why = (_by_model(learned, result.category),)  # shown as "category: by model …"
        result = Classification(learned.label, learned.confidence, why)
    return replace(facts, category=result)


def score_sentiment_step(facts: Facts) -> Facts:
    text = f"{facts.input.subject}\n{facts.input.text}"
    result = score_sentiment(text, policy=facts.policy.sentiment)
    learned = _predict(facts.models.sentiment, facts)
    if learned is not None:
        level = LEVEL_OF_CLASS.get(learned.label, result.level)
        signals = (f"sentiment: {_by_model(learned, f'level {result.level}')}", *result.signals)
        result = Sentiment(level=level, score=result.score, signals=signals)
    return replace(facts, sentiment=result)


def score_priority_step(facts: Facts) -> Facts:
    sentiment = _need(facts.sentiment, "sentiment")
    inputs = PriorityInput(
        subject=facts.input.subject,
        text=facts.input.text,
        tier=facts.input.tier,
        sentiment=sentiment.level,
        repeat_contacts=facts.input.repeat_contacts,
        age_hours=facts.input.age_hours,
    )
    result = score_priority(inputs, policy=facts.policy.priority)
    learned = _predict(facts.models.priority, facts)
    if learned is not None:
        signals = (f"priority: {_by_model(learned, result.priority.value)}", *result.signals)
        result = replace(result, priority=Priority(learned.label), signals=signals)
    return replace(facts, priority=result)


def compute_sla_step(facts: Facts) -> Facts:
    priority = _need(facts.priority, "priority").priority
    due = compute_sla_due(
        facts.input.created_at, priority=priority, tier=facts.input.tier, policy=facts.policy.sla
    )
    return replace(facts, sla=due)


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[Facts], Facts]
    why: str


STEPS: tuple[Step, ...] = (
    Step("language", detect_language_step, "drafts are written in the customer's language"),
    Step("category", classify_step, "routes the ticket and picks the reply template"),
    Step("sentiment", score_sentiment_step, "an angry customer needs a faster, careful answer"),
    Step("priority", score_priority_step, "weighs severity, tier and sentiment into P0–P3"),
    Step("sla", compute_sla_step, "due times follow from priority and tier"),
)


def run_triage(
    inputs: TriageInput,
    *,
    policy: TriagePolicy,
    models: TriageModels = NO_MODELS,
    steps: tuple[Step, ...] = STEPS,
) -> TriageResult:
    """Triage by the policy's rules, or by a trained model for each target that has one."""
    text = inputs.text[: policy.max_text_chars]
    facts = Facts(input=replace(inputs, text=text), policy=policy, models=models)
    for step in steps:
        facts = step.run(facts)
    category = _need(facts.category, "category")
    sentiment = _need(facts.sentiment, "sentiment")
    priority = _need(facts.priority, "priority")
    return TriageResult(
        category=category.category,
        category_confidence=category.confidence,
        sentiment=sentiment.level,
        sentiment_score=sentiment.score,
        priority=priority.priority,
        priority_score=priority.score,
        language=facts.language or policy.default_language,
        sla=facts.sla or SlaDue(None, None),
        signals=(
            *(f"category: {m}" for m in category.matched),
            *sentiment.signals,
            *priority.signals,
        ),
    )


# Long enough for language detection to consult its model, as real mail does.
_WARM_UP = TriageInput(
    subject="Order not arrived",
    text="Hello, my order has not arrived yet and nobody answers my emails. Please help.",
    created_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
)


def warm_up_triage(policy: TriagePolicy, *, models: TriageModels = NO_MODELS) -> None:
    """Triage a fixed text once, so that what loads on first use (the language model, VADER's
    lexicon, compiled rules: about 0.6 s of CPU) is ready before the first real message.

    Mailbox readers run it in a thread at start: most of the language model's load is LZMA
    decompression, which releases the GIL, so on a second core it overlaps the IMAP login and
    the first fetch instead of delaying the first message."""
    run_triage(_WARM_UP, policy=policy, models=models)


def escalate_priority(current: Priority, proposed: Priority) -> Priority:
    """Follow-ups may raise a ticket's priority but never quietly lower it."""
    return min(current, proposed, key=lambda p: p.value)
