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
    "vader_compound",
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
        r"\b(?:since|for)\s+(?:over\s+|more\s+than\s+|almost\s+)?(?:a|one|two|three|several|\d+|"
        r"last|this)\s+(?:days?|weeks?|months?|hours?|minutes?|monday|tuesday|wednesday|"
        r"thursday|friday|saturday|sunday|week|month|year)\b|\bsince\s+(?:monday|tuesday|"
        r"wednesday|thursday|friday|saturday|sunday|january|february|march|april|may|june|july|"
        r"august|september|october|november|december|yesterday|last\s+\w+|opening)\b"
        r"|\band\s+counting\b|\bin\s+a\s+row\b|\bevery\s+(?:day|time|single)\b",
        -0.3,
        "how long it has gone on is the complaint, though no word of it is negative",
    ),
    SentimentRule(
        r"\bstill\s+(?:haven't|hasn't|have\s+not|has\s+not|waiting|no\b|nothing|the\s+same)"
        r"|\bnever\s+(?:arrived|came|showed|turned\s+up|received|got|had|answered|called)"
        r"|\b(?:haven't|hasn't|didn't|never)\s+(?:been\s+)?(?:issued|delivered|refunded|"
        r"fixed|processed|shipped|arrived|credited|activated)\b",
        -0.35,
        "something promised that has not happened",
    ),
    SentimentRule(
        r"\b(?:charged|billed|paid|debited|taken)\s+(?:me\s+|us\s+)?(?:twice|double|two\s+times)"
        r"|\b(?:ran|went\s+out|came\s+out)\s+twice\b|\bbilled\s+(?:me|us)\s+for\b"
        r"|\b(?:overcharged|double[-\s]charged|wrong\s+amount)\b",
        -0.4,
        "money taken wrongly angers even a calm writer",
    ),
    SentimentRule(
        r"\b(?:supervisor|escalate|escalating|complaint|complain\w*|dissatisfied|unhappy|"
        r"disappointed|disappointing|frustrat\w*|annoy\w*|useless|pointless|dismissive|rude|"
        r"brick\s+wall|a\s+joke|not\s+(?:good\s+enough|acceptable|ok|okay|fair)|"
        r"not\s+(?:happy|thrilled|pleased|impressed|satisfied))\b",
        -0.45,
        "the customer names their displeasure; VADER misses half of these words",
    ),
    SentimentRule(
        r"\b(?:business|custom)\s+elsewhere\b|\b(?:switch\w*|mov\w+|go\w*)\s+to\s+"
        r"(?:a\s+|another\s+)?(?:competitor|another\s+provider)\b|\bclose\s+my\s+account\b",
        -0.45,
        "a customer about to leave",
    ),
    SentimentRule(
        r"^\W*(?:oh\s+)?(?:great|fantastic|brilliant|wonderful|perfect|lovely|awesome|"
        r"oh\s+good|well\s+done)\b[^.!?]{0,80}(?:another|again|died|broke|crash\w*|down|"
        r"middle|late|gone|still|lost|wrong|failed)|\bjust\s+what\s+(?:i|we)\s+needed\b"
        r"|\bthanks\s+for\s+nothing\b|\bno\s+thanks\s+to\b|\breally\s+well\s+thought\b"
        r"|\bcalling\s+that\s+a\s+fix\b",
        -0.8,
        "sarcasm: praise words around a failure mean the opposite",
    ),
    SentimentRule(
        r"\b(?:is|are|was|went|been|goes)\s+down\b|\boutage\b|\bnot\s+working\b|"
        r"\b(?:doesn't|does\s+not|didn't|won't|can't|cannot|couldn't|unable\s+to)\s+"
        r"(?:work|log\s*in|access|connect|load|open|login|sign\s+in)\b|\bhave\s+been\s+able\s+to\b"
        r"|\b(?:vanished|disappeared|flooded|damaged|cold\s+and\s+late|late\s+and\s+cold)\b",
        -0.3,
        "a service that fails the customer is a complaint even when politely told",
    ),
    SentimentRule(
        r"\b(?:immer\s+noch|schon\s+wieder|niemand|seit\s+\w+\s+(?:tagen|wochen)|"
        r"toujours\s+pas|personne\s+ne|depuis\s+\w+\s+(?:jours|semaines)|"
        r"todav[ií]a\s+no|nadie|ya\s+es\s+la|nog\s+steeds|al\s+een\s+week|"
        r"ainda\s+n[aã]o|ningu[eé]m|terceira\s+vez|inaceptable|inacceptable|inakzeptabel)\b",
        -0.4,
        "the same waiting and ignoring complaints, in languages VADER does not read",
    ),
    SentimentRule(
        r"\b(?:couldn't|could\s+not)\s+be\s+(?:more\s+)?(?:happier|pleased|happy)\b|"
        r"\b(?:impressed|delighted|legend|shout[-\s]?out|kudos|well\s+done|much\s+obliged|"
        r"above\s+and\s+beyond|spot\s+on|lifesaver|life\s+saver|encantad\w*|merci\s+beaucoup)\b",
        0.9,
        "praise and delight, including forms VADER scores backwards",
    ),
    SentimentRule(
        r"\b(?:that|this|it|you)\s+(?:has\s+|have\s+)?(?:fixed|solved|resolved|sorted)\b"
        r"|\bworks?\s+(?:now|again|perfectly|great|fine)\b|\b(?:problem|issue)\s+(?:is\s+)?"
        r"(?:solved|resolved|fixed)\b",
        0.55,
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
    r"\bthanks?\s+(?:you\s+)?(?:so|very)\s+much\b",
    r"\b(?:thanks\s+(?:a\s+lot|a\s+bunch|heaps)|many\s+thanks|much\s+appreciated)\b",
)

# Marks a message as asking for something; its friendly words are then manners, not joy.
_DEFAULT_REQUEST: tuple[str, ...] = (
    r"\?",
    r"\b(?:could|would|can|will)\s+(?:you|someone|somebody|we|i)\b",
    r"\b(?:please|pls|kindly)\b",
    r"\b(?:i'd|i\s+would|we'd|we\s+would)\s+(?:like|love|appreciate|be\s+grateful|be\s+thankful)",
    r"\b(?:appreciate\s+it\s+if|grateful\s+if|thankful\s+if|would\s+love\s+to|love\s+to\s+get)",
    r"\b(?:let\s+me\s+know|is\s+it\s+possible|in\s+advance|i\s+need|we\s+need)\b",
    r"\b(?:por\s+favor|s'il\s+vous\s+pla[iî]t|bitte|alstublieft|graag)\b",
)


@dataclass(frozen=True)
class SentimentPolicy:
    """How text maps to a 1-5 sentiment level; users override it from TOML.

    rules: domain regexes with signed weights, each added once, because VADER misses support talk.
    polite: regexes removed before VADER, so a courteous request is not scored as happiness.
    polite_weight: added once if a politeness marker was removed: a courteous request is
        level 2 (calm), which is neutral, not pleased (core.learning.targets.sentiment_class).
    request: regexes that mark a request or question; VADER's positive score for one is
        multiplied by `request_damping` unless a positive rule fired ("would love to know" is
        manners, "that fixed it" is joy).
    caps_ratio: share of shouted (ALL-CAPS) words above which the message counts as shouting.
    caps_min_words: words needed before the caps ratio means anything (an "OK" is not shouting).
    caps_weight: signed weight added when the message is shouting.
    levels: four ascending cut points: a score below levels[0] is 5 (angry), below levels[1] 4,
        below levels[2] 3, below levels[3] 2, else 1 (happy); lower bounds are inclusive.
    """

    rules: tuple[SentimentRule, ...] = _DEFAULT_RULES
    polite: tuple[str, ...] = _DEFAULT_POLITE
    polite_weight: float = 0.15
    request: tuple[str, ...] = _DEFAULT_REQUEST
    request_damping: float = 0.1
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
    request: re.Pattern[str] | None


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
    pleased = False
    for rule, pattern in compiled.rules:
        match = pattern.search(text)
        if match:
            total += rule.weight
            pleased = pleased or rule.weight > 0
            signals.append(f"{match.group(0).strip()!r} {rule.weight:+.2f}")
    if compound > 0 and not pleased and compiled.request and compiled.request.search(text):
        compound *= policy.request_damping
        signals.append(f"a request: friendly words ×{policy.request_damping:g}")
    total += compound
    if compound:
        signals.insert(0, f"vader {compound:+.2f}")
    ratio = _caps_ratio(text, min_words=policy.caps_min_words)
    if ratio > policy.caps_ratio:
        total += policy.caps_weight
        signals.append(f"ALL CAPS {ratio:.0%} {policy.caps_weight:+.2f}")
    score = round(max(-1.0, min(1.0, total)), 4)
    return Sentiment(
        level=level_for_score(score, policy=policy), score=score, signals=tuple(signals)
    )


def vader_compound(text: str) -> float:
    """VADER's own -1..1 score for `text`, with none of our rules: the baseline we measure
    the rules against."""
    return float(_analyzer().polarity_scores(text)["compound"])


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
    for index, request in enumerate(policy.request):
        _compile_one(request, f"sentiment request #{index}")
    return _Compiled(tuple(rules), _any_of(policy.polite), _any_of(policy.request))


def _any_of(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    joined = "|".join(f"(?:{p})" for p in patterns)
    return re.compile(joined, re.IGNORECASE) if joined else None


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
