"""IMAP intake end to end: a real Dovecot, supportbot's real SQLite storage, intake and drafting.

Each test states one promise of DESIGN §2 ("Inbound email, end to end") or §3 (invariants 1
and 2: stored before acknowledged, exactly one ticket per message) and checks it from the
outside: tickets in the database, flags and folders on the server, the mailbox's health row.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import replace
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from imapclient import IMAPClient  # type: ignore[import-untyped]

from bot.bootstrap import Services
from channels.email.imap import (
    MailboxAuthError,
    MailboxConfig,
    Receive,
    poll_mailbox,
    watch_mailbox,
)
from core.model import Disposition, MailboxState, QuarantineStatus
from tests.servers.dovecot import Dovecot

REPO = Path(__file__).resolve().parents[4]
WAIT_SECONDS = 10.0  # generous: on an idle machine each wait below ends within ~1-3 s


def make_mail(
    n: int,
    *,
    sender: str = "ann@customer.example",
    subject: str | None = None,
    body: str = "My order has not arrived yet. Could you check where it is?",
    in_reply_to: str | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Customer {n} <{sender}>"
    msg["To"] = "support@example.com"
    msg["Subject"] = subject or f"Order {n} is missing"
    msg["Message-ID"] = f"<m{n}@customer.example>"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body)
    return msg.as_bytes(policy=policy.SMTP)


def poll(config: MailboxConfig, services: Services, receive: Receive) -> dict[str, int]:
    report = poll_mailbox(config, new_uow=services.new_uow, receive=receive, clock=services.clock)
    return {str(kind): count for kind, count in report.counts.items() if count}


def ticket_count(services: Services) -> int:
    with services.new_uow() as uow:
        return len(uow.tickets.list(limit=10_000))


def mailbox_state(services: Services, name: str = "support") -> MailboxState:
    with services.new_uow() as uow:
        state = uow.mailboxes.get(name)
    assert state is not None
    return state


def wait_until(condition: Callable[[], bool], *, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {WAIT_SECONDS:g} s waiting for {what}")
        time.sleep(0.05)


@contextmanager
def watching(config: MailboxConfig, services: Services, receive: Receive) -> Iterator[None]:
    """A watcher thread, as `supportbot run` starts one per mailbox; stopped on exit."""
    stop = threading.Event()
    thread = threading.Thread(
        target=watch_mailbox,
        kwargs={
            "config": config,
            "new_uow": services.new_uow,
            "receive": receive,
            "clock": services.clock,
            "stop": stop,
        },
        name=f"imap:{config.name}",
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive(), "the watcher did not stop within 5 s"


def test_new_mail_becomes_tickets_and_stays_unseen_on_the_server(
    dovecot: Dovecot, mailbox: MailboxConfig, services: Services, receive: Receive
) -> None:
    for n, sender in enumerate(["ann@a.example", "bob@b.example", "cy@c.example"]):
        dovecot.append(make_mail(n, sender=sender))

    assert poll(mailbox, services, receive) == {"new_ticket": 3}
    assert poll(mailbox, services, receive) == {}  # the cursor moved: nothing is read twice

    assert ticket_count(services) == 3
    flags = dovecot.flags()
    assert len(flags) == 3
    assert all(b"\\Seen" not in f and b"\\Deleted" not in f for f in flags.values())
    state = mailbox_state(services)
    assert state.last_uid == 3 and state.uidvalidity is not None
    assert state.last_success_at is not None and state.last_error is None
    assert state.lag_seconds is not None and state.lag_seconds >= 0


def test_a_reply_to_the_first_mail_is_a_followup_on_its_ticket(
    dovecot: Dovecot, mailbox: MailboxConfig, services: Services, receive: Receive
) -> None:
    dovecot.append(make_mail(1))
    assert poll(mailbox, services, receive) == {"new_ticket": 1}

    reply = make_mail(2, subject="Re: Order 1 is missing", in_reply_to="<m1@customer.example>")
    dovecot.append(reply)
    assert poll(mailbox, services, receive) == {"followup": 1}

    with services.new_uow() as uow:
        (ticket,) = uow.tickets.list()
        assert ticket.id is not None
        messages = uow.messages.list_for_ticket(ticket.id)
    assert [m.external_id for m in messages] == ["m1@customer.example", "m2@customer.example"]


def test_the_same_message_delivered_twice_makes_one_ticket(
    dovecot: Dovecot, mailbox: MailboxConfig, services: Services, receive: Receive
) -> None:
    dovecot.append(make_mail(1))
    dovecot.append(make_mail(1))

    assert poll(mailbox, services, receive) == {"new_ticket": 1, "duplicate": 1}
    assert ticket_count(services) == 1


def test_idle_wakes_the_watcher_when_mail_arrives(
    dovecot: Dovecot, mailbox: MailboxConfig, services: Services, receive: Receive
) -> None:
    dovecot.append(make_mail(1))
    with watching(mailbox, services, receive):
        wait_until(lambda: ticket_count(services) == 1, what="the catch-up at start")
        dovecot.append(make_mail(2, sender="bob@b.example"))
        started = time.monotonic()
        wait_until(lambda: ticket_count(services) == 2, what="the mail appended while idling")
        latency = time.monotonic() - started
    # Far below poll_seconds (60): only IDLE can have woken the watcher this soon.
    assert latency < 5, latency


def test_the_watcher_reconnects_after_a_server_restart_and_reads_new_mail(
    dovecot: Dovecot, mailbox: MailboxConfig, services: Services, receive: Receive
) -> None:
    dovecot.append(make_mail(1))
    with watching(mailbox, services, receive):
        wait_until(lambda: ticket_count(services) == 1, what="the first ticket")
        dovecot.restart()
        dovecot.append(make_mail(2, sender="bob@b.example"))
        wait_until(lambda: ticket_count(services) == 2, what="mail appended after the restart")
    state = mailbox_state(services)
    assert state.last_error is not None  # the dropped connection is in the health row
    assert state.last_success_at is not None and state.last_error_at is not None
    assert state.last_success_at > state.last_error_at
    assert state.last_uid == 2


def test_a_new_uidvalidity_rescans_the_folder_and_only_new_mail_makes_tickets(
    dovecot: Dovecot, mailbox: MailboxConfig, services: Services, receive: Receive
) -> None:
    config = replace(mailbox, folder="Support")
    dovecot.recreate_folder("Support")
    for n in (1, 2):
        dovecot.append(make_mail(n), "Support")
    assert poll(config, services, receive) == {"new_ticket": 2}
    before = mailbox_state(services)

    dovecot.recreate_folder("Support")  # renumbered: UIDs restart, UIDVALIDITY changes
    for n in (1, 2, 3):
        dovecot.append(make_mail(n, sender=f"c{n}@c.example"), "Support")
    report = poll_mailbox(config, new_uow=services.new_uow, receive=receive, clock=services.clock)

    assert report.rescanned
    assert report.counts[Disposition.NEW_TICKET] == 1
    assert report.counts[Disposition.DUPLICATE] == 2
    assert ticket_count(services) == 3
    after = mailbox_state(services)
    assert after.uidvalidity != before.uidvalidity and after.last_uid == 3


@pytest.mark.parametrize("has_move", [True, False], ids=["MOVE", "COPY+EXPUNGE"])
def test_move_to_files_processed_mail_away(
    dovecot: Dovecot,
    mailbox: MailboxConfig,
    services: Services,
    receive: Receive,
    monkeypatch: pytest.MonkeyPatch,
    has_move: bool,
) -> None:
    if not has_move:  # a server without MOVE (RFC 6851): hide the capability Dovecot has
        original = IMAPClient.has_capability

        def has_capability(self: IMAPClient, capability: str) -> bool:
            return capability.upper() != "MOVE" and bool(original(self, capability))

        monkeypatch.setattr(IMAPClient, "has_capability", has_capability)
    config = replace(mailbox, move_to="Processed")
    dovecot.append(make_mail(1))
    dovecot.append(make_mail(2, sender="bob@b.example"))

    assert poll(config, services, receive) == {"new_ticket": 2}

    assert dovecot.uids("INBOX") == []
    assert len(dovecot.uids("Processed")) == 2
    assert all(b"\\Deleted" not in f for f in dovecot.flags("Processed").values())
    dovecot.append(make_mail(3, sender="cy@c.example"))
    assert poll(config, services, receive) == {"new_ticket": 1}
    assert ticket_count(services) == 3


def test_a_refused_login_is_recorded_in_health_and_raised(
    mailbox: MailboxConfig, services: Services, receive: Receive
) -> None:
    wrong = replace(mailbox, password="not-the-password")

    with pytest.raises(MailboxAuthError, match="login failed") as raised:
        poll_mailbox(wrong, new_uow=services.new_uow, receive=receive, clock=services.clock)

    assert "not-the-password" not in str(raised.value)
    state = mailbox_state(services)
    assert state.auth_failures == 1
    assert state.last_error is not None and "login failed" in state.last_error
    assert "not-the-password" not in state.last_error

    poll(mailbox, services, receive)  # the right password: the count starts again
    assert mailbox_state(services).auth_failures == 0


def test_an_oversized_message_is_quarantined_with_its_headers_and_left_on_the_server(
    dovecot: Dovecot, mailbox: MailboxConfig, services: Services, receive: Receive
) -> None:
    config = replace(mailbox, max_message_bytes=4096)
    dovecot.append(make_mail(1, body="attachment follows\n" + "x" * 76 * 200))
    dovecot.append(make_mail(2, sender="bob@b.example"))

    assert poll(config, services, receive) == {"quarantined": 1, "new_ticket": 1}
    assert poll(config, services, receive) == {}

    with services.new_uow() as uow:
        (held,) = uow.quarantine.list(status=QuarantineStatus.HELD)
    assert held.reason.startswith("too large")
    assert held.source_id == "m1@customer.example"
    assert b"Message-ID: <m1@customer.example>" in held.raw
    assert b"attachment follows" not in held.raw
    assert dovecot.uids() == [1, 2]


def test_when_intake_fails_the_cursor_stays_before_that_message(
    dovecot: Dovecot, mailbox: MailboxConfig, services: Services, receive: Receive
) -> None:
    for n in (1, 2, 3):
        dovecot.append(make_mail(n, sender=f"c{n}@c.example"))
    calls = 0

    def storage_down_on_second(raw: bytes, *, problem: str | None = None) -> Disposition:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionError("database is unreachable")
        return receive(raw, problem=problem)

    with pytest.raises(ConnectionError, match="unreachable"):
        poll(mailbox, services, storage_down_on_second)

    state = mailbox_state(services)
    assert state.last_uid == 1
    assert state.last_error == "intake failed at UID 2: ConnectionError"
    assert poll(mailbox, services, receive) == {"new_ticket": 2}
    assert ticket_count(services) == 3


@pytest.mark.parametrize("parse_workers", [0, 1], ids=["parsed-here", "parser-process"])
def test_kill_9_in_the_middle_of_a_batch_loses_and_doubles_nothing(
    dovecot: Dovecot,
    mailbox: MailboxConfig,
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    parse_workers: int,
) -> None:
    """Invariants 1 and 2 under the harshest crash: SIGKILL while intake is mid-batch, with
    mail parsed in the poller or in a parser process (which then loses its parent)."""
    total = 200
    dovecot.append_many([make_mail(n, sender=f"c{n}@c.example") for n in range(total)])
    database = tmp_path / "sb.db"
    config_file = tmp_path / "supportbot.toml"
    config_file.write_text(
        f"[intake]\nparse_workers = {parse_workers}\n\n"
        "[[mailboxes]]\n"
        f'name = "{mailbox.name}"\nhost = "{mailbox.host}"\nport = {mailbox.port}\n'
        f'security = "plain"\nuser = "{mailbox.user}"\npassword = "{mailbox.password}"\n'
        "lease_seconds = 6\n"
    )
    monkeypatch.setenv("SUPPORTBOT_CONFIG", str(config_file))
    command = [sys.executable, "-m", "bot", "poll", "--once", "--json"]
    child_env = {**os.environ, "PYTHONPATH": str(REPO)}

    first = subprocess.Popen(command, env=child_env, cwd=REPO, stdout=subprocess.DEVNULL)
    try:
        wait_until(lambda: _count(database, "tickets") >= 50, what="50 tickets")
        helpers = _descendants(first.pid)  # the forkserver, its parser, the resource tracker
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(10)
    at_kill = _count(database, "tickets")
    assert 50 <= at_kill < total, "killed too late to test anything"
    assert (len(helpers) >= 2) == (parse_workers > 0)
    wait_until(lambda: not any(_is_running(pid) for pid in helpers), what="helpers to exit")

    # The killed poller's lease still stands: a poll now is refused and reads nothing …
    refused = subprocess.run(command, env=child_env, cwd=REPO, capture_output=True, timeout=60)
    assert refused.returncode == 1
    assert b"is being read by" in refused.stderr
    assert _count(database, "tickets") == at_kill
    time.sleep(6.2)  # … until it runs out (lease_seconds = 6)
    second = subprocess.run(command, env=child_env, cwd=REPO, capture_output=True, timeout=60)
    assert second.returncode == 0, second.stderr.decode()
    counts = json.loads(second.stdout)

    assert _count(database, "tickets") == total
    assert _count(database, "messages") == total
    assert _count(database, "messages", "DISTINCT external_id") == total
    # The rerun starts right after the cursor, which moves once per fetch group: at most
    # one group (batch_size = 50 by default) is read again, and intake drops it.
    assert counts["new_tickets"] == total - at_kill
    assert counts["duplicates"] <= 50
    assert counts["new_tickets"] == total - at_kill
    with closing(sqlite3.connect(database)) as connection:
        (last_uid,) = connection.execute("SELECT last_uid FROM mailboxes").fetchone()
    assert last_uid == total


def _descendants(pid: int) -> list[int]:
    """Processes below `pid`, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended while we looked
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def _is_running(pid: int) -> bool:
    """Alive and not a zombie waiting for a parent (init) to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _count(database: Path, table: str, what: str = "*") -> int:
    if not database.exists():
        return 0
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)) as connection:
        try:
            row = connection.execute(f"SELECT count({what}) FROM {table}").fetchone()
        except sqlite3.OperationalError:  # not migrated yet
            return 0
    return int(row[0])


def test_two_watchers_on_one_database_read_each_mail_once_and_one_takes_over_from_the_other(
    dovecot: Dovecot, mailbox: MailboxConfig, services: Services, receive: Receive
) -> None:
    """Mailbox lease: of two instances, only the holder fetches; when it stops, the other
    takes over within lease_seconds."""
    config = replace(mailbox, lease_seconds=2.0, batch_size=5)
    total = 20
    dovecot.append_many([make_mail(n, sender=f"c{n}@c.example") for n in range(total)])
    fetched: dict[str, int] = {"a": 0, "b": 0}

    def counted(owner: str) -> Receive:
        def receive_as(raw: bytes, *, problem: str | None = None) -> Disposition:
            fetched[owner] += 1
            return receive(raw, problem=problem)

        return receive_as

    stops = {owner: threading.Event() for owner in fetched}
    threads = {
        owner: threading.Thread(
            target=watch_mailbox,
            kwargs={
                "config": config,
                "new_uow": services.new_uow,
                "receive": counted(owner),
                "clock": services.clock,
                "stop": stops[owner],
                "owner": owner,
            },
            name=f"imap:{owner}",
        )
        for owner in fetched
    }
    for thread in threads.values():
        thread.start()
    try:
        wait_until(lambda: ticket_count(services) == total, what="all 20 tickets")
        time.sleep(config.lease_seconds)  # a few renewals: the holder keeps it
        (holder,) = [owner for owner, n in fetched.items() if n]
        other = "b" if holder == "a" else "a"
        assert fetched == {holder: total, other: 0}
        with services.new_uow() as uow:
            lease = uow.mailboxes.lease_holder("support", now=services.clock.now())
        assert lease is not None and lease[0] == holder

        stops[holder].set()
        threads[holder].join(5)
        stopped = time.monotonic()
        dovecot.append(make_mail(total, sender="late@c.example"))
        wait_until(lambda: ticket_count(services) == total + 1, what="the takeover")
        assert time.monotonic() - stopped < config.lease_seconds
        assert fetched == {holder: total, other: 1}
    finally:
        for stop in stops.values():
            stop.set()
        for thread in threads.values():
            thread.join(5)
    assert not any(thread.is_alive() for thread in threads.values())
    with services.new_uow() as uow:
        assert uow.mailboxes.lease_holder("support", now=services.clock.now()) is None
