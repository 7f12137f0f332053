"""K-fold cross-validation: each row is predicted by a model that never saw it.

Folds are stratified so rare labels appear in every training split; when a label has fewer
rows than folds that is impossible, and plain shuffled folds are used instead (reported).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.errors import InvalidInput
from core.learning import textmodel
from core.learning.metrics import Report, score
from core.learning.targets import Target


@dataclass(frozen=True)
class CrossValidation:
    report: Report  # over all rows, each predicted by the fold that held it out
    fold_accuracies: tuple[float, ...]
    stratified: bool


def cross_validate(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    target: Target,
    folds: int,
    seed: int = 0,
    progress: Callable[[int], None] = lambda done: None,
) -> CrossValidation:
    """Train `folds` models and pool their held-out predictions; `progress` gets folds done."""
    if folds < 2 or folds > len(texts):
        raise InvalidInput(f"folds must be between 2 and the row count ({len(texts)}): {folds}")
    from sklearn.model_selection import KFold, StratifiedKFold

    stratified = min(Counter(labels).values()) >= folds
    splitter = (StratifiedKFold if stratified else KFold)(folds, shuffle=True, random_state=seed)
    predicted = [""] * len(texts)
    accuracies = []
    for done, (train, held) in enumerate(splitter.split(list(texts), list(labels)), start=1):
        model = textmodel.fit([texts[i] for i in train], [labels[i] for i in train], target=target)
        guesses = model.predict([texts[i] for i in held])
        for i, guess in zip(held, guesses, strict=True):
            predicted[i] = guess.label
        accuracies.append(sum(predicted[i] == labels[i] for i in held) / len(held))
        progress(done)
    return CrossValidation(score(labels, predicted), tuple(accuracies), stratified)
