"""Accuracy, macro-F1 and per-class figures, in plain Python so rules can be measured without
the machine-learning extra installed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ClassFigures:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Report:
    """The figures `supportbot eval` prints; `as_json` is its `--json` shape."""

    n: int
    accuracy: float
    macro_f1: float
    per_class: dict[str, ClassFigures]

    def as_json(self) -> dict[str, object]:
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "per_class": {
                label: {
                    "precision": round(f.precision, 4),
                    "recall": round(f.recall, 4),
                    "f1": round(f.f1, 4),
                    "support": f.support,
                }
                for label, f in self.per_class.items()
            },
        }


def score(truth: Sequence[str], predicted: Sequence[str]) -> Report:
    """Compare predictions with the gold labels; macro-F1 averages over the gold classes, so
    a label the model invents lowers precision elsewhere but adds no class of its own."""
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} labels but {len(predicted)} predictions")
    if not truth:
        raise ValueError("nothing to score: no labelled rows")
    hits: Counter[str] = Counter()
    said: Counter[str] = Counter(predicted)
    support: Counter[str] = Counter(truth)
    for gold, guess in zip(truth, predicted, strict=True):
        if gold == guess:
            hits[gold] += 1
    per_class = {}
    for label in sorted(support):
        precision = hits[label] / said[label] if said[label] else 0.0
        recall = hits[label] / support[label]
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = ClassFigures(precision, recall, f1, support[label])
    return Report(
        n=len(truth),
        accuracy=sum(hits.values()) / len(truth),
        macro_f1=sum(f.f1 for f in per_class.values()) / len(per_class),
        per_class=per_class,
    )
