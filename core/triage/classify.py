"""Put a ticket in a category by a rule table of keywords and regexes, subject weighted over body.

The table is data (`CategoryPolicy`), so a team changes its taxonomy in TOML, not in code. Each
keyword or pattern counts once per ticket: repeating "invoice" five times is not five times more
billing. Confidence is the winner's share of all rule weight, damped so one weak hit is not sure.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

__all__ = [
    "CategoryPolicy",
    "CategoryRule",
    "Classification",
    "classify",
    "validate_category_policy",
]


@dataclass(frozen=True)
class CategoryRule:
    """One row of the rule table: what suggests `category`, and how strongly.

    category: the category this row votes for; must be one of the policy's categories.
    keywords: words or phrases matched whole and case-insensitively, so "bill" misses "billion".
    patterns: regexes matched case-insensitively, for shapes keywords cannot say (amounts, codes).
    weight: the vote of each keyword or pattern that fires, so strong and weak words can differ.
    """

    category: str
    keywords: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    weight: float = 1.0


_DEFAULT_RULES: tuple[CategoryRule, ...] = (
    CategoryRule(
        "billing",
        keywords=(
            "invoice", "invoices", "receipt", "refund", "refunded", "billing", "billed",
            "charged", "overcharged", "chargeback", "payment", "vat", "credit card",
        ),
        patterns=(
            r"\bdouble[- ]charged\b", r"[$€£]\s?\d", r"\b\d+(?:[.,]\d{2})?\s?(?:usd|eur|gbp)\b",
        ),
        weight=2.0,
    ),
    CategoryRule(
        "billing",
        keywords=(
            "bill", "charge", "price", "pricing", "plan", "subscription", "upgrade", "downgrade",
            "discount", "coupon", "tax", "paid", "pay",
        ),
    ),
    CategoryRule(
        "technical",
        keywords=(
            "error", "bug", "crash", "crashes", "crashing", "broken", "not working",
            "doesn't work", "does not work", "outage", "down", "timeout", "exception",
            "database", "server", "api", "integration", "stack trace", "traceback",
        ),
        patterns=(r"\berror\s*(?:code\s*)?\d{3,}\b", r"\b(?:http|status)\s*(?:code\s*)?5\d\d\b"),
        weight=2.0,
    ),
    CategoryRule(
        "technical",
        keywords=("slow", "sync", "upload", "download", "install", "update", "app", "website"),
    ),
    CategoryRule(
        "account",
        keywords=(
            "password", "log in", "login", "sign in", "locked out", "2fa", "two-factor",
            "username", "email address", "verification code", "delete my account",
            "close my account",
        ),
        weight=2.0,
    ),
    CategoryRule("account", keywords=("account", "profile", "sign up", "reset", "permissions")),
    CategoryRule(
        "shipping",
        keywords=(
            "shipping", "shipment", "shipped", "delivery", "delivered", "package", "parcel",
            "tracking", "courier", "dispatch", "dispatched", "return label",
        ),
        patterns=(r"\b(?:hasn't|has not|never|didn't|did not)\s+(?:arrived|been delivered)\b",),
        weight=2.0,
    ),
    CategoryRule("shipping", keywords=("order", "arrived", "dhl", "ups", "fedex", "usps")),
)  # fmt: skip


@dataclass(frozen=True)
class CategoryPolicy:
    """The taxonomy and the rules that fill it; users override it from TOML.

    categories: the allowed categories, in tie-break order (the earlier wins a tie).
    fallback: the category when no rule fires; must be one of `categories`.
    rules: the rule table; several rows per category let strong and weak words weigh differently.
    subject_weight: multiplier for a hit in the subject, which states the issue more than the body.
    smoothing: added to the total weight when computing confidence, so one weak hit is not 100 %.
    """

    categories: tuple[str, ...] = ("billing", "technical", "account", "shipping", "general")
    fallback: str = "general"
    rules: tuple[CategoryRule, ...] = _DEFAULT_RULES
    subject_weight: float = 2.0
    smoothing: float = 1.0


@dataclass(frozen=True)
class Classification:
    """The chosen category, a 0..1 confidence, and the keywords/patterns that fired, for agents."""

    category: str
    confidence: float
    matched: tuple[str, ...]


@dataclass(frozen=True)
class _Matcher:
    category: str
    label: str  # the keyword or pattern as the policy spells it
    regex: re.Pattern[str]
    weight: float
    # A keyword's first word, lower-cased, when it is plain ASCII: the regex cannot match a
    # text whose `_fold` lacks it. A substring test is far cheaper than a regex search, and
    # most of a hundred keywords are absent from any one message (it halved `classify`).
    needle: str | None = None


# Case-insensitive regexes also match ASCII letters to these (Python's `re` docs, IGNORECASE);
# `str.lower()` alone keeps them apart, and U+0307 is what `"İ".lower()` puts after the "i".
_FOLD = str.maketrans({"\u0131": "i", "\u017f": "s", "\u0307": None})


def _fold(text: str) -> str:
    return text.lower().translate(_FOLD)


def classify(*, subject: str, text: str, policy: CategoryPolicy) -> Classification:
    """Score each category by the rules that fire and return the best, or the fallback."""
    scores: dict[str, float] = {}
    matched: dict[str, list[str]] = {}
    folded_subject, folded_text = _fold(subject), _fold(text)
    for matcher in _compile(policy):
        needle = matcher.needle
        if (needle is None or needle in folded_subject) and matcher.regex.search(subject):
            vote = matcher.weight * policy.subject_weight
        elif (needle is None or needle in folded_text) and matcher.regex.search(text):
            vote = matcher.weight
        else:
            continue
        scores[matcher.category] = scores.get(matcher.category, 0.0) + vote
        matched.setdefault(matcher.category, []).append(matcher.label)
    if not scores:
        return Classification(category=policy.fallback, confidence=0.0, matched=())
    order = {name: index for index, name in enumerate(policy.categories)}
    best = min(scores, key=lambda name: (-scores[name], order[name]))
    confidence = scores[best] / (sum(scores.values()) + policy.smoothing)
    return Classification(
        category=best,
        confidence=round(confidence, 3),
        matched=tuple(dict.fromkeys(matched[best])),
    )


def validate_category_policy(policy: CategoryPolicy) -> None:
    """Raise ValueError naming the bad rule, so a TOML typo fails at startup, not per ticket."""
    _compile(policy)


@functools.lru_cache(maxsize=32)
def _compile(policy: CategoryPolicy) -> tuple[_Matcher, ...]:
    """Check the policy and compile every keyword and pattern once per policy."""
    known = set(policy.categories)
    if not policy.categories:
        raise ValueError("category policy: categories must not be empty")
    if policy.fallback not in known:
        raise ValueError(f"category policy: fallback {policy.fallback!r} is not in categories")
    matchers: list[_Matcher] = []
    for index, rule in enumerate(policy.rules):
        name = f"category rule #{index} ({rule.category!r})"
        if rule.category not in known:
            raise ValueError(f"{name}: unknown category; expected one of {sorted(known)}")
        for keyword in rule.keywords:
            if not keyword.strip():
                raise ValueError(f"{name}: empty keyword")
            first = keyword.split()[0].lower()
            matchers.append(
                _Matcher(
                    rule.category,
                    keyword,
                    _keyword_regex(keyword),
                    rule.weight,
                    needle=first if first.isascii() else None,
                )
            )
        for pattern in rule.patterns:
            try:
                regex = re.compile(pattern, re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f"{name}: invalid regex {pattern!r}: {exc}") from exc
            matchers.append(_Matcher(rule.category, pattern, regex, rule.weight))
    return tuple(matchers)


def _keyword_regex(keyword: str) -> re.Pattern[str]:
    """Match a keyword or phrase as whole words, any run of whitespace between its words."""
    words = (re.escape(word) for word in keyword.split())
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)
