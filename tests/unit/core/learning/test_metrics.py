"""The eval figures, checked against a small confusion worked out by hand."""

import pytest

from core.learning.metrics import score


def test_figures_match_a_hand_computed_confusion() -> None:
    truth = ["a", "a", "a", "b", "b", "c"]
    guess = ["a", "a", "b", "b", "c", "c"]
    report = score(truth, guess)
    assert report.n == 6
    assert report.accuracy == pytest.approx(4 / 6)
    a, b, c = (report.per_class[k] for k in "abc")
    assert (a.precision, a.recall, a.support) == (1.0, pytest.approx(2 / 3), 3)
    assert (b.precision, b.recall) == (0.5, 0.5)
    assert (c.precision, c.recall) == (0.5, 1.0)
    assert a.f1 == pytest.approx(0.8)
    assert report.macro_f1 == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)


def test_an_invented_label_costs_recall_but_adds_no_class() -> None:
    report = score(["a", "b"], ["a", "zzz"])
    assert set(report.per_class) == {"a", "b"}
    assert report.per_class["b"].recall == 0.0
    assert report.macro_f1 == pytest.approx(0.5)


def test_json_has_the_documented_keys() -> None:
    data = score(["x", "y"], ["x", "x"]).as_json()
    assert set(data) == {"n", "accuracy", "macro_f1", "per_class"}
    assert data["per_class"] == {
        "x": {"precision": 0.5, "recall": 1.0, "f1": 0.6667, "support": 1},
        "y": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
    }


def test_mismatched_or_empty_input_is_refused() -> None:
    with pytest.raises(ValueError, match="2 labels but 1"):
        score(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="nothing to score"):
        score([], [])
