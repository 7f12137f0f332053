"""The composition root: Settings → storage, policies and providers → one `Services` object.

This is the only module that picks implementations; everything else receives them.

The Slack SDK and Bolt are imported only when `[slack]` is configured (in `_slack`,
`start_slack`, `_transports`): they are about 0.15 s of every start, and one-shot commands
such as `poll --once` on a deployment without Slack never use them.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from bot.digests import handle_digest
from bot.rendering import JinjaRenderer
from bot.scheduler import Kicker, instance_name
from bot.settings import Settings, resolve_thread_secret
from bot.training import load_triage_models
from channels.email.compose import compose_reply
from channels.email.imap_config import MailboxConfig
from channels.email.parse import parse_email
from channels.email.parse_pool import ParsePool
from channels.email.smtp import SmtpTransport
from channels.slack.actions import (
    PRESENT,
    REFRESH,
    REFRESH_CARD,
    refresh_action,
    refresh_card_action,
)
from channels.slack.config import SlackConfig
from core import health, sla_actions, ticket_actions
from core.acknowledge import acknowledge
from core.actions import Handler
from core.approval import ApprovalPolicy, Identity
from core.clock import SystemClock
from core.digest import DIGEST
from core.drafting import owed
from core.drafting.fallback import FallbackDrafter
from core.drafting.gemini import GeminiClient, GeminiConfig
from core.drafting.knowledge import Retriever
from core.drafting.llm import LlmDrafter, ModelClient
from core.drafting.offline import OfflineDrafter
from core.drafting.openai_compat import OpenAICompatibleClient, OpenAIConfig
from core.drafting.pool import DraftPool, RateLimiter
from core.drafting.request import DraftProvider
from core.drafting.service import Voice, create_draft, draft_in_transaction
from core.errors import LeaseLost
from core.intake import (
    DraftStep,
    IntakeContext,
    IntakeResult,
    handle_batch,
    handle_inbound,
    retry_quarantined,
)
from core.model import (
    Channel,
    Disposition,
    Draft,
    InboundMessage,
    OutboxItem,
    QuarantineItem,
    ScheduledAction,
)
from core.outbox import ReplyTransport, index_transports
from core.pipeline import warm_up_triage
from core.ports import Clock, Renderer, UnitOfWork
from core.storage.engine import make_engine
from core.storage.knowledge import SqlKnowledgeBase
from core.storage.migrate import upgrade
from core.storage.uow import (
    autocommit_uow_factory,
    read_only_uow_factory,
    unit_of_work_factory,
)

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from channels.email.imap_reading import Receive
    from channels.slack.alerts import Alerter
    from channels.slack.app import SlackConnection
    from channels.slack.approvers import Approvers
    from channels.slack.escalations import Escalator
    from channels.slack.pacing import Pacer
    from channels.slack.presenter import Presenter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlackParts:
    """The Slack side, when `[slack]` is configured: one client, pacer and presenter per
    process, shared by the Bolt app, the scheduled-action handlers and the reply transport."""

    config: SlackConfig
    client: WebClient
    pacer: Pacer
    presenter: Presenter
    approvers: Approvers
    alerter: Alerter
    escalator: Escalator


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
    handlers: Mapping[str, Handler] = field(default_factory=dict)  # scheduled-action kinds
    slack: SlackParts | None = None
    kicker: Kicker | None = None
    retriever: Retriever | None = None  # the knowledge base, when [kb] top_k > 0
    draft_pool: DraftPool | None = None  # drafting off the intake path, when an LLM drafts
    new_read_uow: Callable[[], UnitOfWork] | None = None  # read-only: no write lock (SQLite)
    # Each statement on its own (PostgreSQL): for API listings, two round trips less.
    new_autocommit_uow: Callable[[], UnitOfWork] | None = None
    warm_up: Callable[[], None] | None = None  # loads the model SDK ahead of the first draft
    owner: str = field(default_factory=instance_name)  # holds leases on owed drafts
    parse_pool: ParsePool | None = None  # parser processes, when [intake] parse_workers > 0
    _regenerating: set[int] = field(default_factory=set, repr=False)  # ticket ids in progress
    _regenerating_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def close(self) -> None:
        """Stop background work this object started, then release the database."""
        if self.draft_pool is not None:
            self.draft_pool.shutdown(wait=True)  # drafts in progress are finished and stored
        if self.kicker is not None:
            self.kicker.stop()
        if self.parse_pool is not None:
            self.parse_pool.close()
        self.engine.dispose()

    def request(self, action: ScheduledAction, *, is_urgent: bool = True) -> None:
        """Record a durable action (once per idempotency key) and, if urgent, have it run
        right away; otherwise, or if that fails, the ticker of `supportbot run` runs it."""
        with self.new_uow() as uow:
            uow.actions.add_if_absent(action)
            uow.commit()
        if is_urgent and self.kicker is not None:
            self.kicker.kick()

    def show_decision(self, draft: Draft) -> None:
        """A decision made outside Slack (the CLI): update the draft's Slack message at the
        next tick of the running bot (a one-shot command does not wait for Slack)."""
        if self.slack is not None:
            self.request(refresh_action(draft, now=self.clock.now()), is_urgent=False)

    def warm_up_drafting(self) -> None:
        """Import and build the model client now (google-genai takes ~2 s to import), so the
        first drafts after a start do not wait for it. Nothing to do for offline drafting."""
        if self.warm_up is not None:
            self.warm_up()

    def regenerate(self, ticket_id: int) -> Future[Draft] | None:
        """A new draft version (superseding the pending one), presented where agents are.

        With a model configured the draft is made in the draft pool and this returns at once
        (a Slack click must not wait for a model); the future gives the draft, or the error.
        Offline it is made right here and the future is already done. None: a regeneration
        of this ticket is already under way in this process (a double click makes one)."""
        with self._regenerating_lock:
            if ticket_id in self._regenerating:
                return None
            self._regenerating.add(ticket_id)
        if self.draft_pool is None:
            done: Future[Draft] = Future()
            try:
                done.set_result(self._regenerate(ticket_id))
            except Exception as exc:
                done.set_exception(exc)
            return done
        return self.draft_pool.call(lambda: self._regenerate(ticket_id))

    def _regenerate(self, ticket_id: int) -> Draft:
        try:
            draft = self._create_draft(ticket_id)
        except Exception:
            log.exception("regenerating failed", extra={"ticket_id": ticket_id})
            self._show_latest(ticket_id)  # put the buttons back on the draft still pending
            raise
        finally:
            with self._regenerating_lock:
                self._regenerating.discard(ticket_id)
        self._show_now()  # posts v+1 and shows the old version superseded
        return draft

    def _show_latest(self, ticket_id: int) -> None:
        if self.slack is None:
            return
        with self.new_uow() as uow:
            latest = uow.drafts.latest_for_ticket(ticket_id)
        if latest is not None:
            now = self.clock.now()
            action = refresh_action(latest, now=now)
            key = f"{action.idem_key}:regenerate-failed:{now.isoformat()}"
            self.request(replace(action, idem_key=key))

    def _create_draft(
        self, ticket_id: int, *, then: Callable[[UnitOfWork, Draft], None] | None = None
    ) -> Draft:
        """A new draft version, with the request to post it in the same transaction."""

        def also(uow: UnitOfWork, draft: Draft) -> None:
            self._announce(uow, draft)
            if then is not None:
                then(uow, draft)

        return create_draft(
            self.new_uow(),
            ticket_id,
            provider=self.drafter,
            clock=self.clock,
            voice=self.voice,
            retriever=self.retriever,
            read_uow=self.new_read_uow() if self.new_read_uow is not None else None,
            then=also,
        )

    def _intake_step(self) -> DraftStep:
        """What intake does in its own transaction for a message a person must answer. The
        offline drafter writes the draft there (a commit per message instead of three
        transactions halved intake's time). A model must never be waited for there, so
        intake records the draft as owed and the pool makes it after the commit; the owed
        row lets any instance make it if this one dies first (`core.drafting.owed`)."""
        return self._draft_inline if self.draft_pool is None else self._owe_draft

    def _draft_inline(self, uow: UnitOfWork, result: IntakeResult) -> Draft:
        assert result.ticket_id is not None
        draft = draft_in_transaction(
            uow,
            result.ticket_id,
            provider=self.drafter,
            clock=self.clock,
            voice=self.voice,
            retriever=self.retriever,
        )
        self._announce(uow, draft)
        return draft

    def _owe_draft(self, uow: UnitOfWork, result: IntakeResult) -> None:
        assert result.ticket_id is not None and result.message_id is not None
        owed.owe(
            uow,
            ticket_id=result.ticket_id,
            message_id=result.message_id,
            now=self.clock.now(),
            grace=timedelta(seconds=self.settings.draft_lease_seconds),
        )

    def _draft_and_present(self, ticket_id: int) -> None:
        try:
            self._create_draft(ticket_id)
        except Exception:  # the ticket stands; a draft can be regenerated
            log.exception("drafting failed", extra={"ticket_id": ticket_id})
            return
        self._show_now()

    def _pay(self, ticket_id: int, key: str) -> None:
        """Make an owed draft and mark it made in the draft's own transaction, where
        `LeaseLost` rolls it back if another instance made it or holds it. A failure leaves
        the row pending: when it falls due (or its lease runs out), a sweep here or
        elsewhere tries again."""
        try:
            self._create_draft(
                ticket_id,
                then=lambda uow, _: owed.settle(uow, key, owner=self.owner, now=self.clock.now()),
            )
        except LeaseLost:  # a normal race, not a failure: the other drafter's draft stands
            log.info("owed draft made by another instance", extra={"ticket_id": ticket_id})
            return
        self._show_now()

    def draft_overdue(self) -> int:
        """Run by the ticker: owed drafts whose grace ran out (their drafter died or is far
        behind) go to this instance's pool, as many as it has idle workers. Returns how many."""
        if self.draft_pool is None:
            return 0
        claimed = owed.claim_due_owed(
            self.new_uow(),
            owner=self.owner,
            clock=self.clock,
            lease_seconds=self.settings.draft_lease_seconds,
            limit=self.draft_pool.free_workers(),
        )
        for action in claimed:
            assert action.ticket_id is not None
            job = partial(self._pay, action.ticket_id, action.idem_key)
            self.draft_pool.submit(job, ticket_id=action.ticket_id)
        return len(claimed)

    def on_sent(self, item: OutboxItem) -> None:
        """After delivery: show "sent" on the draft's Slack message and the card."""
        if self.slack is None or item.draft_id is None:
            return
        with self.new_uow() as uow:
            draft = uow.drafts.get(item.draft_id)
        if draft is not None:
            self.request(refresh_action(draft, now=self.clock.now()))

    def _present_latest(self, ticket_id: int) -> None:
        """Ask again for the latest draft to be shown: a draft stored before its post request
        was written with it (by an older version) may be unseen after a crash, and a message
        delivered again is the chance to repair it (the request is once per draft)."""
        if self.slack is None:
            return
        try:
            with self.new_uow() as uow:
                latest = uow.drafts.latest_for_ticket(ticket_id)
            if latest is not None and (action := self._present_action(latest)) is not None:
                self.request(action)
        except Exception:  # the draft stands; the CLI shows it, a later refresh posts it
            log.exception("presenting failed", extra={"ticket_id": ticket_id})

    def _show_now(self) -> None:
        """Run the post request a new draft's transaction wrote (`_announce`) now rather
        than at the next tick; without Slack there is none and nothing to do."""
        if self.kicker is not None:
            self.kicker.kick()

    def _announce(self, uow: UnitOfWork, draft: Draft) -> None:
        """Request the draft's post in the transaction that stores the draft: a process
        that dies after that commit leaves the request for any instance to carry out, where
        one made afterwards would be lost with it and the draft never shown in Slack."""
        if (action := self._present_action(draft)) is not None:
            uow.actions.add_if_absent(action)

    def _present_action(self, draft: Draft) -> ScheduledAction | None:
        if self.slack is None or draft.id is None:
            return None
        return ScheduledAction(
            kind=PRESENT,
            idem_key=f"slack-present:draft:{draft.id}",
            due_at=self.clock.now(),
            ticket_id=draft.ticket_id,
            payload=json.dumps({"draft_id": draft.id}),
        )

    def receive(self, msg: InboundMessage) -> IntakeResult:
        """Intake, then a draft for anything a person must answer. A model drafts after the
        message is committed; offline templates draft inside intake's transaction (one
        commit for both). Either way a drafting failure never loses the message."""
        result = handle_inbound(self.new_uow(), msg, ctx=self.intake, draft=self._intake_step())
        self._follow_up(result)
        self._alert_quarantined(result)
        return result

    def receive_many(self, messages: Iterable[InboundMessage]) -> list[IntakeResult]:
        """`receive` for a batch (a mailbox's fetch group): intake commits them together,
        then each one's follow-ups run, which open transactions of their own."""
        results = handle_batch(self.new_uow(), messages, ctx=self.intake, draft=self._intake_step())
        for result in results:
            self._follow_up(result)
            self._alert_quarantined(result)
        return results

    def retry(self, item_id: int) -> IntakeResult:
        result = retry_quarantined(
            self.new_uow(),
            item_id,
            parse=self.reparse,
            ctx=self.intake,
            draft=self._intake_step(),
        )
        self._follow_up(result)
        self._alert_quarantined(result)
        return result

    def _alert_quarantined(self, result: IntakeResult) -> None:
        """A held message is announced once (key alert:quarantine:<id>) in the agents' channel."""
        if self.slack is None or result.quarantine_id is None:
            return
        if result.disposition is not Disposition.QUARANTINED:
            return
        try:
            now = self.clock.now()
            self.request(
                health.quarantine_alert(result.quarantine_id, reason=result.reason, now=now)
            )
        except Exception:  # the message is safe in the quarantine; `status` still shows it
            log.exception("quarantine alert failed", extra={"quarantine_id": result.quarantine_id})

    def check_health(self) -> None:
        """Run by the ticker: alerts for mailboxes whose login fails or that lag (each once)."""
        if self.slack is None:
            return
        lag = self.slack.config.lag_alert_seconds
        added = health.check_mailboxes(self.new_uow(), clock=self.clock, lag_threshold=lag)
        if added and self.kicker is not None:
            self.kicker.kick()

    def run_sla(self, action: ScheduledAction) -> None:
        """An SLA warning or escalation came due: notify (Slack, when configured) and audit."""
        sla_actions.run_sla_action(
            self.new_uow,
            action,
            clock=self.clock,
            policy=self.settings.triage.sla,
            notify=self.slack.escalator.notify if self.slack is not None else None,
        )

    def wake(self, action: ScheduledAction) -> None:
        """A snooze ended: reopen the ticket (if the snooze still stands) and show it."""
        changed = ticket_actions.wake(
            self.new_uow(), action, clock=self.clock, sla=self.settings.triage.sla
        )
        if changed.applied and self.slack is not None and changed.ticket.id is not None:
            now = self.clock.now()
            card = refresh_card_action(changed.ticket.id, change=str(changed.event_id), now=now)
            self.request(card)

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

    def parse_emails(self, raws: Sequence[bytes]) -> Iterator[InboundMessage]:
        """A fetch group parsed in order: by the parser processes when there are any (then
        the group shares one `received_at`, the moment it is handed over), else here, one at
        a time as intake asks for them."""
        if self.parse_pool is not None:
            return self.parse_pool.parse_all(raws, received_at=self.clock.now())
        return (self.parse_email(raw) for raw in raws)

    def mail_receiver(self) -> Receive:
        """What a mailbox reader hands fetched mail to: parse, then intake a group at a time.
        Starts the parser processes now, so they are ready by the first fetch."""
        from channels.email.imap import make_receiver

        if self.parse_pool is not None:
            self.parse_pool.start()
        threading.Thread(target=self._warm_up_triage, name="triage-warm-up", daemon=True).start()
        return make_receiver(
            parse=self.parse_email,
            intake=self.receive,
            intake_many=self.receive_many,
            parse_many=self.parse_emails,
        )

    def _warm_up_triage(self) -> None:
        try:
            warm_up_triage(self.intake.policy, models=self.intake.models)
        except Exception:  # the first message then loads what is missing, and fails visibly
            log.exception("warming up triage failed")

    def _follow_up(self, result: IntakeResult) -> None:
        """What a committed new message sets off: the acknowledgement (if enabled) and a
        draft for a person to decide on. Either may fail without losing the message."""
        if result.ticket_id is None:
            return
        # Checked here too: a unit of work costs ~80 µs to make, for every new ticket.
        if result.disposition is Disposition.NEW_TICKET and self.settings.acknowledge.enabled:
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
            if result.disposition is Disposition.DUPLICATE:
                self._present_latest(result.ticket_id)
            return
        if result.draft is not None:  # made, and its post requested, in intake's transaction
            self._show_now()
        elif self.draft_pool is not None and result.message_id is not None:
            # A model drafts: intake recorded the draft as owed and does not wait for it.
            key = owed.owed_key(result.ticket_id, result.message_id)
            job = partial(self._pay, result.ticket_id, key)
            self.draft_pool.submit(job, ticket_id=result.ticket_id)
        else:  # intake's drafting failed (and logged why): one more try on its own
            self._draft_and_present(result.ticket_id)


def bootstrap(settings: Settings, *, clock: Clock | None = None, migrate: bool = True) -> Services:
    if migrate:
        upgrade(settings.database.url)
    engine = make_engine(settings.database.url)
    brand = settings.brand
    secret = resolve_thread_secret(brand)
    clock = clock or SystemClock()
    renderer = JinjaRenderer()
    new_uow = unit_of_work_factory(engine)
    approval = ApprovalPolicy(approvers=frozenset(settings.approval.approvers))
    slack = _slack(
        settings.slack, new_uow=new_uow, clock=clock, approval=approval, settings=settings
    )
    handlers: dict[str, Handler] = {}
    kicker = None
    if slack is not None:
        handlers = {
            PRESENT: slack.presenter.handle_present,
            REFRESH: slack.presenter.handle_refresh,
            REFRESH_CARD: slack.presenter.handle_refresh_card,
            health.ALERT: slack.alerter.handle_alert,
        }
        kicker = Kicker(
            new_uow=new_uow,
            handlers=handlers,
            clock=clock,
            lease_seconds=settings.scheduler.lease_seconds,
        )
    retriever = (
        Retriever(
            SqlKnowledgeBase(engine), top_k=settings.kb.top_k, min_score=settings.kb.min_score
        )
        if settings.kb.top_k > 0
        else None
    )
    drafter, draft_pool, warm_up = _drafting(settings, renderer)
    services = Services(
        settings=settings,
        clock=clock,
        engine=engine,
        new_uow=new_uow,
        intake=IntakeContext(
            clock=clock,
            policy=settings.triage,
            thread_secret=secret,
            own_addresses=frozenset({brand.support_address.lower()}),
            repeat_window=timedelta(days=settings.intake.repeat_window_days),
            models=load_triage_models(settings),
        ),
        drafter=drafter,
        voice=Voice(brand=brand.name, signature=brand.signature, tone=settings.llm.tone),
        approval=approval,
        identity=Identity(thread_secret=secret, domain=brand.message_id_domain),
        transports=index_transports(_transports(settings, renderer, slack)),
        renderer=renderer,
        handlers=handlers,
        slack=slack,
        kicker=kicker,
        retriever=retriever,
        draft_pool=draft_pool,
        new_read_uow=read_only_uow_factory(engine),
        new_autocommit_uow=autocommit_uow_factory(engine),
        warm_up=warm_up,
        parse_pool=_parse_pool(settings),
    )
    handlers[ticket_actions.WAKE] = services.wake  # the kicker shares this dict
    handlers[sla_actions.WARN] = services.run_sla
    handlers[sla_actions.BREACH] = services.run_sla
    handlers[DIGEST] = partial(handle_digest, services)
    return services


def _parse_pool(settings: Settings) -> ParsePool | None:
    """Parser processes are started by `Services.mail_receiver` only: most commands read no
    mailbox, and those that do not must not pay for them."""
    intake = settings.intake
    if intake.parse_workers == 0:
        return None
    return ParsePool(
        workers=intake.parse_workers,
        max_attachment_bytes=intake.max_attachment_bytes,
        reply_languages=intake.reply_languages,
    )


def _slack(
    config: SlackConfig | None,
    *,
    new_uow: Callable[[], UnitOfWork],
    clock: Clock,
    approval: ApprovalPolicy,
    settings: Settings,
) -> SlackParts | None:
    if config is None:
        return None
    from channels.slack.alerts import Alerter
    from channels.slack.approvers import Approvers
    from channels.slack.client import make_client
    from channels.slack.escalations import Escalator
    from channels.slack.pacing import Pacer
    from channels.slack.posting import OncePoster
    from channels.slack.presenter import Presenter

    client = make_client(config)
    pacer = Pacer(interval=config.post_interval_seconds)
    poster = OncePoster(client, new_uow=new_uow, clock=clock, pacer=pacer)
    presenter = Presenter(
        client, poster, new_uow=new_uow, clock=clock, agents_channel=config.agents_channel
    )
    approvers = Approvers(client, base=approval, group=config.approver_group)
    alerter = Alerter(poster, agents_channel=config.agents_channel)
    escalator = Escalator(
        client,
        poster,
        new_uow=new_uow,
        clock=clock,
        agents_channel=config.agents_channel,
        mention=settings.escalation.slack_mention,
        manager_dm=settings.escalation.manager_dm,
    )
    return SlackParts(config, client, pacer, presenter, approvers, alerter, escalator)


@dataclass
class SlackRuntime:
    """The running Bolt app: stop() closes the connection, then waits for its listeners."""

    connection: SlackConnection
    executor: ThreadPoolExecutor

    def stop(self) -> None:
        try:
            self.connection.stop()
        finally:
            self.executor.shutdown(wait=True)


def start_mailbox_watcher(
    services: Services, config: MailboxConfig, *, stop: threading.Event, owner: str | None = None
) -> threading.Thread:
    """Read one mailbox in its own thread until `stop` is set, as `supportbot run` does."""
    from channels.email.imap import watch_mailbox

    watcher = threading.Thread(
        target=watch_mailbox,
        args=(config,),
        kwargs={
            "new_uow": services.new_uow,
            "receive": services.mail_receiver(),
            "clock": services.clock,
            "stop": stop,
            "owner": owner,
        },
        name=f"mailbox-{config.name}",
    )
    watcher.start()
    return watcher


def start_slack(services: Services) -> SlackRuntime:
    """Connect the Bolt app (Socket Mode or HTTP, per config) to the services."""
    slack = services.slack
    if slack is None:
        raise ValueError("no [slack] section is configured")
    from channels.slack.app import SlackConnection, build_app
    from channels.slack.handlers import Desk

    desk = Desk(
        config=slack.config,
        new_uow=services.new_uow,
        clock=services.clock,
        identity=services.identity,
        approvers=slack.approvers,
        receive=services.receive,
        regenerate=services.regenerate,
        request=services.request,
        retry=services.retry,
        categories=services.settings.triage.categories.categories,
        sla=services.settings.triage.sla,
    )
    executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="slack-listener")
    app = build_app(desk, client=slack.client, executor=executor)
    connection = SlackConnection(app, slack.config)
    try:
        connection.start()
    except BaseException:
        executor.shutdown(wait=False)
        raise
    return SlackRuntime(connection, executor)


def _transports(
    settings: Settings, renderer: JinjaRenderer, slack: SlackParts | None
) -> list[ReplyTransport]:
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
    if slack is not None:
        from channels.slack.transport import SlackTransport

        transports.append(SlackTransport(slack.client, pacer=slack.pacer))
    return transports


def _drafting(
    settings: Settings, renderer: Renderer
) -> tuple[DraftProvider, DraftPool | None, Callable[[], None] | None]:
    """The offline drafter, or a model with the offline drafter as its fallback and a pool
    to run it in (so intake never waits for a model), and how to warm the model client up."""
    offline = OfflineDrafter(renderer)
    llm = settings.llm
    if not llm.is_remote:
        return offline, None, None
    rpm = llm.requests_per_minute
    pool = DraftPool(concurrency=llm.concurrency, limiter=RateLimiter(rpm) if rpm > 0 else None)
    client = _model_client(settings, gate=pool.gate)
    drafter = FallbackDrafter(
        LlmDrafter(client, renderer, is_redacting=llm.redact_pii),
        offline,
        on_failure=lambda exc: pool.on_overload(exc.status),
    )
    return drafter, pool, client.warm_up


def _model_client(settings: Settings, *, gate: Callable[[], None]) -> ModelClient:
    llm = settings.llm
    if llm.provider == "gemini":
        return GeminiClient(
            GeminiConfig(
                api_key=llm.api_key.get_secret_value(),
                model=llm.model,
                base_url=llm.base_url,
                timeout_seconds=llm.timeout_seconds,
                max_retries=llm.max_retries,
            ),
            gate=gate,
        )
    return OpenAICompatibleClient(
        OpenAIConfig(
            base_url=llm.base_url,
            model=llm.model,
            api_key=llm.api_key.get_secret_value(),
            timeout_seconds=llm.timeout_seconds,
            max_retries=llm.max_retries,
        ),
        gate=gate,
    )
