"""Deliver approved replies over SMTP: the `ReplyTransport` for email, on stdlib smtplib.

One SMTP session per item keeps a failure confined to its item. What the server answered
decides what happens next (RFC 5321 §4.2.1): a 4yz reply is transient and retried with
backoff by `core.outbox`; a 5yz reply is permanent and shown to agents. Configuration
problems (a refused login, no STARTTLS) are reported as transient with a message that says
what to fix: the backoff keeps them from hammering the server until someone does.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import ClassVar, Literal

from core.errors import DeliveryFailed
from core.model import Channel, OutboxItem

log = logging.getLogger(__name__)

Security = Literal["starttls", "ssl", "plain"]
Compose = Callable[[OutboxItem], EmailMessage]

# Server replies often quote the address they refuse; error text is logged and stored, and
# addresses are redacted there (DESIGN invariant 8).
_ADDRESS = re.compile(r"[^\s<>()\[\]\"',;:]+@[^\s<>()\[\]\"',;:]+")


@dataclass(frozen=True)
class SmtpConfig:
    """How to reach the outgoing relay. Every field has a default, so a TOML `[smtp]` table
    need only name what differs.

    host: the relay's name or address; with TLS it must match the certificate.
    port: 25 for a local relay, 587 for submission with STARTTLS, 465 for implicit TLS.
    security: "starttls" (upgrade a plain connection, the default; the relay must offer it),
        "ssl" (TLS from the first byte, port 465) or "plain" (no TLS: only for a relay on
        localhost or a trusted network). Certificates are verified against the system's
        trust store; for a private CA point the SSL_CERT_FILE environment variable at it.
    username: log in with AUTH when not empty; no login when empty.
    password: the login's password; kept out of repr() so it never reaches a log line.
    timeout_seconds: for connecting and for each reply of the server; a stalled relay
        costs at most this long per item.
    from_address: the From: and envelope sender of replies; empty means the brand's
        support address, so bounces come back to the mailbox intake reads.
    local_hostname: the name sent in EHLO; empty means this machine's fully qualified
        name. Some relays refuse an EHLO name that does not resolve.
    """

    # Read by pydantic when settings embed this class: a misspelt key in `[smtp]` is an error,
    # as everywhere else in the settings, not a silent default. A ClassVar is not a field.
    __pydantic_config__: ClassVar[dict[str, str]] = {"extra": "forbid"}

    host: str = "127.0.0.1"
    port: int = 25
    security: Security = "starttls"
    username: str = ""
    password: str = field(default="", repr=False)
    timeout_seconds: float = 30.0
    from_address: str = ""
    local_hostname: str = ""


class SmtpTransport:
    """Sends outbox items for `Channel.EMAIL`, built into messages by `compose`.

    `compose` is usually `functools.partial(compose_reply, from_address=…, from_name=…,
    renderer=…)`; the envelope sender is the composed message's From address.
    """

    def __init__(self, config: SmtpConfig, *, compose: Compose) -> None:
        self._config = config
        self._compose = compose
        # Built once: loading the trust store costs milliseconds per context.
        self._tls = ssl.create_default_context() if config.security != "plain" else None

    @property
    def channel(self) -> Channel:
        return Channel.EMAIL

    def deliver(self, item: OutboxItem) -> None:
        """Hand one reply to the relay; returns once the relay accepted it (250 after DATA)."""
        try:
            message = self._compose(item)
        except ValueError as exc:  # a recipient address that cannot be written; never fixes
            raise DeliveryFailed(
                f"cannot compose the reply: {_redact(str(exc))}", permanent=True
            ) from None
        send_message(self._config, message, tls=self._tls)


def send_message(
    config: SmtpConfig, message: EmailMessage, *, tls: ssl.SSLContext | None = None
) -> None:
    """One SMTP session that hands `message` to the relay (security and login per `config`);
    returns once the relay accepted it. Raises DeliveryFailed, permanent for a 5yz reply.
    `tls`: a context to reuse; by default one from the system's trust store."""
    if tls is None and config.security != "plain":
        tls = ssl.create_default_context()
    try:
        _send(config, message, tls)
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryFailed(
            f"SMTP login refused ({_reply(exc.smtp_code, exc.smtp_error)}): "
            "check smtp.username and smtp.password",
            permanent=False,
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise DeliveryFailed(
            f"the SMTP server does not support what the configuration asks for "
            f"({_redact(str(exc))}): check smtp.security and smtp.username",
            permanent=False,
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()), (-1, b""))
        raise _by_code("recipient refused", code, text) from None
    except smtplib.SMTPSenderRefused as exc:
        raise _by_code("sender refused", exc.smtp_code, exc.smtp_error) from None
    except smtplib.SMTPDataError as exc:
        raise _by_code("message refused", exc.smtp_code, exc.smtp_error) from None
    except smtplib.SMTPConnectError as exc:
        # Even a 5yz greeting is about this server now, not about the message.
        reply = _reply(exc.smtp_code, exc.smtp_error)
        raise DeliveryFailed(
            f"SMTP server refused the connection: {reply}", permanent=False
        ) from None
    except smtplib.SMTPResponseException as exc:
        raise _by_code("SMTP error", exc.smtp_code, exc.smtp_error) from None
    except smtplib.SMTPServerDisconnected as exc:
        raise DeliveryFailed(
            f"SMTP server disconnected: {_redact(str(exc))}", permanent=False
        ) from None
    except smtplib.SMTPException as exc:
        raise DeliveryFailed(f"SMTP error: {_redact(str(exc))}", permanent=False) from None
    except ssl.SSLError as exc:  # certificate not trusted, name mismatch, protocol
        raise DeliveryFailed(
            f"TLS with the SMTP server failed ({exc.reason or exc}): check smtp.host, "
            "smtp.security and the server's certificate",
            permanent=False,
        ) from None
    except TimeoutError:
        raise DeliveryFailed(
            f"SMTP server did not answer within {config.timeout_seconds:g} s",
            permanent=False,
        ) from None
    except OSError as exc:  # refused, unreachable, name not resolved
        raise DeliveryFailed(
            f"cannot reach the SMTP server {config.host}:{config.port}: "
            f"{exc.strerror or type(exc).__name__}",
            permanent=False,
        ) from None


def _send(config: SmtpConfig, message: EmailMessage, tls: ssl.SSLContext | None) -> None:
    local = config.local_hostname or None
    client: smtplib.SMTP
    if config.security == "ssl":
        client = smtplib.SMTP_SSL(
            config.host,
            config.port,
            local_hostname=local,
            timeout=config.timeout_seconds,
            context=tls,
        )
    else:
        client = smtplib.SMTP(
            config.host, config.port, local_hostname=local, timeout=config.timeout_seconds
        )
    try:
        client.ehlo()
        if config.security == "starttls":
            # Without STARTTLS on offer this raises SMTPNotSupportedError: never fall
            # back to sending the password or the mail in clear text.
            client.starttls(context=tls)
            client.ehlo()
        if config.username:
            client.login(config.username, config.password)
        refused = client.send_message(message)
        if refused:  # some recipients refused: with one recipient, cannot happen
            raise smtplib.SMTPRecipientsRefused(refused)
    except BaseException:
        client.close()
        raise
    _quit_quietly(client)


def _quit_quietly(client: smtplib.SMTP) -> None:
    """End the session after the relay accepted the message. A failure here must not be
    reported: the mail is on its way, and an error would make the loop send it again."""
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        log.debug("SMTP QUIT failed after a successful send; ignored")
    finally:
        client.close()


def _by_code(what: str, code: int, text: bytes | str) -> DeliveryFailed:
    """RFC 5321 §4.2.1: 5yz is a permanent negative reply, 4yz transient; anything else
    (a reply the client did not expect) is treated as transient."""
    return DeliveryFailed(f"{what}: {_reply(code, text)}", permanent=500 <= code < 600)


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = " ".join(text.split())
    return _redact(f"{code} {text}".strip())


def _redact(text: str) -> str:
    return _ADDRESS.sub("[address]", text)
