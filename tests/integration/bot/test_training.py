"""`supportbot train` and `supportbot eval` end to end: a model trained from a CSV or from
agents' corrections in a real SQLite store is picked up by triage and intake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.bootstrap import bootstrap
from bot.cli import app
from bot.settings import load_settings
from core import ticket_actions
from core.errors import SupportbotError
from tests.learning_data import HELD_OUT, TOPICS, write_csv
from tests.support import isolate_settings
from tests.unit.core.builders import inbound

REPORT_KEYS = {"n", "accuracy", "macro_f1", "per_class"}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    return isolate_settings(
        monkeypatch,
        tmp_path,
        SUPPORTBOT_LEARNING__MODELS_DIR=str(tmp_path / "models"),
        SUPPORTBOT_APPROVAL__APPROVERS='["web:agent"]',
    )


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def refused(*args: str) -> str:
    """The message of the error that `supportbot` prints on one line before exiting 2."""
    result = CliRunner().invoke(app, list(args))
    assert isinstance(result.exception, SupportbotError), result.output
    return str(result.exception)


def test_trained_category_model_is_used_by_triage(env: dict[str, str], tmp_path: Path) -> None:
    csv_file = write_csv(tmp_path / "labelled.csv", text_col="body", label_col="topic")
    before = json.loads(run("triage", HELD_OUT["login"], "--json"))
    assert before["category"] != "login"  # not one of the rules' categories

    trained = json.loads(
        run("train", "--csv", str(csv_file), "--text-col", "body", "--label-col", "topic", "--json")
    )
    assert trained["rows"] == 60 and trained["labels"] == 3
    assert Path(trained["model"]) == tmp_path / "models" / "category.model"

    after = json.loads(run("triage", HELD_OUT["login"], "--json"))
    assert after["category"] == "login"
    assert any(s.startswith("category: by model login") for s in after["signals"])


def test_eval_reports_the_documented_json_for_model_rules_and_folds(
    env: dict[str, str], tmp_path: Path
) -> None:
    csv_file = write_csv(tmp_path / "labelled.csv")
    rules = json.loads(run("eval", "--csv", str(csv_file), "--model", "rules", "--json"))
    assert set(rules) == REPORT_KEYS and rules["n"] == 60
    assert rules["per_class"]["login"]["recall"] == 0.0  # not one of the rules' categories

    model = tmp_path / "elsewhere.model"
    run("train", "--csv", str(csv_file), "--model", str(model))
    own = json.loads(run("eval", "--csv", str(csv_file), "--model", str(model), "--json"))
    assert own["accuracy"] == 1.0
    assert set(own["per_class"]) == set(TOPICS)
    assert set(own["per_class"]["login"]) == {"precision", "recall", "f1", "support"}

    renames = ("--rename", "login=signin", "--rename", "billing=payments")
    renamed = json.loads(
        run("eval", "--csv", str(csv_file), "--model", str(model), *renames, "--json")
    )
    assert renamed["per_class"]["signin"]["recall"] == 0.0  # the model says "login"
    assert renamed["accuracy"] == pytest.approx(1 / 3, abs=1e-4)

    crossed = json.loads(run("eval", "--csv", str(csv_file), "--folds", "3", "--json"))
    assert set(crossed) == REPORT_KEYS and crossed["n"] == 60
    assert 0.8 <= crossed["accuracy"] <= 1.0
    assert not (tmp_path / "models").exists()  # cross-validation stores nothing


def test_sentiment_eval_against_vader(env: dict[str, str], tmp_path: Path) -> None:
    gold = tmp_path / "mood.csv"
    gold.write_text(
        "text,label\n"
        '"Could you please send me the invoice? Thanks, great!",neutral\n'
        '"Three weeks waiting and still nothing has been shipped.",negative\n'
        '"That fixed it, brilliant work, thank you!",positive\n'
    )
    vader = json.loads(
        run("eval", "--csv", str(gold), "--target", "sentiment", "--model", "vader", "--json")
    )
    ours = json.loads(run("eval", "--csv", str(gold), "--target", "sentiment", "--json"))
    assert vader["accuracy"] < 1.0
    assert ours["accuracy"] == 1.0


def test_train_from_agents_corrections(env: dict[str, str], tmp_path: Path) -> None:
    services = bootstrap(load_settings())
    policy = services.approval
    categories = ("billing", "shipping", "account")
    # A permuted taxonomy, so every ticket really is corrected (an agent's change that
    # agrees with the rules is no change and leaves no event to learn from).
    corrected = {"billing": "shipping", "shipping": "account", "login": "billing"}
    n = 0
    for topic, phrases in TOPICS.items():
        for phrase in phrases:
            n += 1
            result = services.receive(
                inbound(f"Hello, {phrase}.", external_id=f"m{n}@x", subject="Help")
            )
            assert result.ticket_id is not None
            ticket_actions.reclassify(
                services.new_uow(),
                ticket_id=result.ticket_id,
                category=corrected[topic],
                categories=categories,
                actor="web:agent",
                policy=policy,
                clock=services.clock,
            )
    # A ticket nobody corrected teaches nothing.
    services.receive(inbound("Hello, something odd.", external_id="m-untouched@x"))
    services.close()

    trained = json.loads(run("train", "--from-db", "--json"))
    assert trained["rows"] == 15 and trained["labels"] == 3
    after = json.loads(run("triage", HELD_OUT["login"], "--json"))
    assert after["category"] == "billing"

    assert "agents do not set sentiment" in refused("train", "--from-db", "--target", "sentiment")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("train",), "give either --csv FILE or --from-db"),
        (("eval", "--csv", "{csv}", "--target", "category", "--model", "vader"), "only measures"),
        (("eval", "--csv", "{csv}", "--label-col", "nope"), "no column 'nope'"),
        (("eval", "--csv", "{csv}", "--target", "priority"), "priority label 'shipping'"),
        (("eval", "--csv", "{csv}", "--folds", "3", "--model", "rules"), "leave out --model"),
        (("eval", "--csv", "{csv}", "--model", "{missing}"), "no such model file"),
        (("eval", "--csv", "{csv}", "--rename", "billing"), "write OLD=NEW"),
    ],
)
def test_bad_input_is_refused_with_what_is_wrong(
    env: dict[str, str], tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    csv_file = write_csv(tmp_path / "labelled.csv")
    filled = [a.format(csv=csv_file, missing=tmp_path / "none.model") for a in args]
    assert message in refused(*filled)


def test_a_broken_model_file_stops_the_command_with_one_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "priority.model").write_bytes(b"garbage")
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "triage", "hello"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: ")
    assert "priority.model: not a supportbot model" in proc.stderr
    assert "Traceback" not in proc.stderr
