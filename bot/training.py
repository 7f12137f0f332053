"""Where trained triage models live, and the train/eval jobs behind `supportbot train|eval`.

The CLI only parses and prints; this module picks the data source, the predictor and the
model file from settings, so the commands and the tests share one path.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.settings import Settings
from core.errors import InvalidInput
from core.learning import textmodel
from core.learning.baselines import RulesPredictor, VaderPredictor
from core.learning.datasets import Labelled, read_labelled_csv
from core.learning.history import labelled_from_history
from core.learning.metrics import Report, score
from core.learning.targets import Target, normalize_labels
from core.ports import UnitOfWork
from core.triage.learned import LabelPredictor, TriageModels

RULES, VADER = "rules", "vader"


def model_path(settings: Settings, target: Target) -> Path:
    return settings.learning.models_dir / f"{target.value}.model"


def load_triage_models(settings: Settings) -> TriageModels:
    """The models `train` stored; a file that cannot be used stops start-up with its reason
    rather than letting triage silently fall back to the rules."""
    found = {}
    for target in Target:
        path = model_path(settings, target)
        if path.exists():
            found[target.value] = textmodel.load(path)
    return TriageModels(**found)


def read_csv(
    path: Path, *, text_col: str, label_col: str, target: Target, rename: Sequence[str] = ()
) -> Labelled:
    """Labelled rows with each `OLD=NEW` of `rename` applied first, so two exports that
    spell a label differently ("INVOICE" and "INVOICES") can be compared."""
    renames = {}
    for pair in rename:
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise InvalidInput(f"--rename {pair!r}: write OLD=NEW")
        renames[old.strip()] = new.strip()
    data = read_labelled_csv(path, text_col=text_col, label_col=label_col)
    labels = tuple(renames.get(label, label) for label in data.labels)
    return Labelled(data.texts, normalize_labels(target, labels), data.skipped)


def read_history(new_uow: Callable[[], UnitOfWork], target: Target) -> Labelled:
    data = labelled_from_history(new_uow(), target)
    if not data.texts:
        raise InvalidInput(
            f"no ticket has a {target.value} set by a person yet; train from a CSV instead"
        )
    return Labelled(data.texts, normalize_labels(target, data.labels), data.skipped)


@dataclass(frozen=True)
class Trained:
    path: Path
    rows: int
    labels: int
    seconds: float


def train_and_save(data: Labelled, *, target: Target, path: Path) -> Trained:
    started = time.perf_counter()
    model = textmodel.fit(data.texts, data.labels, target=target)
    textmodel.save(model, path)
    return Trained(path, model.rows, len(model.labels), round(time.perf_counter() - started, 2))


def predictor_for(
    settings: Settings, target: Target, model: str | None
) -> tuple[str, LabelPredictor]:
    """The predictor `eval` measures, and its name: a model file, `rules`, `vader`, or by
    default what triage uses now (the installed model, else the rules)."""
    if model == VADER:
        if target is not Target.SENTIMENT:
            raise InvalidInput("--model vader only measures sentiment")
        return VADER, VaderPredictor()
    if model == RULES:
        return RULES, RulesPredictor(target, settings.triage)
    path = Path(model) if model else model_path(settings, target)
    if model or path.exists():
        return str(path), textmodel.load(path)
    return RULES, RulesPredictor(target, settings.triage)


def evaluate(predictor: LabelPredictor, data: Labelled, *, batch: int = 256) -> Report:
    predicted = []
    for start in range(0, len(data.texts), batch):
        predicted += [p.label for p in predictor.predict(data.texts[start : start + batch])]
    return score(data.labels, predicted)
