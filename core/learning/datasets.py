"""Labelled text from a CSV file, with errors that name the file, column or row at fault."""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

from core.errors import InvalidInput


@dataclass(frozen=True)
class Labelled:
    """Texts and their gold labels, in file order; `skipped` counts rows without either."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    skipped: int = 0


def read_labelled_csv(path: Path, *, text_col: str, label_col: str) -> Labelled:
    """Read two columns of a CSV (UTF-8, optional BOM); rows with an empty text or label are
    skipped and counted, since exports from help desks often carry a few."""
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    csv.field_size_limit(sys.maxsize)  # ticket bodies can exceed the 128 KiB default
    texts: list[str] = []
    labels: list[str] = []
    skipped = 0
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        for wanted in (text_col, label_col):
            if wanted not in columns:
                raise InvalidInput(
                    f"{path}: no column {wanted!r}; the columns are: {', '.join(columns)}"
                )
        for row in reader:
            text = (row.get(text_col) or "").strip()
            label = (row.get(label_col) or "").strip()
            if not text or not label:
                skipped += 1
                continue
            texts.append(text)
            labels.append(label)
    if not texts:
        raise InvalidInput(f"{path}: no rows with both {text_col!r} and {label_col!r}")
    return Labelled(tuple(texts), tuple(labels), skipped)
