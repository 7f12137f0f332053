"""A small Bolt app shaped like our approval flow, used to drive the stand-in in both modes:
an Edit button opens a modal (ack first, then views.open with the trigger), a message in a
channel gets a threaded answer, a slash command answers in its ack."""

from __future__ import annotations

import queue
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import Ack, App, BoltRequest, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.slack_standin import SlackStandIn

EDIT_VIEW: dict[str, Any] = {
    "type": "modal",
    "callback_id": "edit_draft",
    "title": {"type": "plain_text", "text": "Edit draft"},
    "submit": {"type": "plain_text", "text": "Save"},
    "blocks": [
        {
            "type": "input",
            "block_id": "draft",
            "label": {"type": "plain_text", "text": "Reply"},
            "element": {"type": "plain_text_input", "action_id": "text", "multiline": True},
        }
    ],
}

APPROVAL_BLOCKS: list[dict[str, Any]] = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "Draft reply for ticket T42"}},
    {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": "approve_draft",
                "text": {"type": "plain_text", "text": "Approve & send"},
                "value": "d1:1",
            },
            {
                "type": "button",
                "action_id": "edit_draft",
                "text": {"type": "plain_text", "text": "Edit"},
                "value": "d1:1",
            },
        ],
    },
]


@dataclass
class Outcomes:
    """What the app's listeners did, in order, for a test to wait on."""

    items: queue.Queue[tuple[str, Any]] = field(default_factory=queue.Queue)

    def put(self, kind: str, value: Any) -> None:
        self.items.put((kind, value))

    def next(self, timeout: float = 5.0) -> tuple[str, Any]:
        return self.items.get(timeout=timeout)


@dataclass
class BoltUnderTest:
    app: App
    outcomes: Outcomes
    executor: ThreadPoolExecutor
    # Seconds the Edit listener waits between ack and views.open (to let a trigger expire).
    modal_delay: float = 0.0

    def close(self) -> None:
        self.executor.shutdown(wait=True)


def build_app(slack: SlackStandIn) -> BoltUnderTest:
    """The app, on a WebClient pointed at the stand-in (Bolt calls auth.test right here)."""
    client = WebClient(token=slack.bot_token, base_url=slack.base_url)
    executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="bolt-listener")
    app = App(client=client, signing_secret=slack.signing_secret, listener_executor=executor)
    outcomes = Outcomes()
    bolt = BoltUnderTest(app, outcomes, executor)

    @app.action("edit_draft")
    def open_editor(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        time.sleep(bolt.modal_delay)
        try:
            response = client.views_open(trigger_id=body["trigger_id"], view=EDIT_VIEW)
            outcomes.put("views_open", response["view"]["id"])
        except SlackApiError as error:
            outcomes.put("views_open_error", error.response["error"])

    @app.action("approve_draft")
    def approve(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        answer = respond(
            replace_original=True, text=f"Approved by <@{body['user']['id']}>", blocks=[]
        )
        outcomes.put("approved", answer.status_code)

    @app.view("edit_draft")
    def save_edit(ack: Ack, view: dict[str, Any]) -> None:
        text = view["state"]["values"]["draft"]["text"]["value"]
        if not text.strip():
            ack(response_action="errors", errors={"draft": "The reply is empty"})
            return
        ack()
        outcomes.put("edited", (view["private_metadata"], text))

    @app.event("message")
    def answer(event: dict[str, Any], client: WebClient, request: BoltRequest) -> None:
        retry = request.headers.get("x-slack-retry-num", [None])[0]
        outcomes.put("message", (event["text"], retry))
        client.chat_postMessage(channel=event["channel"], thread_ts=event["ts"], text="On it")

    @app.command("/ticket")
    def ticket(ack: Ack, command: dict[str, Any]) -> None:
        ack(f"Ticket {command['text']} is open")

    return bolt
