"""The exception tree of supportbot: what callers may catch, and what each branch means.

    SupportbotError                 anything we raise on purpose
    ├── ConfigError                 bad or missing configuration; names the key
    ├── NotFound                    a ticket, draft or quarantined item that does not exist
    ├── NotAuthorised               the actor may not take this decision
    ├── InvalidInput                a request that cannot be acted on as given
    ├── DeliveryFailed              a channel could not deliver a reply; `permanent` says
    │                               whether trying again later can help
    ├── DraftingFailed              a model gave no usable draft (error, timeout, truncated or
    │                               invalid answer); the offline drafter stands in
    ├── LeaseLost                   another instance took over claimed work whose lease ran
    │                               out; what this one made is rolled back, not kept twice
    └── MailboxError                (channels.email) an IMAP mailbox cannot be read
        └── MailboxAuthError        the server refused the login or token

Races that are normal in a help desk (a double click, a stale draft version) are not errors:
the approval functions return an outcome saying nothing changed.
"""

from __future__ import annotations


class SupportbotError(Exception):
    """Base of every error we raise on purpose; the CLI prints these without a traceback."""


class ConfigError(SupportbotError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"configuration error at '{key}': {message}")
        self.key = key


class NotFound(SupportbotError):
    pass


class NotAuthorised(SupportbotError):
    pass


class InvalidInput(SupportbotError):
    pass


class DeliveryFailed(SupportbotError):
    """A reply transport could not deliver an outbox item.

    `permanent` is the transport's verdict (an SMTP 5xx reply, a recipient that does not
    exist): the delivery loop then stops trying and shows the reason to agents. Anything
    else is retried with backoff. The message must not contain secrets or addresses: it
    is logged and stored as the item's last error.
    """

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class LeaseLost(SupportbotError):
    pass


class DraftingFailed(SupportbotError):
    """`reason` is short and safe to show an agent and to store: no customer text, no key."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status  # the HTTP status, where there was one (429 and 503 back off)
