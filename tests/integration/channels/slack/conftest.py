"""The real Bolt app and supportbot's real SQLite storage against the Slack stand-in.

One stand-in, one database and one connected app per module: closing slack_sdk's Socket Mode
client takes ~3 s, too long to pay per test. Tests stay independent by making their own
tickets. The environment holds only our settings (a TOML file in a temp dir).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from bot.bootstrap import Services, SlackRuntime, bootstrap, start_slack
from bot.settings import load_settings
from core.model import ChannelPost, Draft, PostKind
from tests.slack_standin import SlackStandIn
from tests.support import clear_supportbot_env

AGENTS = "C0AGENTS001"
INTAKE = "C0INTAKE001"
AGENT = "U0AGENT0001"
AGENT2 = "U0AGENT0002"
GROUPIE = "U0GROUP0001"  # an approver through the user group only
STRANGER = "U0STRANGER1"
CUSTOMER = "U0CUSTOMER1"
GROUP = "S0APPROVERS"
WAIT_SECONDS = 10.0


@pytest.fixture(scope="module", autouse=True)
def _no_proxy() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
            patch.setenv(name, "")
        yield


def make_standin() -> SlackStandIn:
    slack = SlackStandIn().start()
    slack.add_channel(AGENTS, "agents")
    slack.add_channel(INTAKE, "help")
    slack.add_user(AGENT, "ada.lovelace", is_admin=True)
    slack.add_user(AGENT2, "grace.hopper")
    slack.add_user(GROUPIE, "alan.turing")
    slack.add_user(STRANGER, "mallory")
    slack.add_user(CUSTOMER, "cus.tomer", email="cus@client.example", real_name="Cus Tomer")
    slack.add_usergroup(GROUP, [GROUPIE])
    return slack


def write_config(
    directory: Path, slack: SlackStandIn, *, mode: str = "socket", extra: str = "", smtp: str = ""
) -> Path:
    config = directory / "supportbot.toml"
    config.write_text(
        f"""
[database]
url = "sqlite:///{directory / "sb.db"}"

[brand]
secret_file = "{directory / "secret"}"

[approval]
approvers = ["slack:{AGENT}", "slack:{AGENT2}"]

[slack]
bot_token = "{slack.bot_token}"
app_token = "{slack.app_token}"
signing_secret = "{slack.signing_secret}"
mode = "{mode}"
api_base_url = "{slack.base_url}"
agents_channel = "{AGENTS}"
intake_channels = ["{INTAKE}"]
approver_group = "{GROUP}"
http_host = "127.0.0.1"
http_port = 0
post_interval_seconds = 0.05
{extra}

{smtp}
"""
    )
    return config


def isolated_env(patch: pytest.MonkeyPatch, config: Path) -> None:
    clear_supportbot_env(patch)
    patch.setenv("SUPPORTBOT_CONFIG", str(config))


class Bot:
    """supportbot wired as `supportbot run` wires it, plus the helpers tests need."""

    def __init__(self, services: Services, runtime: SlackRuntime, slack: SlackStandIn) -> None:
        self.services = services
        self.runtime = runtime
        self.slack = slack
        self._n = 0

    def mail(self, body: str, *, subject: str = "Where is my order?", sender: str = "") -> int:
        """A customer's mail through intake (as the IMAP watcher hands it over); ticket id."""
        self._n += 1
        msg = EmailMessage()
        msg["From"] = f"Ann Example <{sender or f'ann{self._n}@customer.example'}>"
        msg["To"] = "support@example.com"
        msg["Subject"] = subject
        msg["Message-ID"] = f"<{time.time_ns()}.{self._n}@customer.example>"
        msg.set_content(body)
        result = self.services.receive(self.services.parse_email(msg.as_bytes(policy=policy.SMTP)))
        assert result.ticket_id is not None
        return result.ticket_id

    def posts(self, ticket_id: int) -> list[ChannelPost]:
        with self.services.new_uow() as uow:
            return uow.posts.list_for_ticket(ticket_id)

    def post(self, ticket_id: int, kind: PostKind, *, draft_id: int | None = None) -> ChannelPost:
        def found() -> ChannelPost | None:
            return next(
                (
                    p
                    for p in self.posts(ticket_id)
                    if p.kind is kind and (draft_id is None or p.draft_id == draft_id)
                ),
                None,
            )

        wait_until(lambda: found() is not None, what=f"a {kind} post for ticket {ticket_id}")
        post = found()
        assert post is not None
        return post

    def drafts(self, ticket_id: int) -> list[Draft]:
        with self.services.new_uow() as uow:
            return uow.drafts.list_for_ticket(ticket_id)

    def draft(self, ticket_id: int) -> Draft:
        return self.drafts(ticket_id)[-1]

    def message(self, post: ChannelPost) -> dict[str, Any]:
        return self.slack.workspace.message(post.channel, post.ts)

    def click(self, post: ChannelPost, action_id: str, *, user: str = AGENT) -> str:
        payload = self.slack.payloads.block_actions(
            user=user, action_id=action_id, message_ts=post.ts, channel=post.channel
        )
        return self.send("interactive", payload)

    def send(self, kind: str, payload: dict[str, Any]) -> str:
        """Over Socket Mode, or signed HTTP in http mode; returns an id to wait on (or "")."""
        envelope_id = self.slack.send_envelope(kind, payload)
        self.slack.wait_ack(envelope_id, timeout=3.0)
        return envelope_id

    def outbox(self, ticket_id: int) -> list[Any]:
        with self.services.new_uow() as uow:
            return uow.outbox.list_for_ticket(ticket_id)


def wait_until(condition: Callable[[], bool], *, what: str, timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory, _no_proxy: None) -> Iterator[Bot]:
    slack = make_standin()
    directory = tmp_path_factory.mktemp("slackbot")
    try:
        with pytest.MonkeyPatch.context() as patch:
            isolated_env(patch, write_config(directory, slack))
            services = bootstrap(load_settings())
            try:
                runtime = start_slack(services)
                try:
                    slack.socket_mode.wait_connections_opened(1)
                    yield Bot(services, runtime, slack)
                finally:
                    runtime.stop()
            finally:
                services.close()
    finally:
        slack.stop()
