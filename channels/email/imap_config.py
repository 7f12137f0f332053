"""How to reach one IMAP mailbox and how to read it: a frozen record, validated on creation.

A stdlib dataclass rather than a pydantic model so that `channels/` needs no pydantic, while
`bot/settings.py` can still embed it as `[[mailboxes]]` (pydantic validates stdlib dataclasses
and turns the `ValueError` of `__post_init__` into a normal validation error naming the key).
Only TOML-friendly field types for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal, get_args

Security = Literal["tls", "starttls", "plain"]

SECURITY_MODES: tuple[str, ...] = get_args(Security)
DEFAULT_MAX_MESSAGE_BYTES = 50 * 1024 * 1024
# The design caps an IDLE at 10 minutes, well inside RFC 2177's 29 (servers may drop a
# connection idle for 30), because real servers drop silent connections much sooner.
MAX_IDLE_SECONDS = 600.0


@dataclass(frozen=True, kw_only=True)
class MailboxConfig:
    """One mailbox folder that supportbot reads mail from.

    Fields:
        name: our name for the mailbox; keys its cursor and health in the database, so
            renaming it starts reading from the beginning again (intake drops duplicates).
        host: the IMAP server's host name.
        port: 993 by default (implicit TLS); 143 is usual for "starttls" and "plain".
        security: "tls" (implicit TLS, RFC 8314), "starttls" (plain connection upgraded with
            STARTTLS; fails rather than continue unencrypted when the server lacks it) or
            "plain" (no encryption: only for a server on localhost or in tests).
        user: the login name.
        password: the password, or empty when `oauth2_token_command` is used. Never logged
            and hidden from `repr`.
        oauth2_token_command: a shell-style command printing an OAuth 2 access token on
            stdout (Gmail, Microsoft 365: both have turned password logins off); run before
            each login with a 30 s timeout, and the token is sent with SASL XOAUTH2. Exactly
            one of `password` and `oauth2_token_command` must be set.
        folder: the folder to read, "INBOX" by default.
        move_to: empty (the default): mail stays untouched on the server, not even marked
            seen (the folder is opened read-only and bodies are fetched with BODY.PEEK).
            Otherwise processed mail is moved to this folder (created if absent), with MOVE
            (RFC 6851) or, without it, COPY + \\Deleted + UID EXPUNGE (RFC 4315).
        batch_size: UIDs per FETCH command.
        idle: wait for new mail with IDLE (RFC 2177) when the server offers it; otherwise,
            or when False, poll every `poll_seconds`.
        idle_seconds: re-issue IDLE at least this often (at most 600: some servers drop
            connections that stay silent longer), with a catch-up search each time.
        poll_seconds: the interval between searches when IDLE is not used.
        timeout_seconds: socket timeout for connecting and for each command.
        lease_seconds: several instances may share one database; a mailbox is read by one
            of them at a time, which holds a lease on it for this long and renews it at
            least every third of it. When that instance dies another takes over within
            about 1.25 × lease_seconds.
        max_message_bytes: a message larger than this (RFC822.SIZE) is not downloaded;
            intake quarantines it with reason "too large" and only its header section as raw
            bytes, and the full message stays on the server for a person to look at.
    """

    name: str
    host: str
    port: int = 993
    security: Security = "tls"
    user: str
    password: str = field(default="", repr=False)
    oauth2_token_command: str = field(default="", repr=False)  # may embed client secrets
    folder: str = "INBOX"
    move_to: str = ""
    batch_size: int = 50
    idle: bool = True
    idle_seconds: float = 540.0
    poll_seconds: float = 60.0
    timeout_seconds: float = 30.0
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    lease_seconds: float = 60.0

    # Read by pydantic when settings embed this class: a misspelt key in `[[mailboxes]]` is
    # an error, not a silently ignored line.
    __pydantic_config__: ClassVar[dict[str, str]] = {"extra": "forbid"}

    def __post_init__(self) -> None:
        problem = find_config_problem(self)
        if problem is not None:
            raise ValueError(problem)


def find_config_problem(config: MailboxConfig) -> str | None:
    """The first thing wrong with `config`, in words a person editing the TOML understands."""
    checks: tuple[tuple[bool, str], ...] = (
        (not config.name.strip(), "name must not be empty"),
        (not config.host.strip(), "host must not be empty"),
        (not config.user.strip(), "user must not be empty"),
        (not 1 <= config.port <= 65535, "port must be between 1 and 65535"),
        (
            config.security not in SECURITY_MODES,
            f"security must be one of {', '.join(SECURITY_MODES)}",
        ),
        (
            bool(config.password) == bool(config.oauth2_token_command.strip()),
            "set exactly one of password and oauth2_token_command",
        ),
        (not config.folder, "folder must not be empty"),
        (config.move_to == config.folder, "move_to must differ from folder"),
        (config.batch_size < 1, "batch_size must be at least 1"),
        (
            not 0 < config.idle_seconds <= MAX_IDLE_SECONDS,
            f"idle_seconds must be more than 0 and at most {MAX_IDLE_SECONDS:g}",
        ),
        (config.poll_seconds <= 0, "poll_seconds must be more than 0"),
        (config.timeout_seconds <= 0, "timeout_seconds must be more than 0"),
        (config.max_message_bytes < 1, "max_message_bytes must be at least 1"),
        (config.lease_seconds <= 0, "lease_seconds must be more than 0"),
    )
    return next((message for is_wrong, message in checks if is_wrong), None)
