"""Reading labelled CSVs: bad files fail with the file and column named."""

from pathlib import Path

import pytest

from core.errors import InvalidInput
from core.learning.datasets import read_labelled_csv


def test_rows_without_text_or_label_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(
        '\ufefftext,label\n"Hi, where is it?",shipping\n,billing\nrefund,\nok,general\n'
    )
    data = read_labelled_csv(path, text_col="text", label_col="label")
    assert data.texts == ("Hi, where is it?", "ok")
    assert data.labels == ("shipping", "general")
    assert data.skipped == 2


def test_a_missing_column_lists_the_real_ones(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("body,category\nhello,general\n")
    with pytest.raises(InvalidInput, match="no column 'text'; the columns are: body, category"):
        read_labelled_csv(path, text_col="text", label_col="category")


def test_missing_or_empty_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        read_labelled_csv(tmp_path / "nope.csv", text_col="t", label_col="l")
    empty = tmp_path / "empty.csv"
    empty.write_text("t,l\n,\n")
    with pytest.raises(InvalidInput, match="no rows with both"):
        read_labelled_csv(empty, text_col="t", label_col="l")
