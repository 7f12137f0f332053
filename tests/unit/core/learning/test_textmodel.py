"""The trainable classifier on a small hand-written set: it learns, predicts fast-path and
batch alike, survives a save and load, and refuses files and data it cannot use."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from core.errors import InvalidInput
from core.learning import textmodel
from core.learning.targets import Target
from tests.learning_data import HELD_OUT, rows


@pytest.fixture(scope="module")
def model() -> textmodel.TextModel:
    texts, labels = rows()
    return textmodel.fit(texts, labels, target=Target.CATEGORY)


def test_it_learns_the_topics_and_generalises_to_new_wording(model: textmodel.TextModel) -> None:
    assert model.labels == ("billing", "login", "shipping")
    assert model.rows == 60
    for label, text in HELD_OUT.items():
        (prediction,) = model.predict([text])
        assert prediction.label == label, text
        assert 0 < prediction.confidence <= 1


def test_the_single_text_fast_path_equals_scikit_learns_arithmetic(
    model: textmodel.TextModel,
) -> None:
    texts = [*HELD_OUT.values(), "", "ünïcödé ✓ 12345", "x" * 5000]
    batch = model.pipeline.decision_function(texts)
    for text, expected in zip(texts, batch, strict=True):
        assert model._fast.margins(text) == pytest.approx(expected, abs=1e-9)
    assert model.predict(texts) == [model.predict([t])[0] for t in texts]


def test_two_labels_work_too() -> None:
    texts, labels = rows()
    pairs = [(t, lab) for t, lab in zip(texts, labels, strict=True) if lab != "login"]
    binary = textmodel.fit([t for t, _ in pairs], [lab for _, lab in pairs], target=Target.CATEGORY)
    assert binary.predict([HELD_OUT["billing"]])[0].label == "billing"
    assert binary.predict([HELD_OUT["shipping"]])[0].label == "shipping"
    assert binary.predict(list(HELD_OUT.values()))[0].label == "shipping"


def test_saved_model_loads_and_predicts_the_same(
    model: textmodel.TextModel, tmp_path: Path
) -> None:
    path = tmp_path / "models" / "category.model"
    model.predict(["warm the fast path so the saved file must leave it out"])
    textmodel.save(model, path)
    loaded = textmodel.load(path)
    assert not list(path.parent.glob(".*partial"))
    assert loaded.labels == model.labels
    texts = list(HELD_OUT.values())
    assert loaded.predict(texts) == model.predict(texts)
    assert loaded.predict(texts[:1]) == model.predict(texts[:1])


def test_files_that_are_not_models_are_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(textmodel.ModelError, match="no such model file"):
        textmodel.load(tmp_path / "missing.model")
    junk = tmp_path / "junk.model"
    junk.write_bytes(b"not a pickle")
    with pytest.raises(textmodel.ModelError, match="not a supportbot model"):
        textmodel.load(junk)
    other = tmp_path / "other.model"
    other.write_bytes(pickle.dumps({"format": "something-else"}))
    with pytest.raises(textmodel.ModelError, match="not a supportbot model file"):
        textmodel.load(other)
    old = tmp_path / "old.model"
    old.write_bytes(pickle.dumps({"format": textmodel.FORMAT, "sklearn": "0.1.0", "model": 1}))
    with pytest.raises(textmodel.ModelError, match=r"trained with scikit-learn 0\.1\.0"):
        textmodel.load(old)


def test_data_that_cannot_teach_is_refused() -> None:
    with pytest.raises(InvalidInput, match="at least two different labels"):
        textmodel.fit(["a", "b"], ["x", "x"], target=Target.CATEGORY)
