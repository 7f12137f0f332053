"""Rank a ticket P0-P3 by an additive, explainable score: severity, impact, tier, mood, history.

Every point comes from a row of `PriorityPolicy` and is reported as a signal, so an agent can see
why a ticket is critical and an admin can retune the weights in TOML. Each term counts once, and
severity and impact are capped, so a message stuffed with alarming words cannot outrank a real
outage at an enterprise customer.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from core.model import Priority, Tier

__all__ = [
    "PriorityInput",
    "PriorityPolicy",
    "PriorityScore",
    "SeverityTerm",
    "priority_for_score",
    "score_priority",
    "validate_priority_policy",
]


@dataclass(frozen=True)
class SeverityTerm:
    """A regex (case-insensitive) worth `points` when it occurs, once however often it occurs."""

    pattern: str
    points: float
    why: str = ""


_DEFAULT_SEVERITY: tuple[SeverityTerm, ...] = (
    SeverityTerm(r"\boutages?\b", 6, "the service is unavailable"),
    SeverityTerm(
        r"\b(?:is|are|was|went|goes|been|still|completely)\s+down\b|\bdown\s+(?:for|since)\b",
        5,
        "a system is down",
    ),
    SeverityTerm(
        r"\b(?:not|isn't|doesn't|don't|won't|stopped)\s+work(?:ing|s)?\b|\bbroken\b",
        3,
        "a feature does not work",
    ),
    SeverityTerm(
        r"\b(?:can\s*not|can't|cant|unable\s+to|could\s*n[o']t)\s+(?:log\s*in|sign\s*in|access)\b"
        r"|\blocked\s+out\b",
        4,
        "someone is locked out",
    ),
    SeverityTerm(
        r"\bdata\s+loss\b|\blost\s+(?:all\s+)?(?:my\s+|our\s+)?(?:data|files|work)\b"
        r"|\bcorrupt(?:ed|ion)?\b",
        6,
        "customer data may be gone",
    ),
    SeverityTerm(
        r"\b(?:breach(?:ed)?|hacked|compromised|data\s+leak|leaked|unauthori[sz]ed\s+access)\b",
        7,
        "a possible security incident",
    ),
    SeverityTerm(r"\b(?:security|vulnerability|phishing)\b", 3, "security is involved"),
    SeverityTerm(r"\bprod(?:uction)?\b", 3, "production systems are affected"),
    SeverityTerm(r"\b(?:urgent(?:ly)?|emergency|critical)\b", 3, "the customer says it is urgent"),
    SeverityTerm(r"\b(?:asap|immediately|right\s+(?:now|away))\b", 2, "the customer needs it now"),
    SeverityTerm(
        r"\b(?:legal|lawyers?|attorneys?|lawsuit|sue)\b", 3, "a legal risk to the company"
    ),
    SeverityTerm(
        r"\b(?:charged\s+twice|double[- ]charged|overcharged"
        r"|payments?\s+(?:failed|failing|declined))\b",
        2,
        "the customer's money is at stake",
    ),
    SeverityTerm(r"\b(?:crash(?:es|ed|ing)?|errors?|exceptions?)\b", 2, "something fails"),
    SeverityTerm(
        r"\b(?:deadline|by\s+(?:today|tonight|tomorrow|end\s+of\s+(?:day|week))|eod)\b",
        2,
        "a deadline is near",
    ),
)

_DEFAULT_IMPACT: tuple[SeverityTerm, ...] = (
    SeverityTerm(
        r"\b(?:all|every|none\s+of)\s+(?:of\s+)?(?:our\s+|the\s+|my\s+)?"
        r"(?:users|customers|clients|employees|staff|accounts)\b|\beveryone\b"
        r"|\b(?:nobody|no\s+one)\s+(?:can|is\s+able)\b",
        4,
        "everyone is affected",
    ),
    SeverityTerm(
        r"\b(?:entire|whole)\s+(?:team|company|organi[sz]ation|department|office|org)\b",
        3,
        "a whole organisation is affected",
    ),
    SeverityTerm(
        r"\b(?:many|multiple|several|hundreds\s+of|thousands\s+of|lots\s+of|most\s+of\s+our)\s+"
        r"(?:users|customers|clients|people|accounts)\b"
        r"|\b(?:users|customers|clients)\s+(?:can\s*not|can't|are\s+unable|cannot)\b",
        3,
        "many people are blocked",
    ),
    SeverityTerm(
        r"\b(?:revenue|losing\s+(?:money|sales|orders)|lost\s+(?:sales|orders|revenue))\b",
        3,
        "money is being lost",
    ),
)


@dataclass(frozen=True)
class PriorityPolicy:
    """Weights and thresholds of the priority score; users override it from TOML.

    severity: how bad the issue is, one regex per row; each row counts once.
    impact: how many people or how much money it touches, one regex per row; each row counts once.
    tier_points: by customer tier ("enterprise", "paid", "free"), because contracts promise more.
    sentiment_points: by sentiment level "1".."5" (TOML keys are strings); angry customers churn.
    repeat_contact_points: per earlier ticket from the customer in 7 days; asking twice is a signal.
    repeat_contact_cap: the most repeat contacts can add, so one chatty customer cannot flood P0.
    age_points_per_day: added per day open, so old tickets rise rather than rot.
    age_cap: the most age can add, so age alone never makes a ticket critical.
    severity_cap: the most severity terms can add together, so stacking alarm words cannot explode.
    impact_cap: the most impact terms can add together, for the same reason.
    p0: lowest score that is P0 (critical).
    p1: lowest score that is P1 (high).
    p2: lowest score that is P2 (medium); anything lower is P3 (low).
    """

    severity: tuple[SeverityTerm, ...] = _DEFAULT_SEVERITY
    impact: tuple[SeverityTerm, ...] = _DEFAULT_IMPACT
    tier_points: dict[str, float] = field(
        default_factory=lambda: {"enterprise": 5.0, "paid": 2.0, "free": 0.0}
    )
    sentiment_points: dict[str, float] = field(
        default_factory=lambda: {"5": 4.0, "4": 2.0, "3": 0.0, "2": 0.0, "1": 0.0}
    )
    repeat_contact_points: float = 1.5
    repeat_contact_cap: float = 4.5
    age_points_per_day: float = 1.0
    age_cap: float = 3.0
    severity_cap: float = 12.0
    impact_cap: float = 6.0
    p0: float = 16.0
    p1: float = 11.0
    p2: float = 6.0


@dataclass(frozen=True)
class PriorityInput:
    """What the score looks at: the message, who sent it, how they feel and their recent history."""

    subject: str
    text: str
    tier: Tier
    sentiment: int  # 1 (happy) .. 5 (angry)
    repeat_contacts: int = 0  # earlier tickets by this customer in the last 7 days
    age_hours: float = 0.0


@dataclass(frozen=True)
class PriorityScore:
    """The priority, the score behind it, and one human-readable signal per contribution."""

    priority: Priority
    score: float
    signals: tuple[str, ...]


def score_priority(inputs: PriorityInput, *, policy: PriorityPolicy) -> PriorityScore:
    """Add up the policy's points for `inputs` and map the total to P0-P3."""
    signals: list[str] = []
    content = f"{inputs.subject}\n{inputs.text}"
    total = _score_terms(
        content, policy.severity, cap=policy.severity_cap, kind="severity", out=signals
    )
    total += _score_terms(content, policy.impact, cap=policy.impact_cap, kind="impact", out=signals)
    total += _add(
        signals, f"tier {inputs.tier.value}", policy.tier_points.get(inputs.tier.value, 0)
    )
    sentiment = policy.sentiment_points.get(str(inputs.sentiment), 0.0)
    total += _add(signals, f"sentiment {inputs.sentiment}", sentiment)
    repeats = min(inputs.repeat_contacts * policy.repeat_contact_points, policy.repeat_contact_cap)
    total += _add(signals, f"repeat contacts {inputs.repeat_contacts}", repeats)
    age = min(inputs.age_hours / 24 * policy.age_points_per_day, policy.age_cap)
    total += _add(signals, f"age {inputs.age_hours:.0f}h", age)
    score = round(total, 2)
    return PriorityScore(
        priority=priority_for_score(score, policy=policy), score=score, signals=tuple(signals)
    )


def priority_for_score(score: float, *, policy: PriorityPolicy) -> Priority:
    """Map a score to a priority; each threshold is the lowest score of its band."""
    if score >= policy.p0:
        return Priority.P0
    if score >= policy.p1:
        return Priority.P1
    if score >= policy.p2:
        return Priority.P2
    return Priority.P3


def validate_priority_policy(policy: PriorityPolicy) -> None:
    """Raise ValueError naming the bad setting, so a TOML typo fails at startup, not per ticket."""
    if not policy.p0 > policy.p1 > policy.p2:
        raise ValueError(
            f"priority thresholds must satisfy p0 > p1 > p2, got {policy.p0}, {policy.p1}, "
            f"{policy.p2}"
        )
    unknown_tiers = set(policy.tier_points) - {tier.value for tier in Tier}
    if unknown_tiers:
        raise ValueError(f"priority tier_points: unknown tier(s) {sorted(unknown_tiers)}")
    unknown_levels = set(policy.sentiment_points) - {"1", "2", "3", "4", "5"}
    if unknown_levels:
        raise ValueError(f"priority sentiment_points: keys must be '1'..'5', not {unknown_levels}")
    _compile(policy.severity, "severity")
    _compile(policy.impact, "impact")


def _score_terms(
    content: str,
    terms: tuple[SeverityTerm, ...],
    *,
    cap: float,
    kind: str,
    out: list[str],
) -> float:
    """Sum the points of the terms found in `content`, each once, capped."""
    total = 0.0
    for term, regex in _compile(terms, kind):
        match = regex.search(content)
        if match:
            total += term.points
            out.append(f"{kind}: {match.group(0).strip()!r} {term.points:+g}")
    if total > cap:
        out.append(f"{kind} capped at {cap:g}")
        return cap
    return total


def _add(signals: list[str], label: str, points: float) -> float:
    """Record a non-zero contribution as a signal and return it."""
    if points:
        signals.append(f"{label} {points:+.3g}")
    return points


@functools.lru_cache(maxsize=32)
def _compile(
    terms: tuple[SeverityTerm, ...], kind: str
) -> tuple[tuple[SeverityTerm, re.Pattern[str]], ...]:
    """Compile each term's regex once per table; raise ValueError naming a bad one."""
    compiled = []
    for index, term in enumerate(terms):
        try:
            compiled.append((term, re.compile(term.pattern, re.IGNORECASE)))
        except re.error as exc:
            raise ValueError(
                f"priority {kind} term #{index} {term.pattern!r}: invalid regex: {exc}"
            ) from exc
    return tuple(compiled)
