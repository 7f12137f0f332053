"""The composition root: Settings → storage, policies and providers → one `Services` object.

This is the only module that picks implementations; everything else receives them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from sqlalchemy import Engine

from bot.rendering import JinjaRenderer
from bot.settings import Settings, resolve_thread_secret
from channels.email.compose import compose_reply
from channels.email.parse import parse_email
from channels.email.smtp import SmtpTransport
from core.acknowledge import acknowledge
from core.approval import ApprovalPolicy, Identity
from core.clock import SystemClock
from core.drafting.offline import OfflineDrafter
from core.drafting.request import DraftProvider
from core.drafting.service import Voice, create_draft
from core.intake import IntakeContext, IntakeResult, handle_inbound, retry_quarantined
from core.model import Channel, Disposition, InboundMessage, QuarantineItem
from core.outbox import ReplyTransport, index_transports
from core.ports import Clock, Renderer, UnitOfWork
from core.storage.engine import make_engine
from core.storage.migrate import upgrade
from core.storage.uow import unit_of_work_factory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    settings: Settings
    clock: Clock
    engine: Engine
    new_uow: Callable[[], UnitOfWork]
    intake: IntakeContext
    drafter: DraftProvider
    voice: Voice
    approval: ApprovalPolicy
    identity: Identity
    transports: Mapping[Channel, ReplyTransport]
    renderer: Renderer

    def receive(self, msg: InboundMessage) -> IntakeResult:
        """Intake, then a draft for anything a person must answer. The message is committed
        before drafting starts, so a drafting failure never loses it."""
        result = handle_inbound(self.new_uow(), msg, ctx=self.intake)
        self._follow_up(result)
        return result

    def retry(self, item_id: int) -> IntakeResult:
        result = retry_quarantined(self.new_uow(), item_id, parse=self.reparse, ctx=self.intake)
        self._follow_up(result)
        return result

    def reparse(self, item: QuarantineItem) -> InboundMessage:
        """Turn stored raw bytes back into a message with today's parser."""
        if item.channel is Channel.EMAIL:
            return self.parse_email(item.raw)
        return InboundMessage(
            channel=item.channel,
            raw=item.raw,
            received_at=item.received_at,
            external_id=item.source_id or None,
            problem=f"no parser for channel {item.channel}",
        )

    def parse_email(self, raw: bytes) -> InboundMessage:
        return parse_email(
            raw,
            received_at=self.clock.now(),
            max_attachment_bytes=self.settings.intake.max_attachment_bytes,
            reply_languages=self.settings.intake.reply_languages,
        )

    def _follow_up(self, result: IntakeResult) -> None:
        """What a committed new message sets off: the acknowledgement (if enabled) and a
        draft for a person to decide on. Either may fail without losing the message."""
        if result.ticket_id is None:
            return
        if result.disposition is Disposition.NEW_TICKET:
            try:
                acknowledge(
                    self.new_uow(),
                    result.ticket_id,
                    policy=self.settings.acknowledge,
                    renderer=self.renderer,
                    clock=self.clock,
                    identity=self.identity,
                    brand=self.voice.brand,
                )
            except Exception:
                log.exception("acknowledgement failed", extra={"ticket_id": result.ticket_id})
        if not result.needs_draft:
            return
        try:
            create_draft(
                self.new_uow(),
                result.ticket_id,
                provider=self.drafter,
                clock=self.clock,
                voice=self.voice,
            )
        except Exception:  # the ticket stands; a draft can be regenerated
            log.exception("drafting failed", extra={"ticket_id": result.ticket_id})


def bootstrap(settings: Settings, *, clock: Clock | None = None, migrate: bool = True) -> Services:
    if migrate:
        upgrade(settings.database.url)
    engine = make_engine(settings.database.url)
    brand = settings.brand
    secret = resolve_thread_secret(brand)
    clock = clock or SystemClock()
    renderer = JinjaRenderer()
    return Services(
        settings=settings,
        clock=clock,
        engine=engine,
        new_uow=unit_of_work_factory(engine),
        intake=IntakeContext(
            clock=clock,
            policy=settings.triage,
            thread_secret=secret,
            own_addresses=frozenset({brand.support_address.lower()}),
            repeat_window=timedelta(days=settings.intake.repeat_window_days),
        ),
        drafter=OfflineDrafter(renderer),
        voice=Voice(brand=brand.name, signature=brand.signature),
        approval=ApprovalPolicy(approvers=frozenset(settings.approval.approvers)),
        identity=Identity(thread_secret=secret, domain=brand.message_id_domain),
        transports=index_transports(_transports(settings, renderer)),
        renderer=renderer,
    )


def _transports(settings: Settings, renderer: JinjaRenderer) -> list[ReplyTransport]:
    """A sender per configured channel; a channel without one keeps its replies queued."""
    transports: list[ReplyTransport] = []
    if settings.smtp is not None:
        compose = partial(
            compose_reply,
            from_address=settings.smtp.from_address or settings.brand.support_address,
            from_name=settings.brand.name,
            renderer=renderer,
        )
        transports.append(SmtpTransport(settings.smtp, compose=compose))
    return transports
