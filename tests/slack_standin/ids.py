"""Slack's identifier and timestamp formats, generated: tokens, team/app/user ids, message `ts`.

Why a module of its own: every part of the stand-in (Web API, Socket Mode, payload factories)
must agree on the workspace's ids and on one message clock, or a `block_actions` payload would
point at a `message_ts` the Web API never issued.
"""

from __future__ import annotations

import secrets
import string
import threading
from dataclasses import dataclass

_UPPER_ALNUM = string.ascii_uppercase + string.digits


def _slack_id(prefix: str, length: int = 10) -> str:
    """An id in Slack's style: a type letter then upper-case alphanumerics (`C05ABCD1234`)."""
    return prefix + "".join(secrets.choice(_UPPER_ALNUM) for _ in range(length))


def _digits(length: int) -> str:
    return str(secrets.randbelow(9) + 1) + "".join(
        secrets.choice(string.digits) for _ in range(length - 1)
    )


@dataclass(frozen=True)
class Identity:
    """Who the app is in the stand-in workspace; fresh random secrets per stand-in, so no test
    can pass by hard-coding a token."""

    team_id: str
    team_domain: str
    team_name: str
    app_id: str
    bot_user_id: str
    bot_id: str
    bot_name: str
    bot_token: str
    app_token: str
    signing_secret: str
    verification_token: str

    @classmethod
    def generate(cls) -> Identity:
        team_id = _slack_id("T")
        # Token shapes: https://docs.slack.dev/authentication/tokens
        bot_token = f"xoxb-{_digits(12)}-{_digits(13)}-{secrets.token_urlsafe(18)}"
        app_id = _slack_id("A")
        app_token = f"xapp-1-{app_id}-{_digits(13)}-{secrets.token_hex(32)}"
        return cls(
            team_id=team_id,
            team_domain="standin-workspace",
            team_name="Stand-in Workspace",
            app_id=app_id,
            bot_user_id=_slack_id("U"),
            bot_id=_slack_id("B"),
            bot_name="supportbot",
            bot_token=bot_token,
            app_token=app_token,
            signing_secret=secrets.token_hex(16),
            verification_token=secrets.token_urlsafe(18),
        )


class IdSource:
    """Thread-safe counters for the workspace's ids and clock."""

    # Slack's message ts is "epoch seconds.microsecond-ish sequence", unique per channel and
    # increasing; it is the message's id (https://docs.slack.dev/messaging/retrieving-messages).
    # Ours start at 1700000000.000100 and step by 100 µs: deterministic, always increasing.
    _TS_BASE_SECONDS = 1_700_000_000
    _TS_STEP_MICROS = 100

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ts = 0
        self._counter = 0

    def next_ts(self) -> str:
        with self._lock:
            self._ts += 1
            micros = self._ts * self._TS_STEP_MICROS
        seconds, micros = divmod(micros, 1_000_000)
        return f"{self._TS_BASE_SECONDS + seconds}.{micros:06d}"

    def _next(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    def event_id(self) -> str:
        """`Ev` + 10 upper-case alphanumerics, unique (Events API dedupe key)."""
        n = self._next()
        return "Ev" + _base36(n).rjust(4, "0") + _slack_id("", 6)

    def view_id(self) -> str:
        return "V" + _base36(self._next()).rjust(4, "0") + _slack_id("", 6)

    def trigger_id(self) -> str:
        """Shaped like Slack's `13345224609.738474920.8088930838d88f008e0`."""
        return f"{_digits(11)}.{self._next()}.{secrets.token_hex(16)}"

    def dm_channel_id(self) -> str:
        return "D" + _base36(self._next()).rjust(4, "0") + _slack_id("", 6)


def _base36(n: int) -> str:
    out = ""
    while True:
        n, rest = divmod(n, 36)
        out = (string.digits + string.ascii_uppercase)[rest] + out
        if n == 0:
            return out
