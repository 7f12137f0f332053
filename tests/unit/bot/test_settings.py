"""Settings: defaults with no file, file and environment precedence, one clear error."""

from __future__ import annotations

import re
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest
from pydantic import BaseModel

from bot.settings import CONFIG_ENV, Settings, load_settings, resolve_thread_secret
from channels.email.imap_config import MailboxConfig
from channels.email.smtp import SmtpConfig
from core.errors import ConfigError
from tests.support import clear_supportbot_env

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_supportbot_env(monkeypatch)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "supportbot.toml"
    path.write_text(text)
    return path


def test_defaults_need_no_file() -> None:
    s = load_settings()
    assert s.database.url == "sqlite:///./supportbot.db"
    assert s.approval.approvers == ()
    assert s.triage.priority.p0 == 16


def test_file_overrides_defaults_and_environment_overrides_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(
        tmp_path, '[database]\nurl = "sqlite:///from-file.db"\n[triage.priority]\np0 = 20\n'
    )
    assert load_settings(path).triage.priority.p0 == 20
    monkeypatch.setenv("SUPPORTBOT_DATABASE__URL", "sqlite:///from-env.db")
    s = load_settings(path)
    assert (s.database.url, s.triage.priority.p0) == ("sqlite:///from-env.db", 20)


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(_write(tmp_path, 'log_level = "debug"\n')))
    assert load_settings().log_level == "DEBUG"


def test_one_sla_target_overrides_only_that_key(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[triage.sla.targets."P1:paid"]\nfirst_response_minutes = 5\nresolution_minutes = 50\n',
    )
    targets = load_settings(path).triage.sla.targets
    assert targets["P1:paid"].first_response_minutes == 5
    assert targets["P0:enterprise"].first_response_minutes == 30 and len(targets) == 12


@pytest.mark.parametrize(
    ("toml", "key", "words"),
    [
        ("[databse]\nurl = 'x'\n", "databse", "unknown key"),
        ("[triage.priority]\nbogus = 1\n", "triage.priority.bogus", "unknown key"),
        ("[triage.priority]\np0 = 'high'\n", "triage.priority.p0", "number"),
        ("[triage.priority]\np0 = 5\np1 = 10\n", "triage", "p0"),
        ("[triage.sla.business_hours]\ntimezone = 'Mars/Base'\n", "triage", "timezone"),
        ("[triage.categories]\nfallback = 'nope'\n", "triage", "fallback"),
        ("log_level = 'loud'\n", "log_level", "DEBUG"),
        ("[intake]\nmax_attachment_bytes = -1\n", "intake.max_attachment_bytes", "greater"),
    ],
)
def test_bad_configuration_names_the_key(tmp_path: Path, toml: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(_write(tmp_path, toml))
    assert err.value.key == key
    assert words in str(err.value)


def test_toml_syntax_error_and_missing_file_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"supportbot\.toml"):
        load_settings(_write(tmp_path, "[database\n"))
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(tmp_path / "absent.toml")


def test_bad_environment_value_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORTBOT_TRIAGE__PRIORITY__P1", "abc")
    with pytest.raises(ConfigError, match=r"triage\.priority\.p1"):
        load_settings()


def _leaf_keys(value: object, prefix: str = "") -> list[str]:
    if isinstance(value, BaseModel):
        names = list(type(value).model_fields)
    elif is_dataclass(value):
        names = [f.name for f in fields(value)]
    else:
        return [prefix.rstrip(".")]
    keys: list[str] = []
    for name in names:
        keys += _leaf_keys(getattr(value, name), f"{prefix}{name}.")
    return keys


def test_example_file_loads_and_mentions_every_key() -> None:
    example = ROOT / "config.example.toml"
    loaded = load_settings(example)
    # It documents the defaults, not other values; optional sections appear with theirs.
    assert loaded == Settings(smtp=SmtpConfig())
    text = example.read_text()

    def is_documented(key: str) -> bool:  # as `name = …` (maybe commented) or a table header
        name = re.escape(key.rsplit(".", 1)[-1])
        return (
            bool(re.search(rf"^#?\s*{name}\s*=", text, re.M))
            or f"[{key}" in text
            or f"[[{key}]]" in text
        )

    mailbox = MailboxConfig(name="x", host="h", user="u", password="p")
    keys = [*_leaf_keys(loaded), *(f"mailboxes.{f.name}" for f in fields(mailbox))]
    missing = [k for k in keys if not is_documented(k)]
    assert missing == []


def test_thread_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    brand = Settings().brand.model_copy(update={"secret_file": tmp_path / "s" / "secret"})
    first = resolve_thread_secret(brand)
    assert len(first) == 64 and resolve_thread_secret(brand) == first
    assert (tmp_path / "s" / "secret").stat().st_mode & 0o077 == 0


def test_mailboxes_from_toml_are_validated(tmp_path: Path) -> None:
    box = '[[mailboxes]]\nname = "support"\nhost = "imap.test"\nuser = "u"\npassword = "p"\n'
    assert load_settings(_write(tmp_path, box)).mailboxes[0].port == 993
    with pytest.raises(ConfigError, match="unique"):
        load_settings(_write(tmp_path, box + box))
    with pytest.raises(ConfigError, match="exactly one of password"):
        load_settings(_write(tmp_path, box.replace('password = "p"\n', "")))
