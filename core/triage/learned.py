"""The port through which triage uses a trained model, and how its answer enters the result.

A model trained on a team's own tickets knows their categories better than keyword rules;
when one is installed for a target it decides that target, and the rules' view stays in the
signals so an agent can see both. Any object with `predict` serves (core.learning provides
the trained ones; tests use small fakes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Prediction:
    """A label and a 0..1 score of how strongly the model prefers it over the others."""

    label: str
    confidence: float


class LabelPredictor(Protocol):
    def predict(self, texts: Sequence[str]) -> list[Prediction]: ...


@dataclass(frozen=True)
class TriageModels:
    """The installed model per target; None leaves that target to the rules."""

    category: LabelPredictor | None = None
    priority: LabelPredictor | None = None
    sentiment: LabelPredictor | None = None


NO_MODELS = TriageModels()  # every target by the rules
