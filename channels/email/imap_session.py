"""One IMAP connection: connect (TLS, STARTTLS or plain), log in (password or XOAUTH2),
select the folder, wait in IDLE, and leave; plus the errors a mailbox can fail with.

    SupportbotError
    └── MailboxError            the mailbox could not be read (connection, TLS, server)
        └── MailboxAuthError    login refused, or the OAuth 2 token command failed

imapclient ships no type information, so its client is typed `Any` here, in one place.
"""

from __future__ import annotations

import imaplib
import shlex
import ssl
import subprocess
import threading
import time
from contextlib import suppress
from typing import Any

from imapclient import IMAPClient  # type: ignore[import-untyped]
from imapclient.exceptions import LoginError  # type: ignore[import-untyped]

from channels.email.imap_config import MailboxConfig
from core.errors import SupportbotError

# imaplib.IMAP4.error covers imapclient's IMAPClientError and its subclasses, and
# imaplib.IMAP4.abort (EOF, BYE); OSError covers refused connections, socket.timeout and
# ssl.SSLError. Anything else is a bug or comes from intake.
CONNECTION_ERRORS: tuple[type[Exception], ...] = (imaplib.IMAP4.error, OSError)

_TOKEN_TIMEOUT_SECONDS = 30
_STOP_CHECK_SECONDS = 1.0  # how long a stop request may wait while we sit in IDLE
MAX_ERROR_CHARS = 500


class MailboxError(SupportbotError):
    """The mailbox could not be read; its health row already records why."""

    def __init__(self, mailbox: str, message: str) -> None:
        super().__init__(f"mailbox '{mailbox}': {message}")
        self.mailbox = mailbox


class MailboxAuthError(MailboxError):
    """Login refused or no OAuth 2 token; counted in `MailboxState.auth_failures`."""


def connect(config: MailboxConfig) -> Any:
    """Open the connection: implicit TLS (RFC 8314), STARTTLS (RFC 3501 §6.2.1), or plain.

    STARTTLS fails when the server does not offer it, rather than carrying on unencrypted.
    """
    if config.security == "tls":
        return IMAPClient(
            config.host,
            port=config.port,
            ssl=True,
            ssl_context=ssl.create_default_context(),
            timeout=config.timeout_seconds,
        )
    client = IMAPClient(config.host, port=config.port, ssl=False, timeout=config.timeout_seconds)
    if config.security == "starttls":
        try:
            client.starttls(ssl.create_default_context())
        except BaseException:
            abandon(client)
            raise
    return client


def log_in(client: Any, config: MailboxConfig) -> None:
    """LOGIN with the password, or SASL XOAUTH2 with a fresh token from the command."""
    try:
        if config.oauth2_token_command:
            client.oauth2_login(config.user, fetch_oauth2_token(config))
        else:
            client.login(config.user, config.password)
    except LoginError as exc:
        raise MailboxAuthError(config.name, f"login failed: {server_text(exc)}") from None


def fetch_oauth2_token(config: MailboxConfig) -> str:
    """Run `oauth2_token_command` and return what it printed. Its output and stderr are
    never logged: both may hold secrets."""
    try:
        done = subprocess.run(
            shlex.split(config.oauth2_token_command),
            capture_output=True,
            text=True,
            timeout=_TOKEN_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        raise MailboxAuthError(
            config.name, f"oauth2_token_command could not run: {type(exc).__name__}"
        ) from None
    token = done.stdout.strip()
    if done.returncode != 0 or not token:
        raise MailboxAuthError(
            config.name,
            f"oauth2_token_command exited with {done.returncode}"
            + ("" if token else " and printed no token"),
        )
    return token


def select_folder(client: Any, config: MailboxConfig) -> int:
    """Select the folder, read-only unless we move mail out of it; return its UIDVALIDITY."""
    info = client.select_folder(config.folder, readonly=not config.move_to)
    uidvalidity = info.get(b"UIDVALIDITY")
    if uidvalidity is None:  # mandatory since RFC 3501; without it no cursor is safe
        raise imaplib.IMAP4.error(f"SELECT {config.folder} returned no UIDVALIDITY")
    return int(uidvalidity)


def ensure_folder(client: Any, folder: str) -> None:
    if client.folder_exists(folder):
        return
    try:
        client.create_folder(folder)
    except imaplib.IMAP4.error:
        if not client.folder_exists(folder):  # another instance may have just created it
            raise


def log_out(client: Any) -> None:
    try:
        client.logout()
    except CONNECTION_ERRORS:
        abandon(client)


def abandon(client: Any) -> None:
    """Close the socket without a LOGOUT: the connection is broken or we are failing."""
    with suppress(Exception):
        client.shutdown()


def wait_in_idle(client: Any, config: MailboxConfig, stop: threading.Event) -> None:
    """IDLE (RFC 2177) until the server reports a change, `idle_seconds` pass, or `stop`.

    Re-issuing IDLE well within RFC 2177's 29 minutes matters: some servers silently drop
    a connection that idles longer. An `idle_check` that returns nothing long before its
    timeout means the socket hit EOF (imapclient swallows it), so we leave IDLE at once and
    the next command shows whether the connection is still there.
    """
    client.idle()
    deadline = time.monotonic() + config.idle_seconds
    while not stop.is_set():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        window = min(_STOP_CHECK_SECONDS, remaining)
        started = time.monotonic()
        responses = client.idle_check(timeout=window)
        if any(_is_bye(response) for response in responses):
            raise imaplib.IMAP4.abort("server sent BYE during IDLE")
        if responses or time.monotonic() - started < window / 2:
            break
    client.idle_done()


def _is_bye(response: Any) -> bool:
    return isinstance(response, tuple) and bool(response) and response[0] == b"BYE"


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {server_text(exc)}"[:MAX_ERROR_CHARS]


def server_text(exc: BaseException) -> str:
    """The error's text; imaplib wraps the server's bytes as "b'...'", which we unwrap."""
    text = str(exc)
    if len(text) >= 3 and text[:2] in ("b'", 'b"') and text[-1] == text[1]:
        return text[2:-1]
    return text
