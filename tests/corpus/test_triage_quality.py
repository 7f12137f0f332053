"""The trainable classifier on a public intent set (../shared/data/tickets/banking77): a
bounded cross-validation that guards against a regression; the full 5-fold figures are
measured with `supportbot eval` and recorded in the README."""

from __future__ import annotations

import pytest

from core.learning.crossval import cross_validate
from core.learning.datasets import read_labelled_csv
from core.learning.targets import Target
from tests.support import shared_data

pytestmark = pytest.mark.corpus


def test_banking77_sample_cross_validates_well() -> None:
    path = shared_data("tickets", "banking77", "train.csv")
    data = read_labelled_csv(path, text_col="text", label_col="category")
    texts, labels = data.texts[::3], data.labels[::3]  # every third row: all 77 intents
    result = cross_validate(texts, labels, target=Target.CATEGORY, folds=3)
    assert result.stratified
    assert result.report.n == len(texts)
    assert result.report.accuracy >= 0.8
    assert min(result.fold_accuracies) >= 0.75
