"""The REST API: routes that translate HTTP into calls on the core, and results back.

Every ticket created here goes through the same intake as email and Slack (`receive`);
decisions on drafts and changes to tickets go through the same core functions, state
machine and approval policy as Slack, acting as `web:<login>`. Authentication is an API
token (`Authorization: Bearer …`); `/health` and `/metrics` are open, for probes and scrapers.
The dashboard for people (channels.web.dashboard) is mounted at /dashboard.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Annotated, Literal, Protocol

from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from channels.web import cursors, schemas
from channels.web.dashboard import mount_dashboard
from channels.web.decisions import Deciding, approve_as, reject_as
from channels.web.metrics import CONTENT_TYPE, render_metrics
from channels.web.sessions import SessionSettings
from channels.web.webhooks import WebhookSettings, install_webhooks
from core import accounts, ticket_actions
from core.approval import Outcome
from core.digest import compute_figures
from core.errors import InvalidInput, NotAuthorised, NotFound
from core.intake import IntakeContext, IntakeResult
from core.model import (
    Channel,
    Disposition,
    Draft,
    InboundMessage,
    Priority,
    Ticket,
    TicketPosition,
    TicketQuery,
    TicketSort,
    TicketStatus,
    User,
)
from core.pipeline import TriageInput, run_triage
from core.ports import Clock, Renderer, UnitOfWork
from core.queries import load_conversation


class WebKeys(WebhookSettings, SessionSettings, Protocol):
    """Every [web] key the web adapters read (bot.settings.WebSettings has them all)."""


class WebSettingsView(Protocol):
    @property
    def web(self) -> WebKeys: ...


class WebServices(Deciding, Protocol):
    """What the web adapter needs of the composition root (bot.bootstrap.Services)."""

    @property
    def intake(self) -> IntakeContext: ...
    @property
    def slack(self) -> object | None: ...
    @property
    def draft_pool(self) -> object | None: ...
    @property
    def settings(self) -> WebSettingsView: ...
    @property
    def renderer(self) -> Renderer: ...
    @property
    def new_autocommit_uow(self) -> Callable[[], UnitOfWork] | None: ...

    def receive(self, msg: InboundMessage) -> IntakeResult: ...
    def retry(self, item_id: int) -> IntakeResult: ...


DraftId = Annotated[int, Path(ge=1, le=schemas.DB_INT_MAX)]
_bearer = HTTPBearer(auto_error=False, description="An API token from `supportbot users token`")
_CREATED = (Disposition.NEW_TICKET, Disposition.FOLLOWUP, Disposition.DUPLICATE)


def field_error(field: str, message: str, *, where: str = "body") -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors, naming the field."""
    return HTTPException(
        422, detail=[{"loc": [where, field], "msg": message, "type": "value_error"}]
    )


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def current_user(request: Request, credentials: Credentials) -> User:
    """The user owning the presented API token; 401 without one or with a bad one."""
    services: WebServices = request.app.state.services
    with services.new_uow() as uow:
        return user_of(uow, credentials, clock=services.clock)


def user_of(uow: UnitOfWork, credentials: Credentials, *, clock: Clock) -> User:
    """`current_user` in a unit of work the route holds open, so it reads on one connection."""
    user = None
    if credentials is not None and credentials.scheme.lower() == "bearer":
        user = accounts.identify(uow, credentials.credentials, clock=clock)
    if user is None:
        raise HTTPException(
            401, "a valid API token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    return user


Auth = Annotated[User, Depends(current_user)]


@dataclass(frozen=True)
class _Api:
    services: WebServices

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(self.services.intake.policy.categories.categories)

    def list_page(self, credentials: Credentials, query: TicketQuery, cursor: str | None) -> bytes:
        """The `GET /api/tickets` answer, as JSON: `schemas.TicketList`, checked by its tests
        and the schema fuzzing rather than validated again on every request."""
        # Every statement on its own: the count and the page need no common snapshot (a
        # ticket arriving between them is in one and not the other, as a moment later).
        new_uow = self.services.new_autocommit_uow or self.services.new_uow
        with new_uow() as uow:
            user_of(uow, credentials, clock=self.services.clock)
            if cursor:  # an empty one, as `cursor=` on a first page, is none
                query = replace(query, after=_position(cursor, query))
            page = uow.tickets.search(query)
        following = None if page.next is None else cursors.encode_cursor(page.next)
        answer = schemas.TicketList(
            total=page.total,
            total_exact=page.total_exact,
            limit=query.limit,
            offset=query.offset,
            next_cursor=following,
            items=[schemas.TicketOut.of(t) for t in page.tickets],
        )
        return answer.model_dump_json().encode()

    def ticket(self, ref: str) -> Ticket:
        with self.services.new_uow() as uow:
            ticket = uow.tickets.get_by_ref(ref.strip().lstrip("#").upper())
        if ticket is None or ticket.id is None:
            raise NotFound(f"no ticket {ref}")
        return ticket


def create_app(services: WebServices) -> FastAPI:
    app = FastAPI(
        title="supportbot",
        version="1",
        description="Tickets, drafts awaiting approval, triage, stats, health and metrics.",
    )
    api = _Api(services)
    app.state.services = services
    _install_error_handlers(app)

    @app.post("/api/tickets", response_model=schemas.CreatedOut, status_code=201)
    def create_ticket(
        body: schemas.TicketCreate,
        user: Auth,
        response: Response,
        idempotency_key: Annotated[
            str | None, Header(max_length=200, pattern=r"^[\x21-\x7e]+$")
        ] = None,
    ) -> schemas.CreatedOut:
        """Open a ticket through the same intake as email; a repeated `Idempotency-Key`
        (per user) returns the ticket created the first time."""
        if body.category is not None and body.category not in api.categories:
            raise field_error("category", f"unknown category; one of: {', '.join(api.categories)}")
        has_overrides = body.category is not None or body.priority is not None
        if has_overrides and not accounts.may_decide(user, services.approval):
            raise NotAuthorised(f"{user.actor} may not set category or priority")
        now = services.clock.now()
        key = f"{user.id}:{idempotency_key}" if idempotency_key else str(uuid.uuid4())
        raw = body.model_dump_json().encode()
        result = services.receive(
            InboundMessage(
                channel=Channel.API if body.source == "api" else Channel.WEB,
                raw=raw,
                received_at=now,
                external_id=f"api:{key}",
                sender_email=body.customer_email,
                sender_name=body.customer_name,
                subject=body.subject,
                text=body.message,
                full_text=body.message,
            )
        )
        if result.disposition not in _CREATED or result.ticket_id is None:
            response.status_code = 422 if result.disposition is not Disposition.QUARANTINED else 202
            return schemas.CreatedOut(
                disposition=result.disposition.value, quarantine_id=result.quarantine_id
            )
        policy = accounts.policy_for(user, services.approval)
        if result.disposition is Disposition.NEW_TICKET:
            if body.category is not None:
                ticket_actions.reclassify(
                    services.new_uow(),
                    ticket_id=result.ticket_id,
                    category=body.category,
                    categories=api.categories,
                    actor=user.actor,
                    policy=policy,
                    clock=services.clock,
                )
            if body.priority is not None:
                ticket_actions.set_priority(
                    services.new_uow(),
                    ticket_id=result.ticket_id,
                    priority=body.priority,
                    actor=user.actor,
                    policy=policy,
                    clock=services.clock,
                    sla=services.intake.policy.sla,
                )
            ticket_actions.record(
                services.new_uow(),
                action="ticket.created_via_api",
                ticket_id=result.ticket_id,
                actor=user.actor,
                clock=services.clock,
                detail={"idempotency_key": idempotency_key, "source": body.source},
            )
        else:
            response.status_code = 200
        with services.new_uow() as uow:
            ticket = uow.tickets.get(result.ticket_id)
        assert ticket is not None
        return schemas.CreatedOut(
            disposition=result.disposition.value, ticket=schemas.TicketOut.of(ticket)
        )

    @app.get("/api/tickets", response_model=schemas.TicketList)
    async def list_tickets(
        credentials: Credentials,
        status: TicketStatus | None = None,
        priority: Priority | None = None,
        category: Annotated[str | None, Query(max_length=64)] = None,
        assignee: Annotated[str | None, Query(max_length=200)] = None,
        customer: Annotated[str | None, Query(max_length=254, description="email")] = None,
        q: Annotated[str | None, Query(max_length=200, description="in the subject")] = None,
        sort: TicketSort = TicketSort.CREATED_AT,
        order: Literal["asc", "desc"] = "desc",
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[
            int, Query(ge=0, le=1_000_000, description="matches to skip; not with `cursor`")
        ] = 0,
        cursor: Annotated[
            str | None,
            Query(
                max_length=cursors.MAX_LENGTH,
                description="`next_cursor` of the previous page (same filters, sort and "
                "order); not with `offset`; empty or absent: the first page",
            ),
        ] = None,
    ) -> Response:
        """Tickets matching the filters, a page at a time. Page by `cursor` (keyset: each
        page starts after the previous page's last ticket, so a deep page costs what the
        first does and no ticket is skipped or repeated when tickets are added meanwhile)
        or by `offset`. Every page's `next_cursor` leads to the next one, null on the last.
        A cursor made for another `sort` or `order`, a malformed one, or one with an
        `offset` is a 422 naming `cursor`."""
        query = TicketQuery(
            status=status,
            priority=priority,
            category=category,
            assignee=assignee,
            customer_email=customer,
            text=q or None,
            sort=sort,
            descending=order == "desc",
            limit=limit,
            offset=offset,
        )
        # One trip to the thread pool for the token, the page and its JSON, on one
        # connection; FastAPI would otherwise make three (dependency, route, validation).
        body = await run_in_threadpool(api.list_page, credentials, query, cursor)
        return Response(body, media_type="application/json")

    @app.get("/api/tickets/{ref}", response_model=schemas.ConversationOut)
    def get_ticket(ref: str, user: Auth) -> schemas.ConversationOut:
        with services.new_uow() as uow:
            return schemas.ConversationOut.of(load_conversation(uow, ref))

    @app.patch("/api/tickets/{ref}", response_model=schemas.TicketOut)
    def patch_ticket(ref: str, body: schemas.TicketPatch, user: Auth) -> schemas.TicketOut:
        """Change status (open, pending, resolved, closed), priority, category or assignee
        (null unassigns). Everything is checked before anything changes."""
        given = body.model_fields_set
        if not given:
            raise field_error("body", "nothing to change")
        if "status" in given and body.status in (None, TicketStatus.NEW):
            raise field_error("status", "one of: open, pending, resolved, closed")
        if "category" in given and body.category not in api.categories:
            raise field_error("category", f"unknown category; one of: {', '.join(api.categories)}")
        if "priority" in given and body.priority is None:
            raise field_error("priority", "cannot be null")
        ticket = api.ticket(ref)
        assert ticket.id is not None
        tid, actor, clock = ticket.id, user.actor, services.clock
        policy = accounts.policy_for(user, services.approval)
        if "category" in given and body.category is not None:
            ticket_actions.reclassify(
                services.new_uow(),
                ticket_id=tid,
                category=body.category,
                categories=api.categories,
                actor=actor,
                policy=policy,
                clock=clock,
            )
        if "priority" in given and body.priority is not None:
            ticket_actions.set_priority(
                services.new_uow(),
                ticket_id=tid,
                priority=body.priority,
                actor=actor,
                policy=policy,
                clock=clock,
                sla=services.intake.policy.sla,
            )
        if "assignee" in given:
            ticket_actions.assign(
                services.new_uow(),
                ticket_id=tid,
                assignee=body.assignee,
                actor=actor,
                policy=policy,
                clock=clock,
            )
        if "status" in given and body.status is not None:
            ticket_actions.set_status(
                services.new_uow(),
                ticket_id=tid,
                status=body.status,
                actor=actor,
                policy=policy,
                clock=clock,
                sla=services.intake.policy.sla,
            )
        return schemas.TicketOut.of(api.ticket(ticket.ref))

    @app.post("/api/tickets/{ref}/notes", response_model=schemas.NoteOut, status_code=201)
    def add_note(ref: str, body: schemas.NoteCreate, user: Auth) -> schemas.NoteOut:
        """An internal note: never sent to the customer."""
        ticket = api.ticket(ref)
        assert ticket.id is not None
        note = ticket_actions.add_note(
            services.new_uow(),
            ticket_id=ticket.id,
            text=body.text,
            actor=user.actor,
            clock=services.clock,
        )
        return schemas.NoteOut(id=note.id, created_at=note.created_at)

    @app.post("/api/drafts/{draft_id}/approve", response_model=schemas.DecisionOut)
    def approve_draft(
        draft_id: DraftId, body: schemas.DraftApprove, user: Auth
    ) -> schemas.DecisionOut:
        """Approve the draft version you reviewed, with your edited text if any: the reply
        is queued in the outbox. 409 if it was decided already or superseded."""
        decided = approve_as(
            services, user, draft_id=draft_id, version=body.version, edited_text=body.text
        )
        outbox_id = decided.outbox.id if decided.outbox is not None else None
        return _decision(decided.outcome, decided.draft, outbox_id)

    @app.post("/api/drafts/{draft_id}/reject", response_model=schemas.DecisionOut)
    def reject_draft(
        draft_id: DraftId, body: schemas.DraftReject, user: Auth
    ) -> schemas.DecisionOut:
        decided = reject_as(
            services, user, draft_id=draft_id, version=body.version, reason=body.reason
        )
        return _decision(decided.outcome, decided.draft, None)

    @app.get("/api/stats", response_model=schemas.StatsOut)
    def stats(user: Auth, days: Annotated[int, Query(ge=1, le=366)] = 30) -> schemas.StatsOut:
        end = services.clock.now()
        start = end - timedelta(days=days)
        with services.new_uow() as uow:
            f = compute_figures(uow, start=start, end=end, details=False)  # counts only
        return schemas.StatsOut(
            start=start,
            end=end,
            days=days,
            new=f.new,
            resolved=f.resolved,
            open=f.open,
            average_new_per_day=round(f.new / days, 2),
            open_by_priority=f.backlog_by_priority,
            top_categories=dict(f.top_categories),
            first_response_median_min=f.first_response_median_min,
            first_response_p90_min=f.first_response_p90_min,
            resolution_median_min=f.resolution_median_min,
            resolution_p90_min=f.resolution_p90_min,
            sla_met=f.sla_met,
            sla_total=f.sla_total,
            sla_attainment=f.sla_attainment,
            drafts_approved=f.drafts_approved,
            drafts_edited=f.drafts_edited,
            drafts_rejected=f.drafts_rejected,
            quarantined=f.quarantined,
        )

    @app.post("/api/classify", response_model=schemas.ClassifyOut)
    def classify(body: schemas.ClassifyIn, user: Auth) -> schemas.ClassifyOut:
        """Triage a text as a new ticket would be, storing nothing."""
        result = run_triage(
            TriageInput(
                subject=body.subject,
                text=body.text,
                created_at=services.clock.now(),
                tier=body.tier,
            ),
            policy=services.intake.policy,
            models=services.intake.models,
        )
        return schemas.ClassifyOut(
            category=result.category,
            category_confidence=round(result.category_confidence, 3),
            priority=result.priority,
            priority_label=result.priority.label,
            priority_score=round(result.priority_score, 2),
            sentiment=result.sentiment,
            sentiment_score=round(result.sentiment_score, 3),
            language=result.language,
            first_response_due=result.sla.first_response_due,
            resolution_due=result.sla.resolution_due,
            signals=list(result.signals),
        )

    @app.get(
        "/health",
        response_model=schemas.HealthOut,
        responses={503: {"model": schemas.HealthOut}},
    )
    def health() -> JSONResponse:
        """200 when the database answers and no mailbox login fails; 503 otherwise."""
        mailboxes: dict[str, str] = {}
        try:
            with services.new_uow() as uow:
                for m in uow.mailboxes.list():
                    failing = m.auth_failures > 0 or m.last_error
                    mailboxes[m.name] = (m.last_error or "failing") if failing else "ok"
            database = "ok"
        except Exception as exc:  # the probe reports it; nothing else to do
            database = f"error: {type(exc).__name__}"
        is_ok = database == "ok" and all(v == "ok" for v in mailboxes.values())
        body = schemas.HealthOut(
            status="ok" if is_ok else "failing",
            database=database,
            mailboxes=mailboxes,
            slack="configured" if services.slack is not None else "off",
            llm="remote" if services.draft_pool is not None else "offline",
        )
        return JSONResponse(body.model_dump(), status_code=200 if is_ok else 503)

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(render_metrics(services.new_uow()), media_type=CONTENT_TYPE)

    install_webhooks(app, services)
    mount_dashboard(app, services)
    return app


def _position(cursor: str, query: TicketQuery) -> TicketPosition:
    """Where `cursor` says the page starts; a 422 naming it unless it fits `query`."""
    if query.offset:
        raise field_error("cursor", "give either cursor or offset, not both", where="query")
    try:
        position = cursors.decode_cursor(cursor, id_max=schemas.DB_INT_MAX)
    except cursors.BadCursor as exc:
        raise field_error("cursor", str(exc), where="query") from None
    if (position.sort, position.descending) != (query.sort, query.descending):
        order = "desc" if position.descending else "asc"
        raise field_error(
            "cursor", f"made for sort={position.sort.value}&order={order}", where="query"
        )
    return position


def _decision(outcome: Outcome, draft: Draft, outbox_id: int | None) -> schemas.DecisionOut:
    """The decision as the API answers it (channels.web.decisions made and showed it)."""
    if outcome is not Outcome.APPLIED:
        who = f" by {draft.decided_by}" if draft.decided_by else ""
        raise HTTPException(409, f"nothing changed: draft v{draft.version} is {draft.status}{who}")
    return schemas.DecisionOut(
        outcome=outcome.value, draft=schemas.DraftOut.of(draft), outbox_id=outbox_id
    )


def _install_error_handlers(app: FastAPI) -> None:
    """The core's errors, as HTTP: its messages are written for people and safe to show."""

    def handler(status: int) -> Callable[[Request, Exception], JSONResponse]:
        def handle(request: Request, exc: Exception) -> JSONResponse:
            return JSONResponse({"detail": str(exc)}, status_code=status)

        return handle

    app.add_exception_handler(NotFound, handler(404))
    app.add_exception_handler(NotAuthorised, handler(403))
    app.add_exception_handler(InvalidInput, handler(422))
