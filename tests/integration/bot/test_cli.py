"""The `supportbot` commands end to end on a real SQLite file (what a user runs first)."""

from __future__ import annotations

import json
import mailbox
import os
import signal
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.support import isolate_settings, shared_data

URGENT = (
    "URGENT: our production database is down and customers cannot log in. This is unacceptable!"
)
INVOICE = "Could you send me a copy of last month's invoice? Thanks"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    return isolate_settings(monkeypatch, tmp_path)


def invoke(*args: str) -> dict[str, object] | list[object]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data: dict[str, object] | list[object] = json.loads(result.stdout)
    return data


def _mail(
    n: int,
    *,
    subject: str = "Help",
    body: str = "My order has not arrived.",
    reply_to: str | None = None,
    sender: str = "ann@customer.example",
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Ann Lee <{sender}>"
    msg["To"] = "support@example.com"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<m{n}@customer.example>"
    if reply_to:
        msg["In-Reply-To"] = f"<{reply_to}>"
    msg.set_content(body)
    return msg


def test_triage_json_meets_the_acceptance_examples(env: dict[str, str], tmp_path: Path) -> None:
    urgent = invoke("triage", URGENT, "--json")
    assert isinstance(urgent, dict)
    assert urgent["priority"] in ("P0", "P1") and urgent["sentiment"] >= 4  # type: ignore[operator]
    assert urgent["priority_label"] in ("critical", "high")
    invoice = invoke("triage", INVOICE, "--json")
    assert isinstance(invoice, dict)
    assert invoice["category"] == "billing" and invoice["priority"] in ("P2", "P3")
    assert invoice["sentiment"] <= 2  # type: ignore[operator]
    assert set(invoice) >= {
        "category",
        "category_confidence",
        "priority",
        "priority_label",
        "priority_score",
        "sentiment",
        "sentiment_score",
        "language",
        "sla",
    }
    sla = invoice["sla"]
    assert isinstance(sla, dict) and str(sla["first_response_due"]).endswith("Z")
    assert not (tmp_path / "sb.db").exists()  # triage stores nothing


def test_ingest_files_maildir_and_mbox_then_again_creates_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    files = tmp_path / "in"
    files.mkdir()
    (files / "a.eml").write_bytes(bytes(_mail(1)))
    (files / "b.eml").write_bytes(
        bytes(_mail(2, subject="Re: Help", reply_to="m1@customer.example", body="Any news?"))
    )
    (files / "notes.yml").write_text("not mail")
    maildir = mailbox.Maildir(tmp_path / "md", create=True)
    maildir.add(
        bytes(
            _mail(3, sender="bob@else.example", subject="Invoice", body="Please send the invoice.")
        )
    )
    box = mailbox.mbox(tmp_path / "archive.mbox", create=True)
    box.add(bytes(_mail(4, sender="cy@else.example", subject="Password", body="Reset please")))
    box.close()
    paths = [str(files), str(tmp_path / "md"), str(tmp_path / "archive.mbox")]
    first = invoke("ingest", *paths, "--json")
    assert first == {
        "new_tickets": 3,
        "followups": 1,
        "duplicates": 0,
        "quarantined": 0,
        "ignored_automatic": 0,
    }
    again = invoke("ingest", *paths, "--json")
    assert again == {
        "new_tickets": 0,
        "followups": 0,
        "duplicates": 4,
        "quarantined": 0,
        "ignored_automatic": 0,
    }
    tickets = invoke("tickets", "list", "--json")
    assert isinstance(tickets, list) and len(tickets) == 3
    shown = invoke("tickets", "show", "T1", "--json")
    assert isinstance(shown, dict)
    assert [m["text"].strip() for m in shown["messages"]] == [  # type: ignore[index, union-attr]
        "My order has not arrived.",
        "Any news?",
    ]
    drafts = shown["drafts"]
    assert isinstance(drafts, list)  # a new draft per follow-up supersedes the first
    assert [(d["version"], d["status"]) for d in drafts] == [(1, "superseded"), (2, "pending")]


def test_garbage_is_quarantined_and_can_be_retried(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.eml"
    bad.write_bytes(b"\x00\x01\x02 not an email at all \xff")
    result = invoke("ingest", str(bad), "--json")
    assert result["quarantined"] == 1  # type: ignore[call-overload]
    held = invoke("quarantine", "list", "--json")
    assert isinstance(held, list) and len(held) == 1
    assert held[0]["reason"]  # type: ignore[index]
    run = CliRunner().invoke(app, ["quarantine", "retry", str(held[0]["id"])])  # type: ignore[index]
    assert run.exit_code == 0 and "quarantined" in run.stdout


def test_bad_configuration_is_one_line_without_traceback(
    tmp_path: Path, env: dict[str, str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[triage.priority]\np0 = 'high'\n")
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(config), "triage", "hello"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: configuration error at 'triage.priority.p0': Input should be a valid number, "
        "unable to parse string as a number"
    ]
    assert "Traceback" not in proc.stderr


def test_show_unknown_ticket_is_a_clear_error(env: dict[str, str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "tickets", "show", "T999"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
    )
    assert proc.returncode == 2 and proc.stderr.strip() == "error: no ticket T999"


def test_run_says_what_is_off_and_stops_cleanly(env: dict[str, str], tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
        cwd=tmp_path,
    )
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        lines.append(line)
        if "is running" in line or not line:
            break
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=30)[1]
    assert proc.returncode == 0, "".join(lines) + rest
    text = "".join(lines)
    assert "email in: off" in text and "email out: off" in text and "slack: off" in text
    assert "scheduler: running" in text
    assert "stopped." in rest
    assert (tmp_path / "sb.db").exists()


@pytest.mark.corpus
def test_ingest_zammad_corpus_stores_every_mail_once(env: dict[str, str]) -> None:
    folder = shared_data("emails", "zammad-mail", "test", "data", "mail")
    total = len(list(folder.rglob("*.box")))
    first = invoke("ingest", str(folder), "--json")
    assert isinstance(first, dict)
    assert sum(first.values()) == total  # type: ignore[arg-type]
    assert first["new_tickets"] > total // 2  # type: ignore[operator]
    again = invoke("ingest", str(folder), "--json")
    assert again == {
        "new_tickets": 0,
        "followups": 0,
        "duplicates": total,
        "quarantined": 0,
        "ignored_automatic": 0,
    }


def test_approved_reply_reaches_the_smtp_server_threaded(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.servers.smtp import SmtpSink

    with SmtpSink() as sink:
        monkeypatch.setenv("SUPPORTBOT_SMTP__HOST", "127.0.0.1")
        monkeypatch.setenv("SUPPORTBOT_SMTP__PORT", str(sink.port))
        monkeypatch.setenv("SUPPORTBOT_SMTP__SECURITY", "plain")
        monkeypatch.setenv("SUPPORTBOT_APPROVAL__APPROVERS", '["cli:alice"]')
        mail = tmp_path / "m.eml"
        mail.write_bytes(bytes(_mail(1, subject="Where is my parcel?")))
        invoke("ingest", str(mail), "--json")

        refused = CliRunner().invoke(app, ["drafts", "approve", "T1", "--as", "mallory"])
        assert refused.exit_code != 0 and "not an approver" in str(refused.exception)
        assert invoke("outbox", "send", "--json") == {
            "sent": 0,
            "retrying": 0,
            "failed": 0,
            "skipped": 0,
        }
        edited = tmp_path / "reply.txt"
        edited.write_text("Hello Ann,\n\nYour parcel left our warehouse today.\n\nAlice\n")
        approved = CliRunner().invoke(
            app, ["drafts", "approve", "T1", "--as", "alice", "--edited", str(edited)]
        )
        assert approved.exit_code == 0, approved.output
        assert "edited and queued" in approved.stdout
        assert invoke("outbox", "send", "--json") == {
            "sent": 1,
            "retrying": 0,
            "failed": 0,
            "skipped": 0,
        }
        assert invoke("outbox", "send", "--json")["sent"] == 0  # type: ignore[call-overload]
        [received] = sink.received
    sent = received.parse()
    assert received.rcpt_tos == ("ann@customer.example",)
    assert sent["In-Reply-To"] == "<m1@customer.example>"
    assert sent["Subject"] == "Re: Where is my parcel? [#T1]"
    assert sent["Message-ID"].startswith("<sb.T1.")
    body = sent.get_body(("plain",))
    assert body is not None and "left our warehouse today" in body.get_content()
    shown = invoke("tickets", "show", "T1", "--json")
    assert isinstance(shown, dict)
    assert shown["ticket"]["status"] == "pending"  # type: ignore[index]
    assert shown["drafts"][-1]["status"] == "sent"  # type: ignore[index]


def test_web_without_its_extra_says_how_to_install_it(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "fastapi" else real(name, *a)
    )
    result = CliRunner().invoke(app, ["web"])
    assert result.exit_code != 0
    assert "pip install -e '.[web]'" in str(result.exception)
    assert "fastapi" in str(result.exception) and "uvicorn" not in str(result.exception)
