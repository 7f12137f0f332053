"""What a one-shot command loads at start: nothing it does not use.

Start-up is part of every `supportbot poll --once` (cron) and of the IMAP intake benchmark;
Alembic is needed only when the schema is behind, Slack only when `[slack]` is configured,
APScheduler only by `supportbot run`. Each check runs in a fresh interpreter, because this
one has imported everything already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from core.storage.migrate import HEAD, current_revision
from tests.support import isolate_settings

ROOT = Path(__file__).resolve().parents[3]
LAZY = ("alembic", "slack_sdk", "slack_bolt", "apscheduler")

# Settings and services as `poll --once` builds them, then which of LAZY got imported.
PROBE = """
import json, sys
from bot.cli import state
services = state.services()
services.close()
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules} & set(sys.argv[1:]))))
"""


def _probe(script: str, names: Sequence[str], env: dict[str, str]) -> Any:
    """Run `script` in a fresh interpreter with `names` as its arguments; its JSON answer."""
    result = subprocess.run(
        [sys.executable, "-c", script, *names],
        cwd=ROOT,
        env={**_base_env(), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _loaded_at_start(env: dict[str, str]) -> list[str]:
    loaded: list[str] = _probe(PROBE, LAZY, env)
    return loaded


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTBOT_")}


def test_a_start_on_a_database_at_head_loads_no_alembic_slack_or_scheduler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = isolate_settings(monkeypatch, tmp_path)
    assert _loaded_at_start(env) == ["alembic"]  # the first start migrates the new file
    assert current_revision(env["SUPPORTBOT_DATABASE__URL"]) == HEAD
    assert _loaded_at_start(env) == []


def test_a_start_with_slack_configured_loads_the_slack_sdk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = isolate_settings(
        monkeypatch,
        tmp_path,
        SUPPORTBOT_SLACK__BOT_TOKEN="xoxb-test",
        SUPPORTBOT_SLACK__APP_TOKEN="xapp-test",
        SUPPORTBOT_SLACK__AGENTS_CHANNEL="C0AGENTS",
    )
    assert "slack_sdk" in _loaded_at_start(env)


# A mailbox reader's start: triage's lazily loaded models, before and after the warm-up.
WARM_UP_PROBE = """
import json, sys, threading
from bot.cli import state
services = state.services()
before = sorted(set(sys.argv[1:]) & set(sys.modules))
services.mail_receiver()
for thread in threading.enumerate():
    if thread.name == "triage-warm-up":
        thread.join(60)
after = sorted(set(sys.argv[1:]) & set(sys.modules))
services.close()
print(json.dumps([before, after]))
"""


def test_a_mailbox_reader_loads_triage_models_before_the_first_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = isolate_settings(monkeypatch, tmp_path)
    models = ["py3langid", "vaderSentiment"]
    assert _probe(WARM_UP_PROBE, models, env) == [[], models]
