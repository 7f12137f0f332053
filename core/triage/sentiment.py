"""Score how unhappy a customer sounds: VADER's lexicon plus support-domain rules, on a 1-5 scale.

VADER alone reads "I've been waiting 3 weeks and nobody answers" as neutral and "Please reset
my password" as positive. Support mail needs the opposite, so politeness markers are removed
before VADER sees the text and signed domain rules (waiting, no answer, refund, lawyer...) are
added to its compound score. Every rule is data in `SentimentPolicy`, with a reason per row.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

__all__ = [
    "Sentiment",
    "SentimentPolicy",
    "SentimentRule",
    "level_for_score",
    "score_sentiment",
    "validate_sentiment_policy",
]

_COUNT = (  # how long: "3", "two", "a few", "several"
    r"(?:\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|several|many"
    r"|(?:a\s+)?few|a\s+couple\s+of)"
)


@dataclass(frozen=True)
class SentimentRule:
    """A support-domain phrase or regex (case-insensitive) whose signed weight is added once."""

    pattern: str
    weight: float
    why: str = ""


_DEFAULT_RULES: tuple[SentimentRule, ...] = (
    SentimentRule(
        rf"\bwait(?:ed|ing)?\s+(?:for\s+)?(?:over\s+|more\s+than\s+)?{_COUNT}\s+(?:more\s+)?"
        r"(?:days?|weeks?|months?)\b",
        -0.45,
        "a long wait is the commonest frustration, and VADER has no word for it",
    ),
    SentimentRule(
        r"\b(?:nobody|no\s*-?\s*one)\s+(?:has\s+|ever\s+|is\s+)?"
        r"(?:answer|respond|repl|help|got\s+back|gets\s+back|call)\w*",
        -0.45,
        "being ignored angers more than the original problem",
    ),
    SentimentRule(
        r"\bno\s+(?:response|reply|replies|answer|update|feedback)s?\b"
        r"|\b(?:haven't|have\s+not|hasn't|has\s+not|never|still\s+not)\s+"
        r"(?:heard\s+back|received|gotten|got)\b",
        -0.35,
        "a missing answer is a complaint about us, not a neutral fact",
    ),
    SentimentRule(
        r"\b(?:still|again)\s+(?:not|isn't|is\s+not|doesn't|does\s+not|won't|can't|cannot|"
        r"broken|failing|down|crash\w*)\b|\b(?:not\s+working|broken|failing|down|crash\w*)\s+"
        r"again\b|\b(?:yet|once)\s+again\b|\b(?:second|third|fourth|fifth|\d+(?:nd|rd|th))\s+time\b",
        -0.35,
        "a problem that comes back means our earlier fix failed",
    ),
    SentimentRule(
        r"\bcancel(?:l?ing|l?ed)?\s+(?:my|our|the)\s+"
        r"(?:account|subscription|plan|contract|membership)\b",
        -0.35,
        "a customer about to churn",
    ),
    SentimentRule(r"\b(?:refund|money\s+back)\b", -0.25, "asking for money back signals loss"),
    SentimentRule(
        r"\b(?:chargebacks?|charge\s+back|dispute\s+the\s+(?:charge|payment))\b",
        -0.5,
        "a bank dispute is the step before leaving",
    ),
    SentimentRule(
        r"\b(?:lawyers?|attorneys?|legal\s+action|lawsuit|sue|suing|small\s+claims)\b",
        -0.6,
        "a legal threat is the angriest common message",
    ),
    SentimentRule(r"\bunacceptable\b", -0.4, "the customer's own verdict on our service"),
    SentimentRule(r"\bridiculous\b|\babsurd\b", -0.3, "contempt, under-weighted by VADER"),
    SentimentRule(r"\bworst\b|\bterrible\s+service\b", -0.35, "superlative complaint"),
    SentimentRule(
        r"\b(?:fed\s+up|sick\s+of|tired\s+of|waste\s+of\s+(?:my\s+|our\s+)?(?:time|money))\b",
        -0.4,
        "exasperation idioms that VADER reads word by word",
    ),
    SentimentRule(r"!{3,}", -0.15, "stacked exclamation marks in support mail are mostly anger"),
    SentimentRule(
        r"\b(?:thanks?\s+(?:you\s+)?(?:so|very)\s+much|thanks\s+a\s+lot|many\s+thanks|"
        r"much\s+appreciated|(?:really|truly)\s+appreciate)\b",
        0.35,
        "emphatic gratitude is real satisfaction, unlike a routine 'thanks'",
    ),
    SentimentRule(
        r"\b(?:that|this|it|you)\s+(?:has\s+|have\s+)?(?:fixed|solved|resolved|sorted)\b"
        r"|\bworks?\s+(?:now|again|perfectly|great|fine)\b|\b(?:problem|issue)\s+(?:is\s+)?"
        r"(?:solved|resolved|fixed)\b",
        0.45,
        "a resolved problem is the happiest message we get",
    ),
)

_DEFAULT_POLITE: tuple[str, ...] = (
    r"\bplease\b",
    r"\bpls\b",
    r"\bkindly\b",
    r"\bthanks?(?:\s+you)?(?:\s+in\s+advance)?\b",
    r"\bmany\s+thanks\b",
    r"\bcheers\b",
    r"\b(?:could|would|can|will)\s+you\b",
    r"\b(?:help|assist)(?:s|ed|ing)?(?:\s+(?:me|us))?\b",
    r"\b(?:best|kind|warm)\s+regards\b",
)


@dataclass(frozen=True)
class SentimentPolicy:
    """How text maps to a 1-5 sentiment level; users override it from TOML.

    rules: domain regexes with signed weights, each added once, because VADER misses support talk.
    polite: regexes removed before VADER, so a courteous request is not scored as happiness.
    polite_weight: added once if a politeness marker was removed: a request stays mildly positive.
    caps_ratio: share of shouted (ALL-CAPS) words above which the message counts as shouting.
    caps_min_words: words needed before the caps ratio means anything (an "OK" is not shouting).
    caps_weight: signed weight added when the message is shouting.
    levels: four ascending cut points: a score below levels[0] is 5 (angry), below levels[1] 4,
        below levels[2] 3, below levels[3] 2, else 1 (happy); lower bounds are inclusive.
    """

    rules: tuple[SentimentRule, ...] = _DEFAULT_RULES
    polite: tuple[str, ...] = _DEFAULT_POLITE
    polite_weight: float = 0.15
    caps_ratio: float = 0.3
    caps_min_words: int = 4
    caps_weight: float = -0.3
    levels: tuple[float, float, float, float] = (-0.5, -0.1, 0.1, 0.5)


@dataclass(frozen=True)
class Sentiment:
    """A customer's mood: `level` 1 (happy) to 5 (angry), the signed `score`, and why."""

    level: int
    score: float
    signals: tuple[str, ...]


@dataclass(frozen=True)
class _Compiled:
    rules: tuple[tuple[SentimentRule, re.Pattern[str]], ...]
    polite: re.Pattern[str] | None


_WORD = re.compile(r"[^\W\d_]{2,}")


def score_sentiment(text: str, *, policy: SentimentPolicy) -> Sentiment:
    """Score `text` from -1 (furious) to 1 (delighted) and map it to a level for agents."""
    compiled = _compile(policy)
    signals: list[str] = []
    plain = text
    total = 0.0
    if compiled.polite is not None:
        plain, removed = compiled.polite.subn(" ", text)
        if removed:
            total += policy.polite_weight
            signals.append(f"courtesy ignored {policy.polite_weight:+.2f}")
    scores: dict[str, float] = _analyzer().polarity_scores(plain)
    compound = scores["compound"]
    total += compound
    if compound:
        signals.insert(0, f"vader {compound:+.2f}")
    for rule, pattern in compiled.rules:
        match = pattern.search(text)
        if match:
            total += rule.weight
            signals.append(f"{match.group(0).strip()!r} {rule.weight:+.2f}")
    ratio = _caps_ratio(text, min_words=policy.caps_min_words)
    if ratio > policy.caps_ratio:
        total += policy.caps_weight
        signals.append(f"ALL CAPS {ratio:.0%} {policy.caps_weight:+.2f}")
    score = round(max(-1.0, min(1.0, total)), 4)
    return Sentiment(
        level=level_for_score(score, policy=policy), score=score, signals=tuple(signals)
    )


def level_for_score(score: float, *, policy: SentimentPolicy) -> int:
    """Map a score to 5 (angry) .. 1 (happy) by the policy's cut points, lower bounds inclusive."""
    return 5 - sum(score >= cut for cut in policy.levels)


def validate_sentiment_policy(policy: SentimentPolicy) -> None:
    """Raise ValueError naming the bad entry, so a TOML typo fails at startup, not per message."""
    if list(policy.levels) != sorted(policy.levels) or len(set(policy.levels)) != 4:
        raise ValueError(
            f"sentiment levels must be 4 strictly ascending cut points: {policy.levels}"
        )
    _compile(policy)


def _caps_ratio(text: str, *, min_words: int) -> float:
    """Share of words written in capitals; 0 for text too short to be shouting."""
    words: list[str] = _WORD.findall(text)
    if len(words) < min_words:
        return 0.0
    return sum(word.isupper() for word in words) / len(words)


@functools.lru_cache(maxsize=32)
def _compile(policy: SentimentPolicy) -> _Compiled:
    """Compile the policy's regexes once per policy; raise ValueError naming a bad one."""
    rules = []
    for index, rule in enumerate(policy.rules):
        rules.append((rule, _compile_one(rule.pattern, f"sentiment rule #{index}")))
    for index, polite in enumerate(policy.polite):
        _compile_one(polite, f"sentiment polite #{index}")
    joined = "|".join(f"(?:{p})" for p in policy.polite)
    return _Compiled(tuple(rules), re.compile(joined, re.IGNORECASE) if joined else None)


def _compile_one(pattern: str, name: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"{name} {pattern!r}: invalid regex: {exc}") from exc


@functools.cache
def _analyzer() -> SentimentIntensityAnalyzer:
    """Load VADER's bundled lexicon on first use, not at import."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()
