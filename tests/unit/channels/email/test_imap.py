"""The IMAP reader's pure parts: config validation, backoff, token command, UID filtering.

Everything that talks to a server is tested against real Dovecot in
tests/integration/channels/email/test_imap.py.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from channels.email.imap import Backoff, MailboxAuthError, MailboxConfig, make_receiver
from channels.email.imap_reading import Envelope, find_new_uids, plan_fetches
from channels.email.imap_session import describe_error, fetch_oauth2_token
from core.intake import IntakeResult
from core.model import Channel, Disposition, InboundMessage

ADAPTER = TypeAdapter(MailboxConfig)
MINIMAL = {"name": "support", "host": "imap.example.com", "user": "support@example.com"}


def config(**changes: Any) -> MailboxConfig:
    return ADAPTER.validate_python({**MINIMAL, "password": "pw", **changes})


def test_defaults_are_the_documented_ones() -> None:
    c = config()
    assert (c.port, c.security, c.folder, c.move_to) == (993, "tls", "INBOX", "")
    assert (c.batch_size, c.idle, c.idle_seconds, c.poll_seconds) == (50, True, 540, 60)
    assert (c.timeout_seconds, c.max_message_bytes) == (30, 50 * 1024 * 1024)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"port": 0}, "port"),
        ({"port": 70000}, "port"),
        ({"security": "ssl"}, "security"),
        ({"password": ""}, "exactly one of password and oauth2_token_command"),
        ({"oauth2_token_command": "get-token"}, "exactly one"),
        ({"idle_seconds": 1800}, "idle_seconds"),
        ({"batch_size": 0}, "batch_size"),
        ({"move_to": "INBOX"}, "move_to"),
        ({"hots": "typo.example.com"}, "hots"),
    ],
)
def test_invalid_settings_are_refused_naming_the_problem(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        config(**changes)


def test_secrets_stay_out_of_repr() -> None:
    c = config(password="hunter2-secret")
    assert "hunter2-secret" not in repr(c)
    token = MailboxConfig(
        name="support", host="imap.example.com", user="u", oauth2_token_command="vault --key=s3cr3t"
    )
    assert "s3cr3t" not in repr(token)


def test_backoff_doubles_from_one_second_to_five_minutes_with_jitter() -> None:
    top = Backoff(rng=lambda: 1.0)
    assert [top.next_delay() for _ in range(11)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    bottom = Backoff(rng=lambda: 0.0)
    assert [bottom.next_delay() for _ in range(3)] == [0.5, 1, 2]
    bottom.reset()
    assert bottom.next_delay() == 0.5


def test_the_token_command_output_is_the_token() -> None:
    command = f"{sys.executable} -c 'print(\"ya29.token\")'"
    assert fetch_oauth2_token(config(password="", oauth2_token_command=command)) == "ya29.token"


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (f"{sys.executable} -c 'import sys; sys.exit(3)'", "exited with 3"),
        (f"{sys.executable} -c 'pass'", "printed no token"),
        ("/nonexistent/get-token", "could not run: FileNotFoundError"),
    ],
)
def test_a_failing_token_command_is_an_auth_error(command: str, message: str) -> None:
    with pytest.raises(MailboxAuthError, match=message):
        fetch_oauth2_token(config(password="", oauth2_token_command=command))


class SearchOnly:
    """Answers UID SEARCH like RFC 3501 servers do: `n:*` includes the highest UID."""

    def __init__(self, uids: list[int]) -> None:
        self.uids = uids

    def search(self, criteria: list[str]) -> list[int]:
        if criteria[0] != "UID":
            return list(self.uids)
        low = int(criteria[1].split(":")[0])
        return [u for u in self.uids if u >= low] or self.uids[-1:]


def test_uids_at_or_below_the_cursor_are_not_read_again() -> None:
    client = SearchOnly([3, 5, 9])
    assert find_new_uids(client, config(), last_uid=9) == []  # the server said [9]
    assert find_new_uids(client, config(), last_uid=4) == [5, 9]
    # With move_to the folder is a queue: whatever is still in it is read.
    assert find_new_uids(client, config(move_to="Done"), last_uid=9) == [3, 5, 9]


def test_fetches_are_grouped_by_size_and_oversized_mail_costs_nothing() -> None:
    mib = 1024 * 1024
    sizes = {1: 20 * mib, 2: 20 * mib, 3: 100 * mib, 4: 1000, 5: 10 * mib}
    envelopes = {uid: Envelope(size=size, internal_date=None) for uid, size in sizes.items()}
    groups = list(plan_fetches(sorted(sizes), envelopes, config()))
    assert groups == [[1], [2, 3, 4, 5]]


def test_the_receiver_hands_the_problem_to_intake() -> None:
    seen: list[InboundMessage] = []

    def parse(raw: bytes) -> InboundMessage:
        return InboundMessage(channel=Channel.EMAIL, raw=raw, received_at=datetime.now(UTC))

    def intake(message: InboundMessage) -> IntakeResult:
        seen.append(message)
        return IntakeResult(Disposition.QUARANTINED)

    receive = make_receiver(parse=parse, intake=intake)
    assert receive(b"Subject: x\r\n\r\n", problem="too large") is Disposition.QUARANTINED
    assert receive(b"Subject: y\r\n\r\nbody") is Disposition.QUARANTINED
    assert [m.problem for m in seen] == ["too large", None]


def test_server_errors_read_as_text_not_bytes_reprs() -> None:
    error = Exception("b'[AUTHENTICATIONFAILED] Authentication failed.'")
    assert describe_error(error) == "Exception: [AUTHENTICATIONFAILED] Authentication failed."
