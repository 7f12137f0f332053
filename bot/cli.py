"""The `supportbot` command line: run, ingest, triage, tickets, quarantine, db.

Commands are thin: they load settings, call `bootstrap`, and print. Expected failures
(`SupportbotError`, a missing file) print one line and exit 2; nothing prints a traceback
unless `--debug` is given.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bot import training
from bot.bootstrap import Services, bootstrap
from bot.settings import Settings, load_settings
from channels.email.files import list_mail_sources
from core.approval import Decided, Outcome, approve, reject
from core.drafting.knowledge import index_markdown, list_markdown
from core.errors import InvalidInput, NotFound, SupportbotError
from core.learning.crossval import cross_validate
from core.learning.targets import Target
from core.model import (
    ActionStatus,
    Conversation,
    Disposition,
    Draft,
    QuarantineStatus,
    Role,
    Ticket,
    TicketStatus,
    Tier,
)
from core.outbox import deliver_due
from core.pipeline import TriageInput, run_triage
from core.queries import load_conversation
from core.storage.knowledge import SqlKnowledgeBase

app = typer.Typer(
    help="supportbot: email and Slack support with drafted replies that agents approve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
tickets_app = typer.Typer(help="Look at tickets.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Messages that could not be processed.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
kb_app = typer.Typer(help="The knowledge base drafts are grounded in.", no_args_is_help=True)
drafts_app = typer.Typer(help="Decide on drafted replies.", no_args_is_help=True)
outbox_app = typer.Typer(help="Approved replies waiting to be sent.", no_args_is_help=True)
users_app = typer.Typer(help="Web accounts and API tokens.", no_args_is_help=True)
app.add_typer(tickets_app, name="tickets")
app.add_typer(drafts_app, name="drafts")
app.add_typer(outbox_app, name="outbox")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(db_app, name="db")
app.add_typer(kb_app, name="kb")
app.add_typer(users_app, name="users")

out = Console()
err = Console(stderr=True)

COUNT_KEYS = {
    Disposition.NEW_TICKET: "new_tickets",
    Disposition.FOLLOWUP: "followups",
    Disposition.DUPLICATE: "duplicates",
    Disposition.QUARANTINED: "quarantined",
    Disposition.IGNORED_AUTOMATIC: "ignored_automatic",
}


class _State:
    config: Path | None = None
    debug: bool = False
    _settings: Settings | None = None

    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config)
            logging.basicConfig(
                level=logging.DEBUG if self.debug else self._settings.log_level,
                format="%(levelname)s %(name)s: %(message)s",
                stream=sys.stderr,
            )
            # Migration and per-tick scheduler chatter would drown what matters.
            logging.getLogger("alembic").setLevel(logging.WARNING)
            logging.getLogger("apscheduler").setLevel(logging.WARNING)
            # imapclient logs message contents at DEBUG; bodies stay out of logs (DESIGN §3.8).
            logging.getLogger("imapclient").setLevel(logging.WARNING)
        return self._settings

    def forget(self) -> None:
        """Drop cached settings, so each invocation (or test run) reads its own."""
        self._settings = None

    def services(self) -> Services:
        return bootstrap(self.settings())


state = _State()


@app.callback()
def _options(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="TOML settings file (or set SUPPORTBOT_CONFIG)."),
    ] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks and debug logs.")] = False,
) -> None:
    state.config = config
    state.debug = debug
    state.forget()


def _print_json(value: object) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


@app.command()
def triage(
    text: Annotated[str, typer.Argument(help="The customer's message.")],
    subject: Annotated[str, typer.Option("--subject", "-s")] = "",
    sender: Annotated[
        str | None, typer.Option("--from", help="Sender address: their tier is looked up.")
    ] = None,
    tier: Annotated[Tier | None, typer.Option(help="Customer tier (overrides --from).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Classify a text as a ticket would be, without storing anything."""
    settings = state.settings()
    now = datetime.now().astimezone()
    result = run_triage(
        TriageInput(subject=subject, text=text, created_at=now, tier=tier or _tier_of(sender)),
        policy=settings.triage,
        models=training.load_triage_models(settings),
    )
    data = {
        "category": result.category,
        "category_confidence": round(result.category_confidence, 3),
        "priority": result.priority.value,
        "priority_label": result.priority.label,
        "priority_score": round(result.priority_score, 2),
        "sentiment": result.sentiment,
        "sentiment_score": round(result.sentiment_score, 3),
        "language": result.language,
        "sla": {
            "first_response_due": _iso(result.sla.first_response_due),
            "resolution_due": _iso(result.sla.resolution_due),
        },
        "signals": list(result.signals),
    }
    if as_json:
        _print_json(data)
        return
    table = Table(show_header=False, box=None)
    for key, value in data.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        table.add_row(key, json.dumps(shown) if isinstance(shown, dict) else str(shown))
    out.print(table)


def _tier_of(sender: str | None) -> Tier:
    """A known customer's tier, read only if the database already exists (triage stores
    nothing, so it must not create one either)."""
    if not sender:
        return Tier.FREE
    url = state.settings().database.url
    if url.startswith("sqlite") and not Path(url.split("///", 1)[-1]).exists():
        return Tier.FREE
    services = bootstrap(state.settings(), migrate=False)
    try:
        with services.new_uow() as uow:
            customer = uow.customers.get_by_email(sender)
    except Exception:  # no schema yet, or the server is down: triage still answers
        return Tier.FREE
    return customer.tier if customer else Tier.FREE


@contextmanager
def _progress(total: int, *, enabled: bool, label: str = "ingesting") -> Iterator[Any]:
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not enabled,
        transient=True,
    )
    with progress:
        task = progress.add_task(label, total=total)
        yield lambda: progress.advance(task)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help=".eml/.box files, Maildir folders, mbox.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Load stored mail into tickets through the same intake as live mail. Idempotent."""
    services = state.services()
    try:
        listing = list_mail_sources(paths)
    except FileNotFoundError as exc:
        raise SupportbotError(str(exc)) from None
    counts: Counter[Disposition] = Counter()
    with _progress(len(listing.sources), enabled=err.is_terminal) as advance:
        for source in listing.sources:
            counts[services.receive(services.parse_email(source.read())).disposition] += 1
            advance()
    summary = {key: counts[d] for d, key in COUNT_KEYS.items()}
    if listing.skipped:
        err.print(
            f"skipped {len(listing.skipped)} file(s) that are not mail (e.g. {listing.skipped[0]})"
        )
    if as_json:
        _print_json(summary)
    else:
        out.print(", ".join(f"{key.replace('_', ' ')}: {n}" for key, n in summary.items()))


@tickets_app.command("list")
def tickets_list(
    status: Annotated[TicketStatus | None, typer.Option(help="Only this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Newest tickets first."""
    services = state.services()
    with services.new_uow() as uow:
        rows = uow.tickets.list(status=status, limit=limit)
    if as_json:
        _print_json([_ticket_json(t) for t in rows])
        return
    table = Table(
        "ref", "status", "priority", "category", "sentiment", "first response due", "subject"
    )
    for t in rows:
        table.add_row(
            t.ref,
            t.status,
            f"{t.priority} {t.priority.label}",
            t.category,
            str(t.sentiment),
            _iso(t.first_response_due) or "-",
            t.subject[:60],
        )
    out.print(table)


@tickets_app.command("show")
def tickets_show(
    ref: Annotated[str, typer.Argument(help="Ticket reference, e.g. T42.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A ticket with its conversation and drafts."""
    services = state.services()
    with services.new_uow() as uow:
        conversation = load_conversation(uow, ref)
    if as_json:
        _print_json(_conversation_json(conversation))
        return
    t = conversation.ticket
    out.print(f"[bold]{t.ref}[/bold] {t.subject}", markup=True, highlight=False)
    out.print(
        f"{t.status} · {t.priority} {t.priority.label} · {t.category} · "
        f"sentiment {t.sentiment} · {conversation.customer.email}",
        markup=False,
    )
    out.print(
        f"first response due {_iso(t.first_response_due)}, resolution due {_iso(t.resolution_due)}",
        markup=False,
    )
    for m in conversation.messages:
        label = f"{m.direction} {m.author} {_iso(m.created_at)}"
        if m.automatic:
            label += f" (automatic: {m.automatic})"
        out.print(f"\n--- {label}", markup=False)
        out.print(m.text.strip(), markup=False, highlight=False)
    for d in conversation.drafts:
        out.print(f"\n=== draft v{d.version} [{d.status}] by {d.provider}", markup=False)
        out.print(d.text.strip(), markup=False, highlight=False)


def _ticket_json(t: Ticket) -> dict[str, Any]:
    data = asdict(t)
    data["priority_label"] = t.priority.label
    return {k: _iso(v) if isinstance(v, datetime) else v for k, v in data.items()}


def _conversation_json(c: Conversation) -> dict[str, Any]:
    def plain(record: Any, *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
        data = {k: v for k, v in asdict(record).items() if k not in drop}
        return {k: _iso(v) if isinstance(v, datetime) else v for k, v in data.items()}

    return {
        "ticket": _ticket_json(c.ticket),
        "customer": plain(c.customer),
        "messages": [
            {
                **plain(m, drop=("raw", "attachments")),
                "attachments": [
                    {"filename": a.filename, "content_type": a.content_type, "size": a.size}
                    for a in m.attachments
                ],
            }
            for m in c.messages
        ],
        "drafts": [plain(d) for d in c.drafts],
    }


@quarantine_app.command("list")
def quarantine_list(
    show_all: Annotated[
        bool, typer.Option("--all", help="Also ignored automatic mail and reprocessed items.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Messages held for a person, with the reason."""
    services = state.services()
    with services.new_uow() as uow:
        items = uow.quarantine.list(status=None if show_all else QuarantineStatus.HELD)
    rows = [
        {
            "id": q.id,
            "status": q.status,
            "channel": q.channel,
            "received_at": _iso(q.received_at),
            "bytes": len(q.raw),
            "reason": q.reason,
        }
        for q in items
    ]
    if as_json:
        _print_json(rows)
        return
    table = Table("id", "status", "channel", "received", "bytes", "reason")
    for r in rows:
        table.add_row(
            *(str(r[k]) for k in ("id", "status", "channel", "received_at", "bytes", "reason"))
        )
    out.print(table)


@quarantine_app.command("retry")
def quarantine_retry(
    item_id: Annotated[int | None, typer.Argument(help="Quarantine id.")] = None,
    retry_all: Annotated[bool, typer.Option("--all", help="Every held item.")] = False,
) -> None:
    """Run held messages through intake again, e.g. after a fix or a configuration change."""
    if (item_id is None) == (not retry_all):
        raise SupportbotError("give either a quarantine id or --all")
    services = state.services()
    if retry_all:
        with services.new_uow() as uow:
            ids = [q.id for q in uow.quarantine.list(status=QuarantineStatus.HELD) if q.id]
    else:
        ids = [item_id] if item_id is not None else []
    for qid in ids:
        result = services.retry(qid)
        where = f" → {result.ticket_ref}" if result.ticket_ref else ""
        out.print(f"{qid}: {result.disposition}{where} {result.reason}".rstrip(), markup=False)


def _pending_draft(services: Services, ref: str, version: int | None) -> Draft:
    with services.new_uow() as uow:
        drafts = load_conversation(uow, ref).drafts
    wanted = [d for d in drafts if d.version == version] if version else drafts[-1:]
    if not wanted or wanted[0].id is None:
        raise NotFound(f"ticket {ref} has no draft" + (f" version {version}" if version else ""))
    return wanted[0]


def _report_decision(services: Services, decided: Decided) -> None:
    d = decided.draft
    if decided.outcome is Outcome.APPLIED:
        services.show_decision(d)
        queued = " and queued for sending" if decided.outbox else ""
        out.print(f"draft v{d.version} {d.status}{queued}", markup=False)
        return
    who = f" by {d.decided_by}" if d.decided_by else ""
    raise SupportbotError(f"nothing changed: draft v{d.version} is {d.status}{who}")


ActorOption = Annotated[
    str, typer.Option("--as", help="Your approver name; 'cli:NAME' must be in approval.approvers.")
]
VersionOption = Annotated[
    int | None, typer.Option(help="Draft version you reviewed (default: the latest).")
]


@drafts_app.command("approve")
def drafts_approve(
    ref: Annotated[str, typer.Argument(help="Ticket reference, e.g. T42.")],
    actor: ActorOption,
    version: VersionOption = None,
    edited: Annotated[
        Path | None, typer.Option("--edited", help="File with your edited reply text.")
    ] = None,
) -> None:
    """Approve a draft (optionally with your edits); the reply is queued in the outbox."""
    services = state.services()
    draft = _pending_draft(services, ref, version)
    text = edited.read_text(encoding="utf-8") if edited else None
    _report_decision(
        services,
        approve(
            services.new_uow(),
            draft_id=draft.id or 0,
            version=draft.version,
            actor=f"cli:{actor}",
            policy=services.approval,
            clock=services.clock,
            identity=services.identity,
            edited_text=text,
        ),
    )


@drafts_app.command("reject")
def drafts_reject(
    ref: Annotated[str, typer.Argument(help="Ticket reference, e.g. T42.")],
    actor: ActorOption,
    reason: Annotated[str, typer.Option(help="Why; kept to improve drafts.")],
    version: VersionOption = None,
) -> None:
    """Reject a draft with a reason; nothing is sent."""
    services = state.services()
    draft = _pending_draft(services, ref, version)
    _report_decision(
        services,
        reject(
            services.new_uow(),
            draft_id=draft.id or 0,
            version=draft.version,
            actor=f"cli:{actor}",
            reason=reason,
            policy=services.approval,
            clock=services.clock,
        ),
    )


@outbox_app.command("send")
def outbox_send(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Send every approved reply that is due now (retries wait for their backoff)."""
    from bot.scheduler import instance_name

    services = state.services()
    if not services.transports:
        raise SupportbotError(
            "no sender is configured (add an [smtp] section); replies stay queued"
        )
    report = deliver_due(
        services.new_uow,
        transports=services.transports,
        clock=services.clock,
        owner=instance_name(),
        lease_seconds=services.settings.scheduler.lease_seconds,
    )
    summary = asdict(report)
    if as_json:
        _print_json(summary)
    else:
        out.print(", ".join(f"{k}: {v}" for k, v in summary.items()), markup=False)


@app.command()
def poll(
    once: Annotated[bool, typer.Option("--once", help="Read all new mail, then exit.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Read new mail from every configured mailbox into tickets."""
    from channels.email.imap import MailboxError, poll_mailbox

    if not once:
        raise SupportbotError("use `poll --once`; `supportbot run` keeps watching mailboxes")
    services = state.services()
    if not services.settings.mailboxes:
        raise SupportbotError("no mailbox is configured: add a [[mailboxes]] section")
    counts: Counter[Disposition] = Counter()
    failed = []
    try:
        receive = services.mail_receiver()
        for config in services.settings.mailboxes:
            try:
                report = poll_mailbox(
                    config, new_uow=services.new_uow, receive=receive, clock=services.clock
                )
            except MailboxError as exc:
                failed.append(config.name)
                err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
                continue
            counts.update(report.counts)
    finally:
        services.close()  # stops the parser processes, if any
    summary = {key: counts[d] for d, key in COUNT_KEYS.items()}
    if as_json:
        _print_json(summary)
    else:
        out.print(", ".join(f"{key.replace('_', ' ')}: {n}" for key, n in summary.items()))
    if failed:
        raise typer.Exit(1)


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Health at a glance: each mailbox's last success, error, lag and auth failures, how
    many messages wait in the quarantine, and how many model drafts are owed (overdue: their
    drafter died or is far behind, and a running instance will make them)."""
    from core.drafting.owed import OWED
    from core.storage.migrate import current_revision

    services = state.services()
    now = services.clock.now()
    with services.new_uow() as uow:
        boxes = {b.name: b for b in uow.mailboxes.list()}
        held = len(uow.quarantine.list(status=QuarantineStatus.HELD))
        owed = uow.actions.list_for_kind(OWED, statuses=[ActionStatus.PENDING])
    configured = [m.name for m in services.settings.mailboxes]
    mailboxes = [
        {
            "name": name,
            "configured": name in configured,
            "last_success_at": _iso(b.last_success_at) if b else None,
            "last_error": b.last_error if b else None,
            "last_error_at": _iso(b.last_error_at) if b else None,
            "auth_failures": b.auth_failures if b else 0,
            "lag_seconds": b.lag_seconds if b else None,
            "last_uid": b.last_uid if b else 0,
        }
        for name in sorted({*configured, *boxes})
        for b in [boxes.get(name)]
    ]
    data = {
        "database": _redact_url(services.settings.database.url),
        "schema_revision": current_revision(services.settings.database.url),
        "quarantined": held,
        "drafts_owed": len(owed),
        "drafts_overdue": sum(1 for action in owed if action.due_at <= now),
        "smtp": "configured" if services.settings.smtp else "off",
        "mailboxes": mailboxes,
    }
    if as_json:
        _print_json(data)
        return
    for key in ("database", "schema_revision", "quarantined", "smtp"):
        out.print(f"{key}: {data[key]}", markup=False)
    out.print(f"drafts owed: {data['drafts_owed']} ({data['drafts_overdue']} overdue)")
    table = Table("mailbox", "last success", "last error", "auth failures", "lag s", "last uid")
    for m in mailboxes:
        table.add_row(
            str(m["name"]),
            str(m["last_success_at"] or "-"),
            str(m["last_error"] or "-"),
            str(m["auth_failures"]),
            str(m["lag_seconds"] if m["lag_seconds"] is not None else "-"),
            str(m["last_uid"]),
        )
    out.print(table)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the newest version."""
    from core.storage.migrate import current_revision, upgrade

    url = state.settings().database.url
    upgrade(url)
    out.print(f"database at revision {current_revision(url)}", markup=False)


@app.command()
def digest(
    now: Annotated[bool, typer.Option("--now", help="Render and send immediately.")] = False,
    manager: Annotated[
        str | None, typer.Option("--manager", help="Only this manager (Slack user id).")
    ] = None,
    show: Annotated[bool, typer.Option("--print", help="Print instead of sending.")] = False,
    days: Annotated[int, typer.Option("--days", min=1, help="Period length (7: weekly).")] = 1,
) -> None:
    """Managers' digests: render the last day's figures and send (or print) them now."""
    from bot.digests import find_manager, send_digest
    from core.digest import prepare_digest

    if not now:
        raise typer.BadParameter("scheduled digests are sent by `supportbot run`; use --now")
    services = state.services()
    managers = find_manager(services, manager)
    if not managers:
        raise typer.BadParameter(f"no [[managers]] entry for {manager or 'anyone'}")
    for each in managers:
        rendered = prepare_digest(
            services.new_uow(), each, renderer=services.renderer, clock=services.clock, days=days
        )
        if show:
            out.print(rendered.text, markup=False, highlight=False)
            continue
        stamp = services.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        sent = send_digest(
            services, each, rendered, idem_key=f"digest-now:{each.slack_user_id}:{stamp}"
        )
        out.print(f"{each.slack_user_id}: sent by {', '.join(sent) or 'nothing'}", markup=False)


@app.command()
def run() -> None:
    """Start every configured channel and the scheduler; stop with Ctrl-C."""
    from bot.bootstrap import start_mailbox_watcher, start_slack
    from bot.scheduler import instance_name, start_ticker

    services = state.services()
    services.warm_up_drafting()  # the model SDK's import, before the first ticket waits on it
    settings = services.settings
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    scheduler = start_ticker(services, handlers=services.handlers)
    slack = start_slack(services) if services.slack is not None else None
    web = _start_web(services) if settings.web.enabled else None
    owner = instance_name()  # holds the mailbox leases, as it holds scheduled actions
    watchers = [
        start_mailbox_watcher(services, config, stop=stop, owner=owner)
        for config in settings.mailboxes
    ]
    err.print(f"database: {_redact_url(settings.database.url)}", markup=False)
    err.print(f"drafting: {_drafting_status(settings)}", markup=False)
    err.print("scheduler: running (UTC ticker)", markup=False)
    for line in _channel_status(settings):
        if slack is not None and line.startswith("slack:"):
            line = slack.connection.describe()
        if web is not None and line.startswith("web:"):
            line = f"web: REST API on {web.url} (OpenAPI at /docs, dashboard at /dashboard)"
        err.print(line, markup=False)
    err.print("supportbot is running; press Ctrl-C to stop.", markup=False)
    stop.wait()
    for watcher in watchers:
        watcher.join()
    if slack is not None:
        slack.stop()
    if web is not None:
        web.stop()
    scheduler.shutdown(wait=True)
    services.close()
    err.print("stopped.", markup=False)


def _drafting_status(settings: Settings) -> str:
    llm = settings.llm
    if not llm.is_remote:
        return "offline templates (no LLM configured)"
    return (
        f"{llm.provider} {llm.model}, {llm.concurrency} at a time, offline templates when it fails"
    )


def _channel_status(settings: Settings) -> list[str]:
    """Say what runs, what is off, and how to turn it on, rather than failing."""
    names = ", ".join(m.name for m in settings.mailboxes)
    return [
        f"email in: watching {names}"
        if names
        else "email in: off (add [[mailboxes]] to the config; `supportbot ingest` loads files)",
        f"email out: SMTP {settings.smtp.host}:{settings.smtp.port}"
        if settings.smtp
        else "email out: off (add an [smtp] section; approved replies wait in the outbox)",
        "slack: off (approval threads need a [slack] section with bot and app tokens)",
        "web: off (set [web] enabled = true to serve the REST API; or `supportbot web`)",
    ]


def _require_web_extra() -> None:
    """The REST API is an optional extra; say how to get it instead of a traceback."""
    import importlib.util

    wanted = ("fastapi", "uvicorn", "argon2", "itsdangerous")
    missing = [m for m in wanted if importlib.util.find_spec(m) is None]
    if missing:
        raise SupportbotError(
            f"the REST API needs the [web] extra ({', '.join(missing)} missing): "
            "pip install -e '.[web]'"
        )


def _start_web(services: Services) -> Any:
    """The REST API in a thread of `supportbot run` (needs the [web] extra)."""
    _require_web_extra()
    from channels.web.app import create_app
    from channels.web.server import WebServer

    web = services.settings.web
    server = WebServer(create_app(services), host=web.host, port=web.port)
    server.start()
    return server


@app.command()
def web() -> None:
    """Serve the REST API alone (host and port from [web]); stop with Ctrl-C."""
    _require_web_extra()
    from channels.web.app import create_app
    from channels.web.server import serve

    services = state.services()
    settings = services.settings.web
    url = f"http://{settings.host}:{settings.port}"
    err.print(f"web: REST API on {url} (docs at /docs, dashboard at {url}/dashboard)")
    try:
        serve(create_app(services), host=settings.host, port=settings.port)
    finally:
        services.close()


def _cli_actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name in a container: still say where it came from
        return "cli:unknown"


@users_app.command("add")
def users_add(
    login: Annotated[str, typer.Argument(help="Lower-case login; acts as web:LOGIN.")],
    role: Annotated[Role, typer.Option(help="agent, manager or admin.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
) -> None:
    """Add a web user (password prompted, or from stdin)."""
    _require_web_extra()
    from channels.web.passwords import hash_password
    from core.accounts import add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        hashed = hash_password(password)
    except ValueError as exc:
        raise SupportbotError(str(exc)) from None
    services = state.services()
    try:
        user = add_user(
            services.new_uow(),
            login=login,
            password_hash=hashed,
            role=role,
            actor=_cli_actor(),
            clock=services.clock,
        )
    finally:
        services.close()
    out.print(f"user {user.login} added ({user.role})", markup=False)


@users_app.command("token")
def users_token(
    login: Annotated[str, typer.Argument(help="The user the token acts as.")],
    name: Annotated[str, typer.Option(help="What the token is for, e.g. the calling system.")],
) -> None:
    """Issue an API token; it is printed once and only its hash is kept."""
    from core.accounts import issue_token

    services = state.services()
    try:
        issued = issue_token(
            services.new_uow(), login=login, name=name, actor=_cli_actor(), clock=services.clock
        )
    finally:
        services.close()
    err.print(f"token {issued.token.id} for {login} ({name}); it is not shown again:")
    sys.stdout.write(issued.secret + "\n")


@users_app.command("revoke-token")
def users_revoke_token(token_id: Annotated[int, typer.Argument(help="Token id.")]) -> None:
    """Revoke an API token; requests with it get 401 from now on."""
    from core.accounts import revoke_token

    services = state.services()
    try:
        revoked = revoke_token(
            services.new_uow(), token_id=token_id, actor=_cli_actor(), clock=services.clock
        )
    finally:
        services.close()
    if not revoked:
        raise SupportbotError(f"no live token {token_id}")
    out.print(f"token {token_id} revoked", markup=False)


def _redact_url(url: str) -> str:
    """Never print a password in a database URL."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@kb_app.command("index")
def kb_index(
    path: Annotated[
        Path | None, typer.Argument(help="Folder of Markdown articles (default: [kb] path).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Index Markdown articles for drafting; unchanged files are left alone. Idempotent."""
    services = state.services()
    root = path or services.settings.kb.path
    if not root.exists():
        raise SupportbotError(f"no such file or folder: {root}")
    try:
        total = len(list_markdown(root))
        with _progress(total, enabled=err.is_terminal, label="indexing") as advance:
            counts = index_markdown(SqlKnowledgeBase(services.engine), root, advance=advance)
    finally:
        services.close()
    summary = {key: counts[key] for key in ("added", "updated", "unchanged")}
    if as_json:
        _print_json(summary)
    else:
        out.print(", ".join(f"{key}: {n}" for key, n in summary.items()))


_TextCol = Annotated[str, typer.Option("--text-col", help="Column holding the message text.")]
_LabelCol = Annotated[str, typer.Option("--label-col", help="Column holding the gold label.")]
_TargetOpt = Annotated[Target, typer.Option(help="What the labels are.")]
_Rename = Annotated[
    list[str] | None,
    typer.Option(help="OLD=NEW: read label OLD as NEW (repeatable), to align two taxonomies."),
]


@app.command()
def train(
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Labelled CSV (UTF-8, with a header row).")
    ] = None,
    text_col: _TextCol = "text",
    label_col: _LabelCol = "label",
    target: _TargetOpt = Target.CATEGORY,
    rename: _Rename = None,
    model: Annotated[
        Path | None,
        typer.Option(help="Where to write it (default: [learning] models_dir/TARGET.model)."),
    ] = None,
    from_db: Annotated[
        bool, typer.Option("--from-db", help="Learn from tickets whose label an agent set.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Fit an offline model (CPU only) that triage uses for TARGET from its next start."""
    if (csv_file is None) == (not from_db):
        raise InvalidInput("give either --csv FILE or --from-db")
    settings = state.settings()
    if csv_file is not None:
        data = training.read_csv(
            csv_file, text_col=text_col, label_col=label_col, target=target, rename=rename or ()
        )
    else:
        services = state.services()
        try:
            data = training.read_history(services.new_uow, target)
        finally:
            services.close()
    path = model or training.model_path(settings, target)
    with err.status(f"training on {len(data.texts)} rows…", spinner="dots"):
        result = training.train_and_save(data, target=target, path=path)
    summary = {
        "model": str(result.path),
        "target": target.value,
        "rows": result.rows,
        "labels": result.labels,
        "skipped_rows": data.skipped,
        "seconds": result.seconds,
    }
    if as_json:
        _print_json(summary)
    else:
        out.print(
            f"trained {target.value} on {result.rows} rows, {result.labels} labels, in "
            f"{result.seconds} s → {result.path}"
            + (f" ({data.skipped} rows without text or label skipped)" if data.skipped else "")
        )


@app.command("eval")
def evaluate(
    csv_file: Annotated[Path, typer.Option("--csv", help="Labelled CSV to measure on.")],
    text_col: _TextCol = "text",
    label_col: _LabelCol = "label",
    target: _TargetOpt = Target.CATEGORY,
    rename: _Rename = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="A model file, 'rules', or 'vader' (sentiment); default: what triage uses now."
        ),
    ] = None,
    folds: Annotated[
        int | None,
        typer.Option(
            help="Cross-validate: train K models on the CSV itself, each scored on "
            "the rows it did not see."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One object: n, accuracy, macro_f1, per_class.")
    ] = False,
) -> None:
    """Accuracy, macro-F1 and per-class figures of a model, the rules or VADER on a CSV."""
    data = training.read_csv(
        csv_file, text_col=text_col, label_col=label_col, target=target, rename=rename or ()
    )
    if folds is not None:
        if model is not None:
            raise InvalidInput("--folds trains its own models; leave out --model")
        with _progress(folds, enabled=err.is_terminal, label="folds") as advance:
            crossed = cross_validate(
                data.texts, data.labels, target=target, folds=folds, progress=lambda _: advance()
            )
        report, name = crossed.report, f"{folds}-fold cross-validation"
        detail = ", ".join(f"{a:.4f}" for a in crossed.fold_accuracies)
        err.print(f"fold accuracies: {detail}", highlight=False)
    else:
        name, predictor = training.predictor_for(state.settings(), target, model)
        report = training.evaluate(predictor, data)
    if as_json:
        _print_json(report.as_json())
        return
    out.print(
        f"{name} on {csv_file}: n {report.n}, accuracy {report.accuracy:.4f}, "
        f"macro-F1 {report.macro_f1:.4f}",
        highlight=False,
    )
    table = Table("label", "precision", "recall", "f1", "support")
    for label, figures in report.per_class.items():
        table.add_row(
            label,
            f"{figures.precision:.3f}",
            f"{figures.recall:.3f}",
            f"{figures.f1:.3f}",
            str(figures.support),
        )
    out.print(table)


def main() -> None:
    try:
        app()
    except (SupportbotError, NotFound) as exc:
        if state.debug:
            raise
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
