"""The dashboard's pure parts: session cookies (signing, expiry, forgery), the login limiter's
sliding window, the session key, the SLA clock and durations the pages show, and the ticket
list's pager when the total is exact or only a lower bound."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import time_machine
from pydantic import SecretStr

from channels.web.dashboard import is_safe_next, normalise_text
from channels.web.sessions import LoginLimiter, SessionCodec, new_session, session_key
from channels.web.views import BarChart, Pager, human_duration, sla_clock
from core.model import Channel, Role, Ticket, TicketPage, User

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def _user(password_hash: str = "$argon2id$one") -> User:
    return User("alice", password_hash, Role.AGENT, created_at=NOW, id=7)


def test_a_session_round_trips_and_a_forged_or_foreign_one_reads_as_none() -> None:
    codec = SessionCodec(b"k" * 32, max_age_seconds=3600)
    session = new_session(_user())
    value = codec.dumps(session)
    assert codec.loads(value) == session
    assert codec.loads(value[:-2] + ("AA" if not value.endswith("AA") else "BB")) is None
    assert SessionCodec(b"x" * 32, max_age_seconds=3600).loads(value) is None
    assert codec.loads("") is None and codec.loads("garbage") is None
    anonymous = new_session()
    assert anonymous.is_anonymous and codec.loads(codec.dumps(anonymous)) == anonymous
    assert anonymous.csrf != session.csrf


def test_a_session_expires_after_its_max_age() -> None:
    codec = SessionCodec(b"k" * 32, max_age_seconds=3600)
    with time_machine.travel(NOW, tick=False):
        value = codec.dumps(new_session(_user()))
    with time_machine.travel(NOW + timedelta(minutes=59), tick=False):
        assert codec.loads(value) is not None
    with time_machine.travel(NOW + timedelta(minutes=61), tick=False):
        assert codec.loads(value) is None


def test_a_new_password_changes_the_sessions_pin() -> None:
    assert new_session(_user("$argon2id$one")).pin != new_session(_user("$argon2id$two")).pin


def test_the_session_key_is_the_configured_one_or_derived_from_the_thread_secret() -> None:
    assert session_key(SecretStr("set"), thread_secret=b"t") == b"set"
    derived = session_key(SecretStr(""), thread_secret=b"thread")
    assert len(derived) == 32 and derived != b"thread"
    assert derived == session_key(SecretStr(""), thread_secret=b"thread")  # stable
    assert derived != session_key(SecretStr(""), thread_secret=b"other")


def test_the_limiter_counts_failures_in_a_sliding_window() -> None:
    now = [1000.0]
    limiter = LoginLimiter(per_login=2, per_address=3, window_seconds=60, now=lambda: now[0])
    limiter.record_failure(login="alice", address="a")
    assert limiter.retry_after(login="alice", address="a") is None
    now[0] += 10
    limiter.record_failure(login="alice", address="a")
    assert limiter.retry_after(login="alice", address="b") == 50  # the first one ages out
    now[0] += 51
    assert limiter.retry_after(login="alice", address="b") is None
    limiter.record_failure(login="bob", address="a")  # address "a": 2 in the window, 3 ever
    assert limiter.retry_after(login="carol", address="a") is None
    limiter.record_failure(login="carol", address="a")
    assert limiter.retry_after(login="dave", address="a") is not None


def test_a_success_clears_the_login_but_not_the_address() -> None:
    limiter = LoginLimiter(per_login=1, per_address=1, window_seconds=60, now=lambda: 0.0)
    limiter.record_failure(login="alice", address="a")
    limiter.record_success(login="alice")
    assert limiter.retry_after(login="alice", address="b") is None
    assert limiter.retry_after(login="alice", address="a") is not None


def test_the_limiter_forgets_the_oldest_keys_beyond_its_bound() -> None:
    limiter = LoginLimiter(
        per_login=1, per_address=100, window_seconds=60, max_keys=4, now=lambda: 0.0
    )
    for n in range(5):
        limiter.record_failure(login=f"user{n}", address="a")
    assert limiter.retry_after(login="user0", address="z") is None  # dropped
    assert limiter.retry_after(login="user4", address="z") is not None


def test_durations_and_sla_clocks_read_as_people_say_them() -> None:
    assert human_duration(timedelta(seconds=20)) == "under a minute"
    assert human_duration(timedelta(minutes=200)) == "3 h 20 min"
    assert human_duration(timedelta(days=2, hours=3, minutes=5)) == "2 d 3 h"
    assert human_duration(-timedelta(minutes=12)) == "12 min"
    due = NOW + timedelta(hours=1)

    def clock(
        due: datetime | None = due, done: datetime | None = None, paused_at: datetime | None = None
    ) -> tuple[str, str]:
        c = sla_clock("x", due=due, done=done, paused_at=paused_at, now=NOW, zone=BERLIN)
        return c.state, c.text

    assert clock() == ("due", "due in 1 h")
    assert clock(due=NOW - timedelta(minutes=5)) == ("overdue", "overdue by 5 min")
    assert clock(done=NOW) == ("met", "met, 1 h early")
    assert clock(done=due + timedelta(minutes=30)) == ("missed", "missed by 30 min")
    assert clock(paused_at=NOW)[0] == "paused"
    assert clock(due=None) == ("none", "no target")
    shown = sla_clock("x", due=due, done=None, paused_at=None, now=NOW, zone=BERLIN).due
    assert shown is not None and shown.text == "2026-11-23 14:00 CET"


def test_the_pager_counts_pages_only_when_the_total_is_exact() -> None:
    rows = tuple(Ticket(f"t{n}", 1, Channel.EMAIL, NOW, NOW) for n in range(25))

    def pager(total: int, exact: bool, page_no: int, shown: int = 25) -> Pager:
        found = TicketPage(rows[:shown], total, total_exact=exact)
        return Pager.of(found, page_no=page_no, page_size=25)

    assert pager(27, True, 1) == Pager("27", 1, 2, has_next=True)
    assert pager(27, True, 2, shown=2) == Pager("27", 2, 2, has_next=False)
    assert pager(0, True, 1, shown=0) == Pager("0", 1, 1, has_next=False)
    # Past the count limit: a lower bound, no page count, and "next" while rows come.
    assert pager(500, False, 1) == Pager("500+", 1, None, has_next=True)
    assert pager(1000, False, 40) == Pager("1000+", 40, None, has_next=True)
    assert pager(500, False, 90, shown=0) == Pager("500+", 90, None, has_next=False)


def test_bars_are_scaled_to_the_largest_value() -> None:
    chart = BarChart.of("t", {"a": 4, "b": 1, "c": 0})
    assert [b.width for b in chart.bars] == [100.0, 25.0, 0.0]
    assert BarChart.of("empty", {}).bars == ()


def test_only_our_own_pages_are_followed_after_sign_in_and_crlf_is_folded() -> None:
    assert is_safe_next("/dashboard/tickets?status=new")
    for target in ("https://evil.example", "//evil.example", "/dashboard", "/dashboard\\x"):
        assert not is_safe_next(target)
    assert normalise_text("a\r\nb\rc\n") == "a\nb\nc\n"


def test_re_signing_a_session_does_not_extend_its_lifetime() -> None:
    codec = SessionCodec(b"k" * 32, max_age_seconds=3600)
    with time_machine.travel(NOW, tick=False):
        session = new_session(_user())
    with time_machine.travel(NOW + timedelta(minutes=50), tick=False):
        value = codec.dumps(replace(session, notice="Draft v1 approved."))  # a fresh signature
    with time_machine.travel(NOW + timedelta(minutes=61), tick=False):
        assert codec.loads(value) is None
