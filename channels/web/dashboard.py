"""The web dashboard: server-rendered pages where agents read tickets and decide on drafts.

`mount_dashboard` puts it under /dashboard as a small FastAPI app of its own (HTML errors, no
OpenAPI). Pages: login and logout; tickets with filters, search and pages; one ticket with
its conversation, triage, SLA clocks and the pending draft to approve, edit or reject;
analytics; the quarantine with Retry; mailbox health. Decisions go through
channels.web.decisions, the path the REST API takes (core.approval acting as `web:<login>`,
same policy); the core functions audit every change, and this module audits what only it
does (logins, logouts, retries asked for).

Safety: templates are rendered through the `Renderer` port (bot.rendering autoescapes every
*.html.j2, so customer text is always data); the pages carry no script at all and a
Content-Security-Policy that forbids any; the session is a signed cookie (HttpOnly,
SameSite=Lax, Secure when configured); every POST must repeat the session's CSRF token; and
failed logins are limited per login and per client address (channels.web.sessions).
Forms are read as application/x-www-form-urlencoded with the standard library, so the
dashboard needs no multipart parser.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from enum import StrEnum
from functools import cache
from typing import Annotated, Protocol, TypeVar
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from channels.web.decisions import Deciding, approve_as, reject_as
from channels.web.passwords import hash_password, verify_password
from channels.web.sessions import (
    COOKIE,
    LoginLimiter,
    Session,
    SessionCodec,
    SessionSettings,
    is_same_token,
    new_session,
    password_pin,
    session_key,
)
from channels.web.views import (
    BarChart,
    BreachRow,
    DraftView,
    MessageView,
    OutboxView,
    Pager,
    QuarantineRow,
    TicketRow,
    figure_rows,
    mailbox_rows,
    ticket_clocks,
)
from core import accounts
from core.approval import Outcome
from core.chart import draw_history
from core.digest import HISTORY_DAYS, compute_figures, history_points
from core.errors import InvalidInput, NotAuthorised, NotFound
from core.intake import IntakeContext, IntakeResult
from core.model import (
    AuditEvent,
    Disposition,
    Draft,
    Priority,
    QuarantineStatus,
    TicketQuery,
    TicketSort,
    TicketStatus,
    User,
)
from core.ports import Renderer
from core.queries import load_conversation
from core.queue import ACTIVE

log = logging.getLogger(__name__)

PREFIX = "/dashboard"
PAGE_SIZE = 25
BREACHES_SHOWN = 20  # on the analytics page, the first by due time; the rest are counted
TEXT_MAX = 100_000  # as the REST API's draft text
REASON_MAX = 2000
_FORM_MAX_BYTES = 512 * 1024
_FORM_MAX_FIELDS = 20
_LOGIN_MAX = 64
_PASSWORD_MAX = 1024
_SECURITY_HEADERS = {
    # No script anywhere, styles and images only from here, forms only to here.
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages hold customer data: keep them out of caches
}
_SORTS = {
    "newest": (TicketSort.CREATED_AT, True),
    "oldest": (TicketSort.CREATED_AT, False),
    "priority": (TicketSort.PRIORITY, False),
    "due": (TicketSort.RESOLUTION_DUE, False),
    "updated": (TicketSort.UPDATED_AT, True),
}
_E = TypeVar("_E", bound=StrEnum)


class DashboardSettings(Protocol):
    """The settings the dashboard reads (bot.settings.Settings has them)."""

    @property
    def web(self) -> SessionSettings: ...


class DashboardServices(Deciding, Protocol):
    """What the dashboard needs of the composition root (bot.bootstrap.Services)."""

    @property
    def intake(self) -> IntakeContext: ...
    @property
    def renderer(self) -> Renderer: ...
    @property
    def settings(self) -> DashboardSettings: ...
    @property
    def slack(self) -> object | None: ...
    @property
    def draft_pool(self) -> object | None: ...

    def retry(self, item_id: int) -> IntakeResult: ...


class _LoginRequired(Exception):
    """No valid session: pages send the browser to the login form."""


class _Refused(Exception):
    """A request refused before anything changed (bad CSRF token, too many logins…)."""

    def __init__(self, status: int, message: str, *, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class Form:
    """One urlencoded form; a repeated field keeps its first value."""

    fields: Mapping[str, str]

    def get(self, name: str) -> str:
        return self.fields.get(name, "")

    def number(self, name: str) -> int:
        value = self.get(name)
        if not (value.isascii() and value.isdigit()) or len(value) > 9:
            raise InvalidInput(f"{name}: a whole number is required")
        return int(value)


@dataclass(frozen=True)
class Me:
    """The signed-in user, as the page header and the decision forms need it."""

    login: str
    role: str
    actor: str
    may_decide: bool


def normalise_text(text: str) -> str:
    """Browsers send a textarea's line breaks as CRLF (HTML spec, form submission); the
    drafts use LF, and an unchanged text must not count as an edit."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def is_safe_next(target: str) -> bool:
    """Only our own pages: `next` must not send a fresh login to another site."""
    return target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target


async def read_form(request: Request) -> Form:
    """The form's fields; an empty body is an empty form (whose CSRF check then fails)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > _FORM_MAX_BYTES:
            raise _Refused(413, "The form is too large.")
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if body and kind != "application/x-www-form-urlencoded":
        raise _Refused(415, "Forms must be sent as application/x-www-form-urlencoded.")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, max_num_fields=_FORM_MAX_FIELDS
        )
    except (UnicodeDecodeError, ValueError):
        raise _Refused(400, "The form could not be read.") from None
    fields: dict[str, str] = {}
    for key, value in pairs:
        fields.setdefault(key, value)
    return Form(fields)


async def checked_form(request: Request) -> Form:
    """The form, once its CSRF token matches the session's; otherwise 403, nothing done."""
    form = await read_form(request)
    session: Session = request.state.session
    if not is_same_token(session.csrf, form.fields.get("csrf")):
        log.warning("dashboard: form refused, CSRF token missing or wrong (%s)", request.url.path)
        raise _Refused(
            403,
            "This form has expired or did not come from this site. Reload the page and try again.",
        )
    return form


CheckedForm = Annotated[Form, Depends(checked_form)]


def signed_in(request: Request) -> User | None:
    """The session's user while it is enabled and its password unchanged; else None."""
    session: Session = request.state.session
    if session.user_id is None:
        return None
    services: DashboardServices = request.app.state.services
    with services.new_uow() as uow:
        user = uow.users.get(session.user_id)
    if (
        user is None
        or user.disabled
        or user.login != session.login
        or not is_same_token(password_pin(user), session.pin)
    ):
        request.state.session_out = new_session()  # a dead session: forget it
        return None
    return user


def current_user(request: Request) -> User:
    user = signed_in(request)
    if user is None:
        raise _LoginRequired
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def _choice(kind: type[_E], value: str, name: str) -> _E | None:
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(v.value for v in kind)
        raise InvalidInput(f"{name}: one of {allowed}") from None


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@cache
def _decoy_hash() -> str:
    """A hash to verify against when the login does not exist, so a wrong login costs the
    same time as a wrong password and timing does not tell which logins exist."""
    return hash_password("decoy password, never a real one")


def mount_dashboard(app: FastAPI, services: DashboardServices) -> None:
    """Serve the dashboard under /dashboard, and send `/` there."""
    app.mount(PREFIX, build_dashboard(services))

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/tickets", status_code=307)


def build_dashboard(services: DashboardServices) -> FastAPI:
    web = services.settings.web
    codec = SessionCodec(
        session_key(web.session_secret, thread_secret=services.identity.thread_secret),
        max_age_seconds=max(60, round(web.session_hours * 3600)),
    )
    limiter = LoginLimiter(
        per_login=web.login_failures_per_login,
        per_address=web.login_failures_per_ip,
        window_seconds=web.login_window_seconds,
    )
    zone = ZoneInfo(services.intake.policy.sla.business_hours.timezone)
    categories = tuple(services.intake.policy.categories.categories)
    dash = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    dash.state.services = services  # for the module-level dependencies

    @dash.middleware("http")
    async def session_cookie(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        loaded = codec.loads(request.cookies.get(COOKIE))
        request.state.session = loaded or new_session()
        request.state.session_out = None if loaded else request.state.session
        response = await call_next(request)
        out: Session | None = request.state.session_out
        if out is not None:
            response.set_cookie(
                COOKIE,
                codec.dumps(out),
                max_age=codec.max_age_seconds,
                path=PREFIX,
                httponly=True,
                samesite="lax",
                secure=web.cookie_secure,
            )
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    # -- sessions and pages ------------------------------------------------------------------

    def current_session(request: Request) -> Session:
        out: Session | None = request.state.session_out
        session: Session = out if out is not None else request.state.session
        return session

    def flash(request: Request, notice: str) -> None:
        request.state.session_out = replace(current_session(request), notice=notice)

    def me(user: User | None) -> Me | None:
        if user is None:
            return None
        decides = accounts.may_decide(user, services.approval)
        return Me(user.login, user.role.value, user.actor, decides)

    def page(
        request: Request,
        template: str,
        *,
        title: str,
        user: User | None,
        nav: str = "",
        error: str = "",
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        **context: object,
    ) -> HTMLResponse:
        session = current_session(request)
        if session.notice:  # shown once
            request.state.session_out = replace(session, notice="")
        html = services.renderer.render(
            [f"web/{template}.html.j2"],
            {
                "base": PREFIX,
                "title": title,
                "nav": nav,
                "me": me(user),
                "csrf": session.csrf,
                "notice": session.notice,
                "error": error,
                **context,
            },
        )
        return HTMLResponse(html, status_code=status, headers=dict(headers or {}))

    def error_page(
        request: Request, status: int, message: str, headers: Mapping[str, str] | None = None
    ) -> HTMLResponse:
        return page(
            request,
            "error",
            title=f"Error {status}",
            user=None,
            error=message,
            status=status,
            headers=headers,
            code=status,
        )

    def audit(user: User, action: str, detail: dict[str, object]) -> None:
        with services.new_uow() as uow:
            at = services.clock.now()
            uow.audit.add(AuditEvent(user.actor, action, at, detail=json.dumps(detail)))
            uow.commit()

    # -- errors as pages ---------------------------------------------------------------------

    async def on_login_required(request: Request, exc: Exception) -> Response:
        target = PREFIX + "/login"
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method == "GET" and is_safe_next(wanted):
            target += "?" + urlencode({"next": wanted})
        return RedirectResponse(target, status_code=303)

    async def on_refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _Refused)
        return error_page(request, exc.status, str(exc), exc.headers)

    def core_error(status: int) -> Callable[[Request, Exception], Awaitable[Response]]:
        async def handle(request: Request, exc: Exception) -> Response:
            return error_page(request, status, str(exc))  # written for people, safe to show

        return handle

    async def on_invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        where = ", ".join(str(e.get("loc", ("?",))[-1]) for e in exc.errors())
        return error_page(request, 422, f"Invalid value for: {where}.")

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return error_page(request, exc.status_code, str(exc.detail), exc.headers)

    dash.add_exception_handler(_LoginRequired, on_login_required)
    dash.add_exception_handler(_Refused, on_refused)
    dash.add_exception_handler(NotFound, core_error(404))
    dash.add_exception_handler(NotAuthorised, core_error(403))
    dash.add_exception_handler(InvalidInput, core_error(422))
    dash.add_exception_handler(RequestValidationError, on_invalid_request)
    dash.add_exception_handler(StarletteHTTPException, on_http_error)

    # -- static ------------------------------------------------------------------------------

    @cache
    def stylesheet() -> str:
        return services.renderer.render(["web/dashboard.css.j2"], {})

    @dash.get("/static/dashboard.css")
    def css() -> Response:
        return Response(
            stylesheet(), media_type="text/css", headers={"Cache-Control": "public, max-age=3600"}
        )

    @dash.get("/")
    def index() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/tickets", status_code=303)

    # -- login and logout --------------------------------------------------------------------

    @dash.get("/login")
    def login_form(
        request: Request, then: Annotated[str, Query(alias="next", max_length=500)] = ""
    ) -> Response:
        if signed_in(request) is not None:
            return RedirectResponse(f"{PREFIX}/tickets", status_code=303)
        wanted = then if is_safe_next(then) else ""
        return page(request, "login", title="Sign in", user=None, next=wanted, login="")

    @dash.post("/login")
    def login(request: Request, form: CheckedForm) -> Response:
        name = form.get("login").strip().lower()[:_LOGIN_MAX]
        password = form.get("password")[:_PASSWORD_MAX]
        wanted = form.get("next") if is_safe_next(form.get("next")) else ""
        address = _client_address(request)
        wait = limiter.retry_after(login=name, address=address)
        if wait is not None:
            log.warning("dashboard: login refused, too many failures (%s)", name)
            raise _Refused(
                429,
                f"Too many failed sign-ins. Try again in {wait} seconds.",
                headers={"Retry-After": str(wait)},
            )
        with services.new_uow() as uow:
            user = uow.users.get_by_login(name) if name else None
        if user is None or user.disabled:
            verify_password(_decoy_hash(), password)
            user = None
        elif not verify_password(user.password_hash, password):
            user = None
        if user is None:
            limiter.record_failure(login=name, address=address)
            log.info("dashboard: failed sign-in for %r from %s", name, address)
            return page(
                request,
                "login",
                title="Sign in",
                user=None,
                error="Wrong login or password.",
                status=401,
                next=wanted,
                login=name,
            )
        limiter.record_success(login=name)
        request.state.session_out = new_session(user)  # new CSRF token too: no fixation
        audit(user, "user.login", {"address": address})
        return RedirectResponse(wanted or f"{PREFIX}/tickets", status_code=303)

    @dash.post("/logout")
    def logout(request: Request, form: CheckedForm) -> Response:
        user = signed_in(request)
        if user is not None:
            audit(user, "user.logout", {})
        request.state.session_out = replace(new_session(), notice="Signed out.")
        return RedirectResponse(f"{PREFIX}/login", status_code=303)

    # -- tickets -----------------------------------------------------------------------------

    @dash.get("/tickets")
    def tickets(
        request: Request,
        user: CurrentUser,
        status: Annotated[str, Query(max_length=20)] = "",
        priority: Annotated[str, Query(max_length=5)] = "",
        category: Annotated[str, Query(max_length=64)] = "",
        assignee: Annotated[str, Query(max_length=200)] = "",
        q: Annotated[str, Query(max_length=200)] = "",
        sort: Annotated[str, Query(max_length=20)] = "newest",
        page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
    ) -> HTMLResponse:
        if category and category not in categories:
            raise InvalidInput(f"category: one of {', '.join(categories)}")
        if sort not in _SORTS:
            raise InvalidInput(f"sort: one of {', '.join(_SORTS)}")
        order, descending = _SORTS[sort]
        query = TicketQuery(
            status=_choice(TicketStatus, status, "status"),
            priority=_choice(Priority, priority, "priority"),
            category=category or None,
            assignee=assignee.strip() or None,
            text=q.strip() or None,
            sort=order,
            descending=descending,
            limit=PAGE_SIZE,
            offset=(page_no - 1) * PAGE_SIZE,
        )
        with services.new_uow() as uow:
            found = uow.tickets.search(query)
        now = services.clock.now()
        filters = {
            "status": status,
            "priority": priority,
            "category": category,
            "assignee": assignee.strip(),
            "q": q.strip(),
            "sort": sort if sort != "newest" else "",
        }
        kept = {k: v for k, v in filters.items() if v}
        pager = Pager.of(found, page_no=page_no, page_size=PAGE_SIZE)

        def link(n: int) -> str:
            return f"{PREFIX}/tickets?" + urlencode({**kept, "page": n})

        return page(
            request,
            "tickets",
            title="Tickets",
            user=user,
            nav="tickets",
            rows=[TicketRow.of(t, now=now, zone=zone) for t in found.tickets],
            pager=pager,
            prev_link=link(page_no - 1) if page_no > 1 else "",
            next_link=link(page_no + 1) if pager.has_next else "",
            filters=filters,
            statuses=[s.value for s in TicketStatus],
            priorities=[(p.value, p.label) for p in Priority],
            categories=categories,
            sorts=list(_SORTS),
            mine_link=f"{PREFIX}/tickets?" + urlencode({"assignee": user.actor}),
        )

    def ticket_page(
        request: Request, user: User, ref: str, *, error: str = "", status: int = 200
    ) -> HTMLResponse:
        with services.new_uow() as uow:
            conversation = load_conversation(uow, ref)
            ticket = conversation.ticket
            assert ticket.id is not None
            decisions = {d.id: uow.drafts.list_decisions(d.id) for d in conversation.drafts if d.id}
            outbox = uow.outbox.list_for_ticket(ticket.id)
        now = services.clock.now()
        drafts = [
            DraftView.of(d, decisions.get(d.id or 0, []), zone=zone) for d in conversation.drafts
        ]
        latest = drafts[-1] if drafts else None
        customer = conversation.customer
        return page(
            request,
            "ticket",
            title=f"{ticket.ref}: {ticket.subject}",
            user=user,
            nav="tickets",
            error=error,
            status=status,
            ticket=TicketRow.of(ticket, now=now, zone=zone),
            confidence=round(100 * ticket.category_confidence),
            priority_score=round(ticket.priority_score, 1),
            sentiment_score=round(ticket.sentiment_score, 2),
            customer=customer,
            clocks=ticket_clocks(ticket, now=now, zone=zone),
            messages=[MessageView.of(m, zone=zone) for m in conversation.messages],
            drafts=drafts,
            pending=latest if latest is not None and latest.is_pending else None,
            outbox=[OutboxView.of(item, zone=zone) for item in outbox],
        )

    @dash.get("/tickets/{ref}")
    def ticket(request: Request, ref: str, user: CurrentUser) -> HTMLResponse:
        return ticket_page(request, user, ref)

    def ticket_ref_of(draft_id: int) -> str:
        with services.new_uow() as uow:
            draft = uow.drafts.get(draft_id)
            ticket = uow.tickets.get(draft.ticket_id) if draft is not None else None
        if ticket is None:
            raise NotFound(f"no draft {draft_id}")
        return ticket.ref

    def not_changed(draft: Draft) -> str:
        who = f" by {draft.decided_by}" if draft.decided_by else ""
        return f"Nothing changed: draft v{draft.version} is {draft.status}{who}."

    @dash.post("/drafts/{draft_id}/approve")
    def approve_draft(
        request: Request, draft_id: int, user: CurrentUser, form: CheckedForm
    ) -> Response:
        """Approve as drafted, or (with a `text` field, from the edit form) as edited."""
        ref = ticket_ref_of(draft_id)
        edited = normalise_text(form.get("text")) if "text" in form.fields else None
        try:
            if edited is not None and len(edited) > TEXT_MAX:
                raise InvalidInput(f"the reply is longer than {TEXT_MAX} characters")
            decided = approve_as(
                services,
                user,
                draft_id=draft_id,
                version=form.number("version"),
                edited_text=edited,
            )
        except (NotAuthorised, InvalidInput) as exc:
            code = 403 if isinstance(exc, NotAuthorised) else 422
            return ticket_page(request, user, ref, error=str(exc), status=code)
        if decided.outcome is not Outcome.APPLIED:
            return ticket_page(request, user, ref, error=not_changed(decided.draft), status=409)
        how = "edited and approved" if decided.draft.status == "edited" else "approved"
        flash(request, f"Draft v{decided.draft.version} {how}: the reply is queued for sending.")
        return RedirectResponse(f"{PREFIX}/tickets/{ref}", status_code=303)

    @dash.post("/drafts/{draft_id}/reject")
    def reject_draft(
        request: Request, draft_id: int, user: CurrentUser, form: CheckedForm
    ) -> Response:
        ref = ticket_ref_of(draft_id)
        reason = form.get("reason").strip()
        try:
            if len(reason) > REASON_MAX:
                raise InvalidInput(f"the reason is longer than {REASON_MAX} characters")
            decided = reject_as(
                services, user, draft_id=draft_id, version=form.number("version"), reason=reason
            )
        except (NotAuthorised, InvalidInput) as exc:
            code = 403 if isinstance(exc, NotAuthorised) else 422
            return ticket_page(request, user, ref, error=str(exc), status=code)
        if decided.outcome is not Outcome.APPLIED:
            return ticket_page(request, user, ref, error=not_changed(decided.draft), status=409)
        flash(request, f"Draft v{decided.draft.version} rejected; nothing was sent.")
        return RedirectResponse(f"{PREFIX}/tickets/{ref}", status_code=303)

    # -- analytics ---------------------------------------------------------------------------

    @dash.get("/analytics")
    def analytics(
        request: Request, user: CurrentUser, days: Annotated[int, Query(ge=1, le=366)] = 30
    ) -> HTMLResponse:
        end = services.clock.now()
        with services.new_uow() as uow:
            # With details: the page lists SLA breaches and the unhappiest open tickets, which
            # `details=False` (counts only, as /api/stats asks) would leave out.
            f = compute_figures(
                uow, start=end - timedelta(days=days), end=end, breach_limit=BREACHES_SHOWN
            )
        by_priority = {f"{p} {Priority(p).label}": n for p, n in f.backlog_by_priority.items()}
        decided = {
            "approved": f.drafts_approved,
            "edited": f.drafts_edited,
            "rejected": f.drafts_rejected,
        }
        return page(
            request,
            "analytics",
            title="Analytics",
            user=user,
            nav="analytics",
            days=days,
            spans=(1, 7, 30, 90),
            history_days=HISTORY_DAYS,
            figures=figure_rows(f, days=days),
            charts=[
                BarChart.of("Open by priority", by_priority),
                BarChart.of("Open by age", f.backlog_by_age),
                BarChart.of("New tickets by category", f.top_categories),
                BarChart.of("Draft decisions", decided),
            ],
            breaches=[BreachRow.of(b, zone=zone) for b in f.breaches],
            breach_count=f.breach_count,
            unhappy=[TicketRow.of(t, now=end, zone=zone) for t in f.unhappy],
        )

    @dash.get("/analytics/chart.png")
    def history_chart(user: CurrentUser) -> Response:
        """The digest's chart of the last HISTORY_DAYS days (core.chart's PNG encoder), from
        the per-day counts the database aggregates (`Reports.history`), as the digest does:
        loading every ticket alive in the span took seconds at a million tickets."""
        end = services.clock.now()
        with services.new_uow() as uow:
            counts = uow.reports.history(end, days=HISTORY_DAYS, open_statuses=ACTIVE)
        png = draw_history(history_points(counts, zone))
        return Response(png, media_type="image/png")

    # -- quarantine --------------------------------------------------------------------------

    @dash.get("/quarantine")
    def quarantine(
        request: Request, user: CurrentUser, show_all: Annotated[bool, Query(alias="all")] = False
    ) -> HTMLResponse:
        with services.new_uow() as uow:
            items = uow.quarantine.list(status=None if show_all else QuarantineStatus.HELD)
        return page(
            request,
            "quarantine",
            title="Quarantine",
            user=user,
            nav="quarantine",
            show_all=show_all,
            rows=[QuarantineRow.of(q, zone=zone) for q in items if q.id is not None],
        )

    @dash.post("/quarantine/{item_id}/retry")
    def retry(request: Request, item_id: int, user: CurrentUser, form: CheckedForm) -> Response:
        """Run a held message through intake again, as `supportbot quarantine retry` does;
        approvers only, as the Retry button in Slack."""
        if not accounts.may_decide(user, services.approval):
            raise NotAuthorised(f"{user.actor} may not retry quarantined messages")
        with services.new_uow() as uow:
            found = uow.quarantine.get(item_id) is not None
        if not found:
            raise NotFound(f"no quarantined message {item_id}")
        audit(user, "quarantine.retried", {"quarantine_id": item_id})
        result = services.retry(item_id)
        if result.disposition is Disposition.QUARANTINED:
            flash(request, f"Message {item_id} is still held: {result.reason}")
        else:
            what = result.disposition.value.replace("_", " ")
            ref = f", ticket {result.ticket_ref}" if result.ticket_ref else ""
            flash(request, f"Message {item_id} reprocessed: {what}{ref}.")
        return RedirectResponse(f"{PREFIX}/quarantine", status_code=303)

    # -- health ------------------------------------------------------------------------------

    @dash.get("/health")
    def health(request: Request, user: CurrentUser) -> HTMLResponse:
        """Mailbox health, the quarantine and the outbox, from what /health and `supportbot
        status` read; the page itself is 200 even when something fails."""
        states, held, outbox, database = [], 0, {}, "ok"
        try:
            with services.new_uow() as uow:
                states = uow.mailboxes.list()
                held = len(uow.quarantine.list(status=QuarantineStatus.HELD))
                outbox = uow.reports.outbox_counts()
        except Exception as exc:  # the page reports it; nothing else to do
            database = f"error: {type(exc).__name__}"
        rows = mailbox_rows(states, zone=zone)
        return page(
            request,
            "health",
            title="Health",
            user=user,
            nav="health",
            database=database,
            is_ok=database == "ok" and all(r.is_ok for r in rows),
            mailboxes=rows,
            quarantined=held,
            outbox_pending=outbox.get("pending", 0),
            outbox_failed=outbox.get("failed", 0),
            slack="configured" if services.slack is not None else "off",
            llm="remote model" if services.draft_pool is not None else "offline templates",
        )

    return dash
