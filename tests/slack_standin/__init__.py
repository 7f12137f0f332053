"""A local, faithful stand-in for Slack, so tests run the real Bolt app without Slack.

    with SlackStandIn() as slack:
        slack.add_channel("C0AGENTS01", "agents")
        slack.add_user("U0AGENT001", "ada", is_admin=True)
        client = WebClient(token=slack.bot_token, base_url=slack.base_url)
        app = App(client=client, signing_secret=slack.signing_secret)  # calls auth.test
        # Socket Mode: SocketModeHandler(app, slack.app_token).connect(); then
        #   envelope_id = slack.send_envelope("interactive", slack.payloads.block_actions(…))
        #   slack.wait_ack(envelope_id); slack.web.wait_for("views.open")
        # HTTP: serve SlackRequestHandler(app) with WsgiServer, then
        #   slack.signed_delivery(url).event(slack.payloads.message_event(…))

Parts: `web` (Web API, web_api.py), `socket_mode` (socket_mode.py), `payloads` (payloads.py),
`workspace` (state, workspace.py), response URLs (response_urls.py); for HTTP mode
`SignedDelivery` (http_delivery.py) and `WsgiServer` (wsgi_server.py).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from tests.slack_standin.call_log import CallPredicate, RecordedCall
from tests.slack_standin.http_delivery import DeliveryResult, SignedDelivery
from tests.slack_standin.ids import Identity
from tests.slack_standin.payloads import PayloadFactory, url_verification
from tests.slack_standin.socket_mode import SocketModeStandIn
from tests.slack_standin.web_api import WebApiStandIn
from tests.slack_standin.workspace import TRIGGER_TTL_SECONDS, Channel, SlackError, Workspace
from tests.slack_standin.wsgi_server import WsgiServer

__all__ = [
    "Channel",
    "DeliveryResult",
    "RecordedCall",
    "SignedDelivery",
    "SlackError",
    "SlackStandIn",
    "WsgiServer",
    "url_verification",
]


class SlackStandIn:
    """The Web API and Socket Mode servers of one workspace, started and stopped together."""

    def __init__(
        self,
        *,
        trigger_ttl: float = TRIGGER_TTL_SECONDS,
        redeliver_unacked: bool = False,
        redeliver_after: float = 3.0,
    ) -> None:
        self.identity = Identity.generate()
        self.workspace = Workspace(self.identity, trigger_ttl=trigger_ttl)
        self.socket_mode = SocketModeStandIn(
            app_id=self.identity.app_id,
            redeliver_unacked=redeliver_unacked,
            redeliver_after=redeliver_after,
        )
        self.web = WebApiStandIn(self.workspace, issue_socket_url=self.socket_mode.issue_url)
        self.payloads = PayloadFactory(
            self.workspace, response_url_base=lambda: self.web.response_url_base
        )

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> SlackStandIn:
        self.socket_mode.start()
        try:
            self.web.start()
        except BaseException:
            self.socket_mode.stop()
            raise
        return self

    def stop(self) -> None:
        try:
            self.web.stop()
        finally:
            self.socket_mode.stop()

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if exc is None and self.web.internal_errors:
            raise RuntimeError("the Slack stand-in failed internally") from (
                self.web.internal_errors[0]
            )

    # -- identity ---------------------------------------------------------------------------

    @property
    def bot_token(self) -> str:
        return self.identity.bot_token

    @property
    def app_token(self) -> str:
        return self.identity.app_token

    @property
    def signing_secret(self) -> str:
        return self.identity.signing_secret

    @property
    def team_id(self) -> str:
        return self.identity.team_id

    @property
    def app_id(self) -> str:
        return self.identity.app_id

    @property
    def bot_user_id(self) -> str:
        return self.identity.bot_user_id

    @property
    def bot_id(self) -> str:
        return self.identity.bot_id

    @property
    def base_url(self) -> str:
        return self.web.base_url

    # -- workspace set-up -------------------------------------------------------------------

    def add_channel(
        self,
        channel_id: str,
        name: str | None = None,
        *,
        is_private: bool = False,
        is_member: bool = True,
    ) -> Channel:
        return self.workspace.add_channel(
            channel_id, name, is_private=is_private, is_member=is_member
        )

    def add_user(
        self, user_id: str, name: str, is_admin: bool = False, **profile: Any
    ) -> dict[str, Any]:
        return self.workspace.add_user(user_id, name, is_admin=is_admin, **profile)

    def add_usergroup(self, usergroup_id: str, users: list[str]) -> None:
        self.workspace.add_usergroup(usergroup_id, users)

    # -- shortcuts to the parts -------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[RecordedCall]:
        return self.web.calls(method)

    def wait_for(
        self, method: str, predicate: CallPredicate | None = None, timeout: float = 5.0
    ) -> RecordedCall:
        return self.web.wait_for(method, predicate, timeout)

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        self.web.rate_limit(method, times=times, retry_after=retry_after)

    def send_envelope(self, type_: str, payload: dict[str, Any], **options: Any) -> str:
        return self.socket_mode.send_envelope(type_, payload, **options)

    def wait_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        return self.socket_mode.wait_ack(envelope_id, timeout)

    def disconnect(self, reason: str = "refresh_requested", *, close_after: float = 1.0) -> None:
        self.socket_mode.disconnect(reason, close_after=close_after)

    @property
    def connections_opened(self) -> int:
        return self.socket_mode.connections_opened

    def signed_delivery(self, url: str) -> SignedDelivery:
        """A signer for the app's HTTP endpoint, with this workspace's signing secret."""
        return SignedDelivery(self.signing_secret, url)
