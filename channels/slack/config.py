"""The `[slack]` settings section: tokens, mode, where cards go and who reads intake.

A stdlib dataclass (as `SmtpConfig`) so `channels/` stays free of pydantic; settings embed it
and pydantic validates it, `__post_init__` checks what one mode needs and the other does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

Mode = Literal["socket", "http"]


@dataclass(frozen=True)
class SlackConfig:
    """How the bot reaches Slack, and which channels it works in.

    bot_token: the `xoxb-…` token every Web API call uses.
    app_token: the app-level `xapp-…` token (scope connections:write); Socket Mode only.
    signing_secret: verifies Slack's signature on HTTP requests; HTTP mode only.
    mode: "socket" (no public URL needed, the default) or "http" (Events API endpoint).
    api_base_url: the Web API root; GovSlack uses https://slack-gov.com/api/, tests a stand-in.
    agents_channel: the channel id (C…) where ticket cards and drafts are posted.
    intake_channels: channel ids whose messages become tickets; DMs to the bot always do.
    approver_group: a user group id (S…) whose members may decide on drafts, besides the
        `approval.approvers` entries "slack:U…".
    http_host/http_port/http_path: where HTTP mode listens for events and interactions.
    post_interval_seconds: spacing of chat.postMessage per channel (Slack allows ~1/s).
    lag_alert_seconds: alert the agents' channel when a mailbox's oldest unread message is
        older than this (once a day per mailbox).
    """

    __pydantic_config__: ClassVar[dict[str, str]] = {"extra": "forbid"}

    bot_token: str = field(default="", repr=False)
    app_token: str = field(default="", repr=False)
    signing_secret: str = field(default="", repr=False)
    mode: Mode = "socket"
    api_base_url: str = "https://slack.com/api/"
    agents_channel: str = ""
    intake_channels: tuple[str, ...] = ()
    approver_group: str = ""
    http_host: str = "0.0.0.0"
    http_port: int = 3000
    http_path: str = "/slack/events"
    post_interval_seconds: float = 1.0
    lag_alert_seconds: float = 900.0

    def __post_init__(self) -> None:
        if not self.bot_token:
            raise ValueError("bot_token is required (xoxb-…)")
        if not self.agents_channel:
            raise ValueError("agents_channel is required (the channel id for ticket cards)")
        if self.mode == "socket" and not self.app_token:
            raise ValueError("socket mode needs app_token (xapp-…, scope connections:write)")
        if self.mode == "http" and not self.signing_secret:
            raise ValueError("http mode needs signing_secret")
        if not self.http_path.startswith("/"):
            raise ValueError("http_path must start with /")
        if self.post_interval_seconds < 0:
            raise ValueError("post_interval_seconds must be ≥ 0")
        if self.lag_alert_seconds <= 0:
            raise ValueError("lag_alert_seconds must be > 0")
