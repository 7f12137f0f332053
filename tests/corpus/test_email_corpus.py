"""parse_email against real mail nobody on this project wrote (../shared/data/emails).

Three checks: nothing in the corpus makes the parser fail; every bounce and auto-reply collected
by sisimai is recognised as automatic; and our from/subject/body agree with what Zammad, a mature
help desk, extracts from the same mails (its `*.yml` oracles). The agreement floors are set just
below the figures measured when this test was written, so a regression fails it.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from channels.email.html import convert_html
from channels.email.parse import parse_email
from core.model import AutoKind, InboundMessage
from tests.support import shared_data

pytestmark = pytest.mark.corpus

NOW = datetime(2026, 11, 23, tzinfo=UTC)

# Files under sisimai's maildir that are genuinely not automatic, with the reason.
SISIMAI_NOT_AUTOMATIC = {
    "bsd/lhost-sendmail-14.eml": (
        "a person forwarded a bounce to a colleague ('Fwd: Returned mail…', Apple Mail, no "
        "automatic header, the bounce only quoted): answering a person is right"
    ),
}

# Zammad writes this placeholder where a mail has no body text.
ZAMMAD_EMPTY_BODY = "no visible content"
# Measured when written: from 80/83 (96.4 %), subject 83/84 (98.8 %), body 67/79 (84.8 %).
# The misses are mostly Zammad's own quirks (a trailing "." kept in an address, UTF-7 left
# encoded, HTML preferred where we read text/plain) or oracles that differ from their .box.
FLOORS = {"from": 0.95, "subject": 0.97, "body": 0.83}


@cache
def parse_file(path: Path) -> InboundMessage:
    return parse_email(path.read_bytes(), received_at=NOW)


def list_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def normalise(text: str) -> str:
    return " ".join(text.split())


def test_every_corpus_file_parses_without_error() -> None:
    files = list_files(shared_data("emails"))
    started = time.perf_counter()
    failures: list[str] = []
    for path in files:
        msg = parse_file(path)
        if msg.problem and msg.problem.startswith("parse error"):
            failures.append(f"{path.name}: {msg.problem}")
        for field in (msg.text, msg.full_text, msg.subject, msg.sender_name, msg.sender_email):
            assert isinstance(field, str)
            field.encode("utf-8")  # raises on lone surrogates
            assert "\x00" not in field, path
    elapsed = time.perf_counter() - started
    print(f"\nparsed {len(files)} files, {1000 * elapsed / len(files):.1f} ms per file")
    assert not failures, "\n".join(failures)


def test_every_sisimai_mail_is_recognised_as_automatic() -> None:
    root = shared_data("emails", "sisimai-set-of-emails", "maildir")
    files = list_files(root)
    misses: list[str] = []
    for path in files:
        name = path.relative_to(root).as_posix()
        verdict = parse_file(path).automatic
        is_automatic = verdict in {AutoKind.BOUNCE, AutoKind.AUTO_REPLY}
        if name in SISIMAI_NOT_AUTOMATIC:
            assert not is_automatic, f"{name} is now automatic: drop it from the allowlist"
        elif not is_automatic:
            misses.append(f"{name}: {verdict}")
    checked = len(files) - len(SISIMAI_NOT_AUTOMATIC)
    print(f"\nsisimai: {checked - len(misses)}/{checked} recognised as automatic")
    assert not misses, f"missed {len(misses)}/{checked} ({len(misses) / checked:.1%}):\n" + (
        "\n".join(misses)
    )


def load_zammad_oracle(path: Path) -> dict[str, Any]:
    """Zammad's expectations; its YAML carries Ruby tags, read here as plain maps."""
    yaml = pytest.importorskip("yaml")
    loader: Any = type("OracleLoader", (getattr(yaml, "CSafeLoader", yaml.SafeLoader),), {})

    def construct_any(loader_: Any, _suffix: str, node: Any) -> Any:
        if isinstance(node, yaml.MappingNode):
            return loader_.construct_mapping(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            return loader_.construct_sequence(node, deep=True)
        return loader_.construct_scalar(node)

    loader.add_multi_constructor("!", construct_any)
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # a SafeLoader subclass
    return data if isinstance(data, dict) else {}


def render_expected_body(oracle: dict[str, Any]) -> str:
    body = str(oracle.get("body") or "")
    if body.strip() == ZAMMAD_EMPTY_BODY:
        return ""
    looks_like_html = re.search(r"<(p|div|br|span|table|html)\b", body[:2000], re.IGNORECASE)
    if oracle.get("content_type") == "text/html" or looks_like_html:
        return convert_html(body).full
    return body


def bodies_agree(expected: str, ours: str) -> bool:
    if not expected or not ours:
        return expected == ours
    return expected[:200] in ours or ours[:200] in expected


def compare_with_oracle(oracle: dict[str, Any], msg: InboundMessage) -> dict[str, bool]:
    """Which of from, subject and body agree, for the keys the oracle has."""
    results: dict[str, bool] = {}
    if "from_email" in oracle:
        results["from"] = str(oracle["from_email"]).strip().lower() == msg.sender_email
    if "subject" in oracle:
        results["subject"] = normalise(str(oracle["subject"] or "")) == normalise(msg.subject)
    if "body" in oracle:
        expected = normalise(render_expected_body(oracle))
        results["body"] = bodies_agree(expected, normalise(msg.full_text))
    return results


def test_agreement_with_zammad_oracles() -> None:
    root = shared_data("emails", "zammad-mail", "test", "data", "mail")
    agreed = dict.fromkeys(FLOORS, 0)
    total = dict.fromkeys(FLOORS, 0)
    disagreements: list[str] = []
    for oracle_path in sorted(root.glob("*.yml")):
        box = oracle_path.with_suffix(".box")
        if not box.exists():
            continue
        for key, agrees in compare_with_oracle(
            load_zammad_oracle(oracle_path), parse_file(box)
        ).items():
            total[key] += 1
            agreed[key] += agrees
            if not agrees:
                disagreements.append(f"{key}: {box.name}")
    rates = {key: agreed[key] / total[key] for key in FLOORS if total[key]}
    summary = ", ".join(f"{k} {agreed[k]}/{total[k]} ({rates[k]:.1%})" for k in rates)
    print(f"\nZammad agreement: {summary}")
    below = [key for key, floor in FLOORS.items() if rates.get(key, 0.0) < floor]
    assert not below, f"below floor {FLOORS}: {summary}\n" + "\n".join(disagreements)
