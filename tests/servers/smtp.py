"""A real SMTP server for tests: aiosmtpd in a thread, recording what it accepted.

    with SmtpSink() as sink:
        ... deliver to 127.0.0.1:sink.port ...
        [received] = sink.received

It can require a login (`users=`), speak TLS (`tls=` a certificate and key; STARTTLS, or TLS
from the first byte with `implicit_tls=True`) and refuse the next RCPT or DATA commands with
a reply of the test's choosing, so a client's error handling meets real protocol replies.
"""

from __future__ import annotations

import email
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support import free_port

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Received:
    """One accepted message: the envelope, the raw bytes, and who had logged in."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    login: str | None = None

    def parse(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass(frozen=True)
class TlsFiles:
    certificate: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certificate, self.key)
        return context


class _Handler:
    """aiosmtpd's handler hooks; they run on the server's event loop thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.rcpt_replies: list[str] = []
        self.data_replies: list[str] = []

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        with self.lock:
            if self.rcpt_replies:
                return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        with self.lock:
            if self.data_replies:
                return self.data_replies.pop(0)
            content = envelope.content
            raw = content if isinstance(content, bytes) else (content or "").encode()
            auth = session.auth_data  # `login_data` is deprecated in aiosmtpd 1.4
            self.received.append(
                Received(
                    mail_from=envelope.mail_from or "",
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    raw=raw,
                    login=auth.login.decode() if isinstance(auth, LoginPassword) else None,
                )
            )
        return "250 2.0.0 OK queued"


class _Authenticator:
    def __init__(self, users: Mapping[str, str]) -> None:
        self._users = dict(users)
        self.failures = 0

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user, password = auth_data.login.decode(), auth_data.password.decode()
            if self._users.get(user) == password:
                return AuthResult(success=True, auth_data=auth_data)
        self.failures += 1
        return AuthResult(success=False, handled=False)  # aiosmtpd answers 535 5.7.8


class SmtpSink:
    """An SMTP server on 127.0.0.1 and a free port, for the duration of a `with` block."""

    def __init__(
        self,
        *,
        users: Mapping[str, str] | None = None,
        tls: TlsFiles | None = None,
        implicit_tls: bool = False,
    ) -> None:
        if implicit_tls and tls is None:
            raise ValueError("implicit_tls needs tls files")
        self.host = HOST
        # `Controller(port=0)` fails its own readiness check (it connects to port 0): pick
        # a free port first. Another process could take it in between; rare enough here.
        self.port = free_port()
        self._handler = _Handler()
        self._authenticator = _Authenticator(users) if users is not None else None
        options: dict[str, Any] = {}
        if self._authenticator is not None:
            options["authenticator"] = self._authenticator
            options["auth_require_tls"] = tls is not None and not implicit_tls
        if tls is not None and implicit_tls:
            options["ssl_context"] = tls.server_context()
        elif tls is not None:
            options["tls_context"] = tls.server_context()
            options["require_starttls"] = True
        self._controller = Controller(
            self._handler, hostname=HOST, port=self.port, server_hostname="sink.test", **options
        )

    def __enter__(self) -> Self:
        self._controller.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._controller.stop()

    @property
    def received(self) -> list[Received]:
        with self._handler.lock:
            return list(self._handler.received)

    @property
    def auth_failures(self) -> int:
        return 0 if self._authenticator is None else self._authenticator.failures

    def fail_next_data(self, reply: str, *, times: int = 1) -> None:
        """Answer the next `times` DATA commands with `reply`, e.g. "451 4.3.0 try later"."""
        with self._handler.lock:
            self._handler.data_replies.extend([reply] * times)

    def fail_next_rcpt(self, reply: str, *, times: int = 1) -> None:
        """Answer the next `times` RCPT commands with `reply`, e.g. "550 5.1.1 no such user"."""
        with self._handler.lock:
            self._handler.rcpt_replies.extend([reply] * times)
