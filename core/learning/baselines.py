"""The predictors a trained model is measured against: the configured rules, and VADER alone.

Both answer in a target's canonical labels (core.learning.targets), so `supportbot eval`
scores them exactly as it scores a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from core.learning.targets import NEGATIVE, NEUTRAL, POSITIVE, Target, sentiment_class
from core.pipeline import TriageInput, TriagePolicy, run_triage
from core.triage.learned import Prediction
from core.triage.sentiment import vader_compound

_EPOCH = datetime(2026, 1, 5, 9, tzinfo=UTC)  # triage needs a time; labels do not depend on it


@dataclass(frozen=True)
class RulesPredictor:
    """What triage decides for a target with no trained model installed."""

    target: Target
    policy: TriagePolicy

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        out = []
        for text in texts:
            result = run_triage(
                TriageInput(subject="", text=text, created_at=_EPOCH), policy=self.policy
            )
            if self.target is Target.CATEGORY:
                out.append(Prediction(result.category, result.category_confidence))
            elif self.target is Target.PRIORITY:
                out.append(Prediction(result.priority.value, 1.0))
            else:
                out.append(Prediction(sentiment_class(result.sentiment), 1.0))
        return out


class VaderPredictor:
    """VADER's compound score with its authors' ±0.05 cut points: the sentiment baseline."""

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        out = []
        for text in texts:
            compound = vader_compound(text)
            label = POSITIVE if compound >= 0.05 else NEGATIVE if compound <= -0.05 else NEUTRAL
            out.append(Prediction(label, abs(compound)))
        return out
