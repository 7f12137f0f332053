"""Three `supportbot run` processes on one PostgreSQL database, one of them killed with
SIGKILL halfway: every mail still becomes exactly one ticket or follow-up with exactly one
model draft, every draft is posted to Slack once, and every approved reply reaches the SMTP
server once (DESIGN §3, invariants 1, 2 and 4; README "Several instances").

Real processes, so the crash is a real one: the killed instance holds the mailbox lease, its
IMAP session, claimed scheduled actions and a Socket Mode connection when it dies, and the
other two must take over from the database alone. Around them: a real Dovecot (the mail is
appended while the instances run), the Slack stand-in in Socket Mode (the agent's clicks
arrive as block_actions over the websocket; posts are not paced, the stand-in does not
rate-limit), the Gemini stand-in, which every instance's real google-genai client asks for
the drafts (so drafts the dead instance owed are made by the others, `core.drafting.owed`),
and aiosmtpd as the relay. Leases are short (mailbox 10 s, scheduled actions and
outbox rows 15 s) so the takeovers happen within seconds. The mailbox lease must outlast the
intake of one fetch group (up to 50 mails in one transaction), or the instances take the
mailbox from one another after every group (2 s: a takeover every few seconds, all
invariants still held, but slowly).

Each process writes its log to tmp_path, and the test a progress line every 5 s; on failure
they are printed. Time goes mostly to intake, which one instance (the mailbox's reader) does
alone, 25-30 mails/s here: the whole test took 130-155 s on the 2-core machine shared with
other work (start 10 s, reading 100-120 s, approvals and sends 10-15 s, checks and stop 10 s),
and 216 s with model drafting and three other sessions' work on the same cores.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psycopg
import pytest

from tests.integration.channels.slack.conftest import AGENT, AGENTS, make_standin
from tests.integration.conftest import PG_HOST, PG_PORT, fresh_postgres_database
from tests.servers.dovecot import Dovecot
from tests.servers.llm import GeminiStandIn
from tests.servers.smtp import SmtpSink
from tests.slack_standin import RecordedCall, SlackStandIn
from tests.support import require

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[2]

MAILS = 3000  # issue #8: 3,000 mails through three instances, one killed halfway
FOLLOWUP_EVERY = 5  # every fifth mail replies to an earlier ticket's first mail
CUSTOMERS = 400
INSTANCES = 3
MAILBOX_LEASE_SECONDS = 10.0  # a dead reader's mailbox is taken over within ~1.25 × this
ACTION_LEASE_SECONDS = 15.0  # scheduled actions and outbox rows a dead instance had claimed
TICK_SECONDS = 1.0
APPROVE_EVERY = 10  # approve the latest draft of every n-th ticket (1: all of them)
APPEND_CHUNK = 250  # mails per MULTIAPPEND
BUDGET_SECONDS = 300.0  # the whole test, start to finish (a hang guard); CI has 2 cores
LOG_TAIL_LINES = 60
PROGRESS_SECONDS = 5.0

INBOUND = "direction = 'inbound'"
ACTIONS_DUE = "status = 'pending' AND due_at <= now()"
OUTBOX_PENDING = "status = 'pending'"
OUTBOX_SENT = "status = 'sent'"
PRESENTING = "kind = 'slack.present' AND status <> 'done'"
OWED = "kind = 'draft.owed' AND status <> 'done'"
MODEL_TIMEOUT_SECONDS = 5  # with no retries and the action lease: owed drafts' grace, 20 s
_CARD = re.compile(r"^(T\d+) ")
_DRAFT = re.compile(r"^Draft v(\d+) for (T\d+)")


# -- the mail ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    message_id: str  # without angle brackets, as intake stores it
    raw: bytes
    opens: str  # Message-ID of the first mail of this mail's ticket (itself, for a new one)


_TOPICS = (
    ("Order {n} has not arrived", "My order {n} was due last week and has not arrived."),
    ("Invoice {n} charged twice", "I was charged twice for invoice {n}. Please refund one."),
    ("Cannot log in ({n})", "The password reset link for account {n} does not work."),
    ("App crashes on start ({n})", "Since the update the app crashes at once, build {n}."),
    ("Question about plan {n}", "Can I switch plan {n} to yearly billing?"),
)


def compose_mails(count: int, *, seed: int = 8) -> list[Mail]:
    """New tickets, and every FOLLOWUP_EVERY-th mail a reply (by In-Reply-To/References)
    from the same customer to an earlier ticket's first mail."""
    rng = random.Random(seed)
    mails: list[Mail] = []
    openers: list[tuple[Mail, str, str]] = []  # (mail, sender, subject)
    for n in range(count):
        msg = EmailMessage()
        message_id = f"m{n}.{seed}@customers.example"
        if n % FOLLOWUP_EVERY == FOLLOWUP_EVERY - 1 and openers:
            first, sender, subject = rng.choice(openers)
            msg["Subject"] = f"Re: {subject}"
            msg["In-Reply-To"] = f"<{first.message_id}>"
            msg["References"] = f"<{first.message_id}>"
            msg.set_content(f"Any news on this? I am still waiting ({n}).")
            opens = first.message_id
        else:
            sender = f"customer{n % CUSTOMERS}@customers.example"
            title, body = _TOPICS[n % len(_TOPICS)]
            subject = title.format(n=n)
            msg["Subject"] = subject
            msg.set_content(body.format(n=n) + "\n\nThanks,\nA customer")
            opens = message_id
        msg["From"] = f"Customer {n % CUSTOMERS} <{sender}>"
        msg["To"] = "support@example.com"
        msg["Message-ID"] = f"<{message_id}>"
        mail = Mail(message_id, msg.as_bytes(policy=policy.SMTP), opens)
        if opens == message_id:
            openers.append((mail, sender, subject))
        mails.append(mail)
    return mails


class Feeder(threading.Thread):
    """Appends the mail while the instances run, keeping a failure for the test to raise."""

    def __init__(self, server: Dovecot, mails: list[Mail]) -> None:
        super().__init__(name="feeder", daemon=True)
        self._server = server
        self._mails = mails
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            append_mails(self._server, self._mails)
        except BaseException as exc:  # raised in the test's thread, see `check`
            self.error = exc

    def check(self) -> None:
        if self.error is not None:
            raise AssertionError("appending the mail to Dovecot failed") from self.error


def append_mails(server: Dovecot, mails: list[Mail]) -> None:
    """MULTIAPPEND (RFC 3502) in chunks: 3,000 single APPENDs would cost seconds."""
    client = server.connect()
    try:
        for start in range(0, len(mails), APPEND_CHUNK):
            client.multiappend("INBOX", [m.raw for m in mails[start : start + APPEND_CHUNK]])
    finally:
        client.logout()


# -- the instances ----------------------------------------------------------------------------


@dataclass
class Instance:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    is_killed: bool = False


class Fleet:
    """INSTANCES `supportbot run` processes with one config; stopped with SIGTERM (then
    SIGKILL) on exit. On a failure the end of every log is printed, for pytest to show."""

    def __init__(self, config: Path, folder: Path, count: int) -> None:
        self.config = config
        self.folder = folder
        self.count = count
        self.instances: list[Instance] = []

    def __enter__(self) -> Self:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTBOT_")}
        for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
            env.pop(name, None)
        env |= {"SUPPORTBOT_CONFIG": str(self.config), "PYTHONPATH": str(REPO)}
        for n in range(self.count):
            log = self.folder / f"instance-{n}.log"
            with log.open("wb") as output:
                process = subprocess.Popen(
                    [sys.executable, "-m", "bot", "run"],
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=self.folder,
                )
            self.instances.append(Instance(f"instance-{n}", process, log))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for instance in self.instances:
            if instance.process.poll() is None:
                instance.process.send_signal(signal.SIGTERM)
        for instance in self.instances:
            try:
                instance.process.wait(30)
            except subprocess.TimeoutExpired:
                instance.process.kill()
                instance.process.wait(10)
        if exc is not None:
            self.print_logs()

    def by_owner(self, owner: str) -> Instance:
        """The instance named by a lease owner, `host:pid`."""
        pid = int(owner.rsplit(":", 1)[1])
        return next(i for i in self.instances if i.process.pid == pid)

    def kill(self, instance: Instance) -> None:
        instance.process.send_signal(signal.SIGKILL)
        instance.process.wait(10)
        instance.is_killed = True

    def check_alive(self) -> None:
        """Fail at once when an instance that was not killed has exited."""
        for instance in self.instances:
            code = instance.process.poll()
            if code is not None and not instance.is_killed:
                pytest.fail(f"{instance.name} exited with {code}")

    def print_logs(self) -> None:
        for instance in self.instances:
            lines = instance.log.read_text(errors="replace").splitlines()
            problems = [line for line in lines if line.startswith(("WARNING", "ERROR"))]
            print(f"===== {instance.name} ({instance.log}), killed: {instance.is_killed}")
            print(f"--- warnings and errors ({len(problems)}), first 40:")
            print("\n".join(problems[:40]))
            print(f"--- last {LOG_TAIL_LINES} lines:")
            print("\n".join(lines[-LOG_TAIL_LINES:]))


def write_instance_config(
    folder: Path,
    *,
    slack: SlackStandIn,
    database: str,
    dovecot: Dovecot,
    sink: SmtpSink,
    gemini: GeminiStandIn,
) -> Path:
    """One settings file for all instances: the database, the thread secret (several
    instances must share it), the mailbox, the relay, the model and the Slack stand-in in
    Socket Mode with the e2e test's channels and approvers; short ticks and leases."""
    config = folder / "supportbot.toml"
    config.write_text(
        f"""
[database]
url = "postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{database}"

[brand]
thread_secret = "shared-by-all-instances-of-this-test"

[approval]
approvers = ["slack:{AGENT}"]

[scheduler]
tick_seconds = {TICK_SECONDS}
lease_seconds = {ACTION_LEASE_SECONDS}

[slack]
bot_token = "{slack.bot_token}"
app_token = "{slack.app_token}"
mode = "socket"
api_base_url = "{slack.base_url}"
agents_channel = "{AGENTS}"
post_interval_seconds = 0

[llm]
provider = "gemini"
api_key = "test-key"
base_url = "{gemini.url}"
timeout_seconds = {MODEL_TIMEOUT_SECONDS}
max_retries = 0

[smtp]
host = "{sink.host}"
port = {sink.port}
security = "plain"

[[mailboxes]]
name = "support"
host = "{dovecot.host}"
port = {dovecot.port}
security = "plain"
user = "{dovecot.user}"
password = "{dovecot.password}"
lease_seconds = {MAILBOX_LEASE_SECONDS}
timeout_seconds = 10
"""
    )
    return config


# -- looking at the outcome -------------------------------------------------------------------


class Database:
    """Plain SQL on the instances' database, through one autocommit connection."""

    def __init__(self, name: str) -> None:
        self._connection = psycopg.connect(
            f"host={PG_HOST} port={PG_PORT} user=postgres dbname={name}", autocommit=True
        )

    def close(self) -> None:
        self._connection.close()

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        try:
            return self._connection.execute(query, params or None).fetchall()
        except psycopg.errors.UndefinedTable:  # not migrated yet
            return []

    def value(self, query: str, *params: Any) -> Any:
        rows = self.rows(query, *params)
        return rows[0][0] if rows else None

    def count(self, table: str, where: str = "TRUE") -> int:
        return int(self.value(f"SELECT count(*) FROM {table} WHERE {where}") or 0)

    def lease_owner(self) -> str | None:
        owner = self.value(
            "SELECT lease_owner FROM mailboxes WHERE name = 'support' AND lease_until > now()"
        )
        return str(owner) if owner else None


class Monitor:
    """Writes a line of progress every PROGRESS_SECONDS to a file, for the failure report
    and for finding out where the time goes."""

    def __init__(self, path: Path, describe: Callable[[], str]) -> None:
        self.path = path
        self._describe = describe
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
        self._started = time.monotonic()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(10)
        print(f"===== progress ({self.path})")
        print(self.path.read_text() if self.path.exists() else "(none)")

    def _run(self) -> None:
        with self.path.open("a") as out:
            while not self._stop.wait(PROGRESS_SECONDS):
                try:
                    line = self._describe()
                except Exception as exc:  # a report must not end the test
                    line = f"({type(exc).__name__}: {exc})"
                out.write(f"{time.monotonic() - self._started:6.1f} s  {line}\n")
                out.flush()


def wait_until(
    condition: Callable[[], bool],
    *,
    what: str,
    deadline: float,
    fleet: Fleet,
    status: Callable[[], str] = lambda: "",
) -> None:
    """Poll until `condition` holds; fail when the test's budget runs out or an instance
    died on its own."""
    while not condition():
        fleet.check_alive()
        if time.monotonic() > deadline:
            pytest.fail(f"out of time waiting for {what} {status()}")
        time.sleep(0.25)


def posts_ok(slack: SlackStandIn) -> list[RecordedCall]:
    return [c for c in slack.calls("chat.postMessage") if c.is_ok]


# -- the test ---------------------------------------------------------------------------------


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    require(shutil.which("dovecot") is not None, "dovecot is not installed")
    require(os.geteuid() == 0, "the Dovecot test server runs as root (libraries.md §8a)")
    server = Dovecot()
    try:
        server.start()
        yield server
    finally:
        server.close()


def test_three_instances_one_killed_halfway_lose_and_double_nothing(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    """The reader of the mailbox is the instance killed: the takeover path, with a fetch
    group in flight and scheduled actions leased to the dead instance."""
    started = time.monotonic()
    deadline = started + BUDGET_SECONDS
    mails = compose_mails(MAILS)
    timings: dict[str, float] = {}

    def mark(step: str) -> None:
        timings[step] = round(time.monotonic() - started, 1)

    with ExitStack() as stack:
        stack.callback(lambda: print("timings (s since start):", timings))
        database_name = stack.enter_context(fresh_postgres_database())
        slack = make_standin()
        stack.callback(slack.stop)
        sink = stack.enter_context(SmtpSink())
        db = Database(database_name)
        stack.callback(db.close)
        gemini = stack.enter_context(GeminiStandIn())
        config = write_instance_config(
            tmp_path,
            slack=slack,
            database=database_name,
            dovecot=dovecot,
            sink=sink,
            gemini=gemini,
        )
        fleet = stack.enter_context(Fleet(config, tmp_path, INSTANCES))
        # The mail arrives while the instances start and work: IDLE wakes the reader, before
        # and after the kill.
        feeder = Feeder(dovecot, mails)
        feeder.start()
        stack.callback(feeder.join)
        monitor_db = Database(database_name)
        stack.callback(monitor_db.close)

        def progress(on: Database = db) -> str:
            return (
                f"(messages {on.count('messages', INBOUND)}/{MAILS}, drafts {on.count('drafts')}, "
                f"owed {on.count('scheduled_actions', OWED)}, "
                f"posts {len(posts_ok(slack))}, "
                f"actions due {on.count('scheduled_actions', ACTIONS_DUE)}, "
                f"outbox {on.count('outbox', OUTBOX_PENDING)} pending "
                f"{on.count('outbox', OUTBOX_SENT)} sent, "
                f"lease {on.lease_owner()}, "
                f"slack lookups {len(slack.calls('conversations.history'))})"
            )

        stack.enter_context(Monitor(tmp_path / "progress.log", lambda: progress(monitor_db)))

        def wait(condition: Callable[[], bool], what: str) -> None:
            def is_met() -> bool:
                feeder.check()
                return condition()

            wait_until(is_met, what=what, deadline=deadline, fleet=fleet, status=progress)
            mark(what)

        # -- kill the mailbox's reader halfway ---------------------------------------------
        wait(lambda: db.count("messages", INBOUND) >= MAILS // 2, "half of the mail read")
        owner = db.lease_owner()
        assert owner is not None, "nobody holds the mailbox lease while mail is read"
        victim = fleet.by_owner(owner)
        fleet.kill(victim)
        killed = time.monotonic()
        mark(f"killed {victim.name}, the reader, at {db.count('messages', INBOUND)} messages")
        wait(lambda: (db.lease_owner() or owner) != owner, "mailbox taken over")
        assert time.monotonic() - killed < 2 * MAILBOX_LEASE_SECONDS

        # -- all mail read, every draft posted ---------------------------------------------
        wait(lambda: db.count("messages", INBOUND) >= MAILS, "all mail read")
        wait(
            lambda: (
                db.count("drafts") >= MAILS
                and db.count("scheduled_actions", OWED) == 0
                and db.count("scheduled_actions", PRESENTING) == 0
            ),
            "all drafts made and posted",
        )
        assert len(gemini.requests) >= MAILS  # the model drafted; the killed asked in vain

        # -- an agent approves the latest draft of a sample of the tickets -----------------
        pending = db.rows(
            "SELECT p.ts FROM drafts d JOIN channel_posts p ON p.draft_id = d.id "
            "WHERE d.status = 'pending' AND p.kind = 'draft' AND d.ticket_id %% %s = 0",
            APPROVE_EVERY,
        )
        assert pending, "no drafts to approve"
        for (ts,) in pending:
            payload = slack.payloads.block_actions(
                user=AGENT, action_id="draft.approve", message_ts=ts, channel=AGENTS
            )
            slack.wait_ack(slack.send_envelope("interactive", payload), timeout=10)
        mark(f"{len(pending)} approvals clicked")
        wait(
            lambda: (
                db.count("outbox", OUTBOX_SENT) >= len(pending)
                and len(sink.received) >= len(pending)
            ),
            "replies sent",
        )
        time.sleep(3 * TICK_SECONDS)  # time for a double send or post to show itself

        check_every_mail_stored_once(db, mails)
        check_everything_posted_once(db, posts_ok(slack), mails)
        check_every_reply_sent_once(db, sink, approved=len(pending))
        mark("checked")
        print("slack calls:", dict(Counter(call.method for call in slack.calls())))


def check_every_mail_stored_once(db: Database, mails: list[Mail]) -> None:
    """One message row per Message-ID, on the right ticket; nothing held, nothing doubled."""
    stored = Counter(
        str(row[0]) for row in db.rows(f"SELECT external_id FROM messages WHERE {INBOUND}")
    )
    expected = {m.message_id for m in mails}
    assert {k: n for k, n in stored.items() if n > 1} == {}, "mail stored twice"
    assert expected - set(stored) == set(), "mail lost"
    assert set(stored) == expected
    ticket_of = {str(m): int(t) for m, t in db.rows("SELECT external_id, ticket_id FROM messages")}
    openers = [m for m in mails if m.opens == m.message_id]
    assert len({ticket_of[m.message_id] for m in openers}) == len(openers) == db.count("tickets")
    wrong = [m.message_id for m in mails if ticket_of[m.message_id] != ticket_of[m.opens]]
    assert wrong == [], "follow-ups on the wrong ticket"
    assert db.rows("SELECT status, reason FROM quarantine") == []
    assert db.count("drafts") == len(mails)  # one per customer message


def check_everything_posted_once(
    db: Database, posts: list[RecordedCall], mails: list[Mail]
) -> None:
    """From the stand-in's log of chat.postMessage calls: each ticket's card, each customer
    message and each draft exactly once, and nothing else (no alerts)."""
    ref_of_card: dict[str, str] = {}
    cards: Counter[str] = Counter()
    drafts: Counter[tuple[str, int]] = Counter()
    customer: Counter[str] = Counter()
    for call in posts:
        text = str(call.params.get("text", ""))
        if not call.params.get("thread_ts") and (card := _CARD.match(text)):
            cards[card.group(1)] += 1
            ref_of_card[str(call.response["ts"])] = card.group(1)
    for call in posts:
        text = str(call.params.get("text", ""))
        if draft := _DRAFT.match(text):
            drafts[(draft.group(2), int(draft.group(1)))] += 1
        elif text.startswith("Message from"):
            customer[ref_of_card[str(call.params["thread_ts"])]] += 1
    refs = {str(ref) for (ref,) in db.rows("SELECT ref FROM tickets")}
    assert {k: n for k, n in cards.items() if n > 1} == {}, "cards posted twice"
    assert set(cards) == refs
    stored_drafts = db.rows(
        "SELECT t.ref, d.version FROM drafts d JOIN tickets t ON t.id = d.ticket_id"
    )
    assert {k: n for k, n in drafts.items() if n > 1} == {}, "drafts posted twice"
    assert set(drafts) == {(str(ref), int(version)) for ref, version in stored_drafts}
    messages = db.rows(
        f"SELECT t.ref FROM messages m JOIN tickets t ON t.id = m.ticket_id WHERE m.{INBOUND}"
    )
    assert customer == Counter(str(ref) for (ref,) in messages), "customer messages not once"
    assert len(posts) == cards.total() + drafts.total() + customer.total(), "other posts"
    assert cards.total() + customer.total() + drafts.total() == len(refs) + 2 * len(mails)


def check_every_reply_sent_once(db: Database, sink: SmtpSink, *, approved: int) -> None:
    """Each approved reply reached the relay once, under its outbox row's Message-ID."""
    sent = Counter(str(received.parse()["Message-ID"]) for received in sink.received)
    assert {k: n for k, n in sent.items() if n > 1} == {}, "replies sent twice"
    queued = {f"<{message_id}>" for (message_id,) in db.rows("SELECT message_id FROM outbox")}
    assert set(sent) == queued
    assert len(sent) == approved
    assert db.count("outbox", "status <> 'sent'") == 0
