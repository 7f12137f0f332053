"""Webhooks from Zendesk and Intercom: verify the sender's signature on the raw bytes, turn
the payload into an `InboundMessage`, and hand it to the same intake as email (`receive`).

Each endpoint answers, in this order:

- **413** for a body over `MAX_BODY_BYTES`, before any work is spent on it.
- **404** when its secret is not configured. An unconfigured webhook is not an endpoint of
  this deployment: nothing could be verified, so nothing may be accepted, and 404 (unlike
  503) does not suggest that retrying later will help. The detail names the setting.
- **401** for a missing or wrong signature, and for a Zendesk timestamp more than
  `MAX_CLOCK_SKEW` away from our clock (a captured request replayed later).
- **200 `ignored`** for a signed request about something we do not turn into tickets (an
  Intercom topic other than `conversation.user.created`, Intercom's `ping`, a Zendesk
  event other than ticket creation). Senders retry failed deliveries and pause or disable
  a webhook that keeps failing; an event we will never handle must not look like a
  failure. 200, not 202: nothing is queued, the decision to ignore it is final.
- **422** for a payload we cannot make a ticket from, naming the field as FastAPI does.
- **201** for a new ticket; **200** for a redelivery (`duplicate`: the source id is the
  Zendesk ticket or Intercom conversation id, so intake stores it once), a follow-up or
  automatic mail; **202** when intake quarantined it for a person.

Tickets arrive as `Channel.API` (replies go to the customer by email, like any API ticket);
the stored message's source id (`zendesk:ticket:<id>`, `intercom:conversation:<id>`) and
the audit entry (`ticket.created_via_webhook`, actor `webhook:<source>`) say where from.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, Protocol, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from channels.email.html import convert_html
from channels.web.schemas import DB_INT_MAX, check_email
from core import ticket_actions
from core.intake import IntakeResult
from core.model import Attachment, Channel, Disposition, InboundMessage
from core.ports import Clock, UnitOfWork

MAX_BODY_BYTES = 1024 * 1024  # a ticket's first message, with room to spare
MAX_CLOCK_SKEW = timedelta(minutes=5)  # Zendesk signs its timestamp: older means replayed
INTERCOM_TOPIC = "conversation.user.created"
ZENDESK_EVENT_PREFIX = "zen:event-type:"
ZENDESK_TICKET_CREATED_EVENT = "zen:event-type:ticket.created"
_SUBJECT_FROM_BODY = 80  # characters of the first line, when a chat has no subject

# The JSON body a Zendesk admin gives the trigger's "Notify active webhook" action, with the
# trigger's condition "Ticket is Created" (also in config.example.toml).
ZENDESK_TRIGGER_BODY = """{
  "ticket": {
    "id": "{{ticket.id}}",
    "subject": "{{ticket.title}}",
    "description": "{{ticket.description}}",
    "requester": {"email": "{{ticket.requester.email}}", "name": "{{ticket.requester.name}}"}
  }
}"""


# --- what this module needs of the composition root -----------------------------------------


class WebhookSettings(Protocol):
    """The `[web]` keys read here; bot.settings.WebSettings has them."""

    @property
    def zendesk_webhook_secret(self) -> SecretStr: ...
    @property
    def intercom_client_secret(self) -> SecretStr: ...


class SettingsView(Protocol):
    @property
    def web(self) -> WebhookSettings: ...


class WebhookServices(Protocol):
    """What the webhooks need of bot.bootstrap.Services."""

    @property
    def settings(self) -> SettingsView: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def new_uow(self) -> Callable[[], UnitOfWork]: ...

    def receive(self, msg: InboundMessage) -> IntakeResult: ...


# --- signatures (pure) -----------------------------------------------------------------------


def zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Zendesk's signature: base64(HMAC-SHA256(secret, timestamp + body)), the timestamp
    exactly as sent in `X-Zendesk-Webhook-Signature-Timestamp`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def intercom_signature(secret: str, body: bytes) -> str:
    """Intercom's `X-Hub-Signature`: `sha1=` and the hex HMAC-SHA1 of the body, keyed with
    the app's client secret."""
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def is_valid_zendesk_signature(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    expected = zendesk_signature(secret, timestamp, body)
    return hmac.compare_digest(expected.encode(), signature.strip().encode())


def is_valid_intercom_signature(secret: str, body: bytes, signature: str) -> bool:
    expected = intercom_signature(secret, body)
    return hmac.compare_digest(expected.encode(), signature.strip().lower().encode())


def is_fresh_timestamp(timestamp: str, *, now: datetime, skew: timedelta = MAX_CLOCK_SKEW) -> bool:
    """Whether Zendesk's ISO 8601 timestamp (`2021-03-25T05:09:27Z`) is within `skew` of
    now, either way; an unreadable one is not fresh."""
    try:
        sent = datetime.fromisoformat(timestamp.strip())
    except ValueError:
        return False
    if sent.tzinfo is None:
        return False
    return abs(now - sent) <= skew


# --- payloads (pure) -------------------------------------------------------------------------


_M = TypeVar("_M", bound=BaseModel)


class PayloadError(ValueError):
    """A payload we cannot make a ticket from; `loc` is the path of the field at fault."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(f"{'.'.join(str(p) for p in loc)}: {message}")
        self.loc = loc
        self.message = message


@dataclass(frozen=True)
class Ignored:
    """A well-formed, signed request about something that does not become a ticket."""

    reason: str


class _Payload(BaseModel):
    # The senders add fields whenever they like; only what we read is checked.
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True, str_strip_whitespace=True)


_SourceId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")]


class ZendeskRequester(_Payload):
    email: str
    name: str = Field(default="", max_length=200)

    _email = field_validator("email")(check_email)


class ZendeskTicket(_Payload):
    id: _SourceId
    subject: str = Field(default="", max_length=998)
    description: str = Field(min_length=1)
    requester: ZendeskRequester


class ZendeskPayload(_Payload):
    ticket: ZendeskTicket


class IntercomAuthor(_Payload):
    email: str
    name: str | None = Field(default=None, max_length=200)

    _email = field_validator("email")(check_email)


class IntercomAttachment(_Payload):
    name: str | None = None
    content_type: str | None = None
    filesize: int | None = None


class IntercomSource(_Payload):
    subject: str | None = Field(default=None, max_length=998)
    body: str = Field(min_length=1)
    author: IntercomAuthor
    attachments: tuple[IntercomAttachment, ...] = ()


class IntercomConversation(_Payload):
    id: _SourceId
    source: IntercomSource


class _IntercomEnvelope(_Payload):
    topic: str


def parse_zendesk(raw: bytes, *, received_at: datetime) -> InboundMessage | Ignored:
    """A Zendesk trigger's JSON body (`ZENDESK_TRIGGER_BODY`) as a message, keyed on the
    Zendesk ticket id so a redelivery is a duplicate.

    Event-subscription payloads (`"type": "zen:event-type:…"`) carry the requester's id
    only, never an address to answer: ticket creation from one is refused, naming `type`,
    so the misconfiguration shows in Zendesk's webhook log; other events are ignored.
    """
    data = _json_object(raw)
    kind = data.get("type")
    if isinstance(kind, str) and kind.startswith(ZENDESK_EVENT_PREFIX):
        if kind == ZENDESK_TICKET_CREATED_EVENT:
            raise PayloadError(
                ("type",),
                "event payloads carry no requester email; connect this webhook to a "
                "ticket-created trigger with the JSON body documented in config.example.toml",
            )
        return Ignored(f"Zendesk event {kind[:100]} does not create tickets")
    ticket = _validate(ZendeskPayload, data, ()).ticket
    text = ticket.description.replace("\r\n", "\n").strip()
    return InboundMessage(
        channel=Channel.API,
        raw=raw,
        received_at=received_at,
        external_id=f"zendesk:ticket:{ticket.id}",
        sender_email=ticket.requester.email,
        sender_name=ticket.requester.name,
        subject=ticket.subject or first_line(text),
        text=text,
        full_text=text,
    )


def parse_intercom(raw: bytes, *, received_at: datetime) -> InboundMessage | Ignored:
    """An Intercom `conversation.user.created` notification as a message, keyed on the
    conversation id (not the notification id) so neither a redelivery nor a second
    subscription opens a second ticket. The HTML body becomes text as mail bodies do."""
    data = _json_object(raw)
    topic = _validate(_IntercomEnvelope, data, ()).topic
    if topic != INTERCOM_TOPIC:
        return Ignored(f"Intercom topic {topic[:100]} does not create tickets")
    item = _get_path(data, ("data", "item"))
    conversation = _validate(IntercomConversation, item, ("data", "item"))
    source = conversation.source
    body = convert_html(source.body)
    if not body.full:
        raise PayloadError(("data", "item", "source", "body"), "has no readable text")
    return InboundMessage(
        channel=Channel.API,
        raw=raw,
        received_at=received_at,
        external_id=f"intercom:conversation:{conversation.id}",
        sender_email=source.author.email,
        sender_name=source.author.name or "",
        subject=source.subject or first_line(body.new or body.full),
        text=body.new,
        full_text=body.full,
        attachments=tuple(
            # Metadata only: fetching the file would need Intercom's API and a token.
            Attachment(
                filename=a.name or "attachment",
                content_type=a.content_type or "application/octet-stream",
                size=min(max(a.filesize or 0, 0), DB_INT_MAX),  # an INTEGER column
            )
            for a in source.attachments
        ),
    )


def first_line(text: str, *, limit: int = _SUBJECT_FROM_BODY) -> str:
    """A subject for a message that came without one: its first non-empty line, cut at a
    word boundary, so agents see more than "(no subject)" in a list."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    if len(line) <= limit:
        return line
    cut = line[:limit].rsplit(" ", 1)[0] or line[:limit]
    return cut.rstrip(" ,.;:") + "…"


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError((), f"not JSON: {exc}") from None
    except RecursionError:  # `[[[[…` within the size limit: the parser's stack, not ours
        raise PayloadError((), "nested too deeply") from None
    if not isinstance(data, dict):
        raise PayloadError((), "must be a JSON object")
    return data


def _get_path(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = data
    for depth, key in enumerate(path):
        if not isinstance(value, dict) or key not in value:
            raise PayloadError(path[: depth + 1], "Field required")
        value = value[key]
    return value


def _validate(model: type[_M], data: Any, at: tuple[str | int, ...]) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise PayloadError((*at, *first["loc"]), first["msg"]) from None


# --- HTTP ------------------------------------------------------------------------------------


class WebhookOut(BaseModel):
    outcome: Literal[
        "new_ticket", "followup", "duplicate", "quarantined", "ignored_automatic", "ignored"
    ]
    ticket: str | None = Field(default=None, description="the ticket's reference, e.g. T42")
    reason: str | None = Field(default=None, description="why it was ignored")


class _Problem(BaseModel):
    detail: str


_STATUS = {Disposition.NEW_TICKET: 201, Disposition.QUARANTINED: 202}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {"model": WebhookOut, "description": "a new ticket"},
    202: {"model": WebhookOut, "description": "quarantined for a person to look at"},
    401: {"model": _Problem, "description": "missing or wrong signature, or a stale request"},
    404: {"model": _Problem, "description": "this webhook's secret is not configured"},
    413: {"model": _Problem, "description": f"body over {MAX_BODY_BYTES} bytes"},
}
_JSON_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {}}}}
}


async def _raw_body(request: Request) -> bytes:
    """The exact bytes received: signatures are over them, and they are what intake stores."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise HTTPException(413, f"body over {MAX_BODY_BYTES} bytes")
    return body


RawBody = Annotated[bytes, Depends(_raw_body)]


def install_webhooks(app: FastAPI, services: WebhookServices) -> None:
    """Add `POST /api/webhooks/zendesk` and `POST /api/webhooks/intercom` to the app.

    Secrets are read per request, so the answer for an unconfigured webhook is always the
    current one; the routes exist either way and are documented in the OpenAPI schema.
    """
    router = APIRouter(prefix="/api/webhooks", tags=["webhooks"], responses=_RESPONSES)

    @router.post("/zendesk", response_model=WebhookOut, status_code=200, openapi_extra=_JSON_BODY)
    def zendesk(
        raw: RawBody,
        response: Response,
        signature: Annotated[str | None, Header(alias="X-Zendesk-Webhook-Signature")] = None,
        timestamp: Annotated[
            str | None, Header(alias="X-Zendesk-Webhook-Signature-Timestamp")
        ] = None,
    ) -> WebhookOut:
        """A ticket created in Zendesk, sent by a trigger whose webhook body is
        `ZENDESK_TRIGGER_BODY` (see config.example.toml); signed with the webhook's secret."""
        secret = services.settings.web.zendesk_webhook_secret.get_secret_value()
        if not secret:
            raise HTTPException(404, "the Zendesk webhook is off: set web.zendesk_webhook_secret")
        if not signature or not timestamp:
            raise _unauthorised("X-Zendesk-Webhook-Signature and -Timestamp are required")
        if not is_valid_zendesk_signature(secret, timestamp, raw, signature):
            raise _unauthorised("the signature does not match")
        if not is_fresh_timestamp(timestamp, now=services.clock.now()):
            raise _unauthorised(f"the timestamp is more than {MAX_CLOCK_SKEW} away from ours")
        return _receive(services, "zendesk", parse_zendesk, raw, response)

    @router.post("/intercom", response_model=WebhookOut, status_code=200, openapi_extra=_JSON_BODY)
    def intercom(
        raw: RawBody,
        response: Response,
        signature: Annotated[str | None, Header(alias="X-Hub-Signature")] = None,
    ) -> WebhookOut:
        """An Intercom notification; `conversation.user.created` opens a ticket, other
        topics (and the `ping` sent on setup) are acknowledged and ignored."""
        secret = services.settings.web.intercom_client_secret.get_secret_value()
        if not secret:
            raise HTTPException(404, "the Intercom webhook is off: set web.intercom_client_secret")
        if not signature:
            raise _unauthorised("X-Hub-Signature is required")
        if not is_valid_intercom_signature(secret, raw, signature):
            raise _unauthorised("the signature does not match")
        return _receive(services, "intercom", parse_intercom, raw, response)

    app.include_router(router)


class _Parser(Protocol):
    def __call__(self, raw: bytes, *, received_at: datetime) -> InboundMessage | Ignored: ...


def _unauthorised(reason: str) -> HTTPException:
    return HTTPException(401, reason)


def _receive(
    services: WebhookServices,
    source: str,
    parse: _Parser,
    raw: bytes,
    response: Response,
) -> WebhookOut:
    try:
        parsed = parse(raw, received_at=services.clock.now())
    except PayloadError as exc:
        detail = [{"loc": ["body", *exc.loc], "msg": exc.message, "type": "value_error"}]
        raise HTTPException(422, detail=detail) from None
    if isinstance(parsed, Ignored):
        return WebhookOut(outcome="ignored", reason=parsed.reason)
    result = services.receive(parsed)
    response.status_code = _STATUS.get(result.disposition, 200)
    if result.disposition is Disposition.NEW_TICKET and result.ticket_id is not None:
        ticket_actions.record(
            services.new_uow(),
            action="ticket.created_via_webhook",
            ticket_id=result.ticket_id,
            actor=f"webhook:{source}",
            clock=services.clock,
            detail={"source": source, "source_id": parsed.external_id},
        )
    # Intake's reason stays inside: for a quarantined message it can name our own failure.
    return WebhookOut(outcome=result.disposition.value, ticket=result.ticket_ref)
