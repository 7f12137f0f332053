"""Dashboard sessions: a signed cookie, its CSRF token, and the login rate limit.

The session lives in the cookie itself, signed with itsdangerous (HMAC-SHA256 with a salt
per purpose) and time-limited: no session table, so any instance sharing the key accepts it.
The key is `[web] session_secret`, or, when that is empty, an HMAC of the thread secret,
which is already generated once, kept in a file and shared by every instance; a separate
purpose string keeps the two keys unrelated. Signing out replaces the cookie with an
anonymous one; a copy taken before stays valid until it expires (`session_hours` after the
sign-in), the price of keeping no server state.
Changing a user's password hash or disabling the user ends their sessions at once.

Every session, even before login, carries a random CSRF token; every form repeats it in a
hidden field and every POST is refused (403) unless the two match. SameSite=Lax cookies
already stop most cross-site posts; the token also covers old browsers and same-site hosts.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import SecretStr

from core.model import User

COOKIE = "sb_session"
_SALT = "supportbot.web.session"
_DERIVE_PURPOSE = b"supportbot web session key v1"


class SessionSettings(Protocol):
    """The `[web]` keys the dashboard reads (bot.settings.WebSettings has them)."""

    @property
    def session_secret(self) -> SecretStr: ...
    @property
    def session_hours(self) -> float: ...
    @property
    def cookie_secure(self) -> bool: ...
    @property
    def login_failures_per_login(self) -> int: ...
    @property
    def login_failures_per_ip(self) -> int: ...
    @property
    def login_window_seconds(self) -> float: ...


def session_key(configured: SecretStr, *, thread_secret: bytes) -> bytes:
    """The configured key, or one derived from the thread secret (kept and shared already)."""
    value = configured.get_secret_value()
    if value:
        return value.encode()
    return hmac.new(thread_secret, _DERIVE_PURPOSE, hashlib.sha256).digest()


@dataclass(frozen=True)
class Session:
    """What the cookie holds: a CSRF token always; a user once logged in."""

    csrf: str
    issued_at: int = 0  # Unix time of sign-in (or of the anonymous session): its lifetime
    user_id: int | None = None
    login: str = ""
    pin: str = ""  # a digest of the password hash: a new password ends old sessions
    notice: str = ""  # one line shown on the next page (after a redirect), then dropped

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None


def new_session(user: User | None = None) -> Session:
    """A fresh session with a fresh CSRF token (a login rotates both: no fixation)."""
    csrf, now = secrets.token_urlsafe(32), int(time.time())
    if user is None or user.id is None:
        return Session(csrf=csrf, issued_at=now)
    return Session(
        csrf=csrf, issued_at=now, user_id=user.id, login=user.login, pin=password_pin(user)
    )


def password_pin(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def is_same_token(expected: str, given: str | None) -> bool:
    """Constant-time comparison, so the token cannot be guessed byte by byte."""
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


class SessionCodec:
    """Signs sessions into cookie values and back; expired or forged values read as None.

    A session lasts `max_age_seconds` from its sign-in, however often the cookie is re-sent
    (a notice shown re-signs it): the age is checked on `issued_at`, not only the signature's
    own timestamp."""

    def __init__(self, key: bytes, *, max_age_seconds: int) -> None:
        self._serializer = URLSafeTimedSerializer(
            key, salt=_SALT, signer_kwargs={"digest_method": hashlib.sha256}
        )
        self.max_age_seconds = max_age_seconds

    def dumps(self, session: Session) -> str:
        data: dict[str, object] = {"c": session.csrf, "i": session.issued_at}
        if session.user_id is not None:
            data |= {"u": session.user_id, "l": session.login, "p": session.pin}
        if session.notice:
            data["n"] = session.notice
        value = self._serializer.dumps(data)
        return value if isinstance(value, str) else value.decode()

    def loads(self, value: str | None) -> Session | None:
        if not value:
            return None
        try:
            data = self._serializer.loads(value, max_age=self.max_age_seconds)
        except BadSignature:  # also SignatureExpired, its subclass
            return None
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            return None
        issued_at = data.get("i")
        if not isinstance(issued_at, int) or time.time() - issued_at > self.max_age_seconds:
            return None
        user_id = data.get("u")
        notice = str(data.get("n", ""))
        if user_id is None:
            return Session(csrf=data["c"], issued_at=issued_at, notice=notice)
        if not isinstance(user_id, int):
            return None
        return Session(
            csrf=data["c"],
            issued_at=issued_at,
            user_id=user_id,
            login=str(data.get("l", "")),
            pin=str(data.get("p", "")),
            notice=notice,
        )


class LoginLimiter:
    """Failed logins per login name and per client address in a sliding window.

    In memory, per process: a restart forgets the counts and each instance counts its own,
    so N instances allow up to N times the attempts. That still turns an online guessing
    attack from millions of tries into a handful per window, which is what it is for; argon2
    makes each try slow besides. Behind a proxy every client shares the proxy's address, so
    the per-address limit then counts everyone: raise it, or let the proxy limit instead.
    Memory is bounded: at most `max_keys` names and addresses are tracked, oldest dropped.
    """

    def __init__(
        self,
        *,
        per_login: int,
        per_address: int,
        window_seconds: float,
        max_keys: int = 10_000,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = {"login": per_login, "address": per_address}
        self._window = window_seconds
        self._max_keys = max_keys
        self._now = now  # injectable, so tests need not sleep through a window
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, *, login: str, address: str) -> int | None:
        """Seconds until another attempt is allowed, or None when it is allowed now."""
        now = self._now()
        waits = []
        with self._lock:
            for key in (("login", login), ("address", address)):
                times = self._recent(key, now)
                if len(times) >= self._limits[key[0]]:
                    waits.append(times[0] + self._window - now)
        return max(1, round(max(waits))) if waits else None

    def record_failure(self, *, login: str, address: str) -> None:
        now = self._now()
        with self._lock:
            for key in (("login", login), ("address", address)):
                times = self._recent(key, now)
                times.append(now)
                self._failures[key] = times
                self._failures.move_to_end(key)
            while len(self._failures) > self._max_keys:
                self._failures.popitem(last=False)

    def record_success(self, *, login: str) -> None:
        """A right password clears its login's count (not the address's: one known account
        must not reset the count of an address guessing at others)."""
        with self._lock:
            self._failures.pop(("login", login), None)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self._window:
            times.popleft()
        return times
