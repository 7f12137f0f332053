"""The trainable classifier: word and character n-grams plus token embeddings, one linear SVM.

Chosen by measurement on banking77, Bitext and Endava (README "Triage quality"): word
1–2-grams carry the vocabulary, character 2–5-grams survive typos and inflection, and mean
token embeddings (core.learning.embeddings) link paraphrases; a linear SVM over all three beat
each alone, logistic regression, an RBF SVM on the embeddings and a small MLP on accuracy or
training time. It trains on 10,000 rows in seconds on 2 cores and predicts in about a
millisecond.

Saved models are pickles: load only files you trained yourself, as with any code.
"""

from __future__ import annotations

import functools
import math
import os
import pickle
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import InvalidInput, SupportbotError
from core.learning import embeddings
from core.learning.targets import Target
from core.triage.learned import Prediction

FORMAT = "supportbot-text-model/1"
FAMILY = "tfidf-word1-2+char2-5+wordllama256 linear-svm"
EMBEDDING_WEIGHT = 2.0  # the dense block's scale against the two unit-norm tf-idf blocks
C = 0.5  # SVM regularisation: 0.5 and 1 tie on banking77; the smaller one generalises safer


class ModelError(SupportbotError):
    """A model file that cannot be used: missing, not ours, or from another scikit-learn."""


class MeaningFeatures:
    """A scikit-learn transformer from texts to scaled embedding rows; holds no data, so a
    pickled model does not carry the 16 MB embedding matrix."""

    def __init__(self, weight: float = EMBEDDING_WEIGHT) -> None:
        self.weight = weight

    def fit(self, texts: Sequence[str], labels: object = None) -> MeaningFeatures:
        return self

    def transform(self, texts: Sequence[str]) -> Any:
        return embeddings.embed(texts) * self.weight

    def get_params(self, deep: bool = True) -> dict[str, object]:
        return {"weight": self.weight}

    def set_params(self, **params: float) -> MeaningFeatures:
        self.weight = params.get("weight", self.weight)
        return self


@dataclass(frozen=True)
class TextModel:
    """A fitted classifier for one target, with what it was trained on."""

    target: Target
    labels: tuple[str, ...]
    rows: int
    trained_at: str
    pipeline: Any
    family: str = FAMILY

    @functools.cached_property
    def _fast(self) -> _FastPath:
        return _FastPath(self.pipeline)

    def __getstate__(self) -> dict[str, object]:
        """Pickle without the derived fast path; it is rebuilt on first use."""
        return {k: v for k, v in self.__dict__.items() if k != "_fast"}

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """The best label per text; confidence is a softmax over the SVM's margins, a relative
        score for display and thresholds, not a calibrated probability."""
        if not texts:
            return []
        if len(texts) == 1:
            margins = self._fast.margins(texts[0])
        else:
            margins = self.pipeline.decision_function(list(texts))
        classes = [str(c) for c in self.pipeline.classes_]
        out = []
        for row in margins.reshape(len(texts), -1):
            scores = [-float(row[0]), float(row[0])] if len(classes) == 2 else list(row)
            best = max(range(len(scores)), key=scores.__getitem__)
            peak = scores[best]
            total = sum(math.exp(5.0 * (s - peak)) for s in scores)
            out.append(Prediction(classes[best], round(1.0 / total, 4)))
        return out


class _FastPath:
    """The fitted pipeline's arithmetic for one text, without scikit-learn's per-call input
    validation, which costs ten times the arithmetic when the pipeline sees a single ticket.
    A test holds it equal to `decision_function`."""

    def __init__(self, pipeline: Any) -> None:
        import numpy as np

        features = pipeline.named_steps["features"]
        svm = pipeline.named_steps["svm"]
        # Transposed: one text gathers a few hundred feature rows, contiguous this way.
        self._coef = np.ascontiguousarray(np.asarray(svm.coef_, dtype=np.float64).T)
        self._intercept = np.asarray(svm.intercept_, dtype=np.float64)
        self._blocks = []
        offset = 0
        for _, step in features.transformer_list:
            if isinstance(step, MeaningFeatures):
                self._meaning = (offset, step.weight)
                offset += embeddings.DIMENSIONS
            else:
                self._blocks.append(
                    (step.build_analyzer(), step.vocabulary_, np.asarray(step.idf_), offset)
                )
                offset += len(step.vocabulary_)

    def margins(self, text: str) -> Any:
        import numpy as np

        scores = self._intercept.copy()
        for analyze, vocabulary, idf, offset in self._blocks:
            counts: dict[int, int] = {}
            for gram in analyze(text):
                column = vocabulary.get(gram)
                if column is not None:
                    counts[column] = counts.get(column, 0) + 1
            if not counts:
                continue
            columns = np.fromiter(counts, dtype=np.intp, count=len(counts))
            weights = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64))) * idf[columns]
            weights /= np.linalg.norm(weights)
            scores += weights @ self._coef[offset + columns]
        offset, weight = self._meaning
        vector = embeddings.embed([text])[0].astype(np.float64) * weight
        scores += vector @ self._coef[offset : offset + embeddings.DIMENSIONS]
        return scores


def build_pipeline() -> Any:
    """An unfitted scikit-learn pipeline of the chosen family."""
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import FeatureUnion, Pipeline
        from sklearn.svm import LinearSVC
    except ImportError as exc:
        raise ModelError("scikit-learn is missing: install the ml extra") from exc
    features = FeatureUnion(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2
                ),
            ),
            ("meaning", MeaningFeatures()),
        ]
    )
    return Pipeline([("features", features), ("svm", LinearSVC(C=C, max_iter=5000))])


def fit(texts: Sequence[str], labels: Sequence[str], *, target: Target) -> TextModel:
    """Fit a model; InvalidInput when the data cannot teach anything (one label, no rows)."""
    distinct = sorted(set(labels))
    if len(distinct) < 2:
        raise InvalidInput(f"training needs at least two different labels, got {distinct}")
    if len(texts) != len(labels):
        raise InvalidInput(f"{len(texts)} texts but {len(labels)} labels")
    pipeline = build_pipeline()
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        # A not-quite-converged SVM on noisy labels still ranks well; the warning would only
        # alarm users of `train`.
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipeline.fit(list(texts), list(labels))
    return TextModel(
        target=target,
        labels=tuple(distinct),
        rows=len(texts),
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        pipeline=pipeline,
    )


def save(model: TextModel, path: Path) -> None:
    """Write atomically, so a running bot never loads half a file."""
    import sklearn

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("wb") as handle:
        pickle.dump({"format": FORMAT, "sklearn": sklearn.__version__, "model": model}, handle)
    os.replace(partial, path)


def load(path: Path) -> TextModel:
    """Read a model saved by `save`; ModelError says what is wrong and what to do."""
    try:
        import sklearn
    except ImportError as exc:
        raise ModelError(f"{path}: scikit-learn is missing: install the ml extra") from exc
    try:
        with path.open("rb") as handle:
            saved = pickle.load(handle)
    except FileNotFoundError as exc:
        raise ModelError(f"{path}: no such model file") from exc
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        raise ModelError(f"{path}: not a supportbot model ({exc})") from exc
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise ModelError(f"{path}: not a supportbot model file")
    if _minor(str(saved.get("sklearn"))) != _minor(sklearn.__version__):
        raise ModelError(
            f"{path}: trained with scikit-learn {saved.get('sklearn')}, this is "
            f"{sklearn.__version__}; train it again"
        )
    model = saved["model"]
    if not isinstance(model, TextModel):
        raise ModelError(f"{path}: not a supportbot model file")
    return model


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])
