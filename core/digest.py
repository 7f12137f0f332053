"""The managers' digest: figures for a period, and when each manager's digest is due.

Figures come from report queries (`uow.reports`) that aggregate in the database, plus the
quarantine and mailbox states; `summarize` and `history_from` compute the same in Python from
the tickets, as the reference the SQL is tested against. Scheduling is ours, not
APScheduler's (DESIGN §6): for each manager the ticker enqueues `digest:<user>:<local date>`
at the local send time, computed in the manager's zone and stored in UTC, so DST moves
nothing and a stopped process sends late, once, on restart.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from core.chart import DayPoint, draw_history
from core.model import Breach as Breach  # re-exported: part of the digest's figures
from core.model import (
    DayCounts,
    PeriodQuery,
    PeriodReport,
    Priority,
    QuarantineStatus,
    ScheduledAction,
    Ticket,
    TicketStatus,
)
from core.ports import Clock, Renderer, UnitOfWork
from core.triage.sla import _first_instant_showing as first_instant_showing

DIGEST = "digest"
DELIVERIES = ("dm", "channel", "email")
LATE_AFTER = timedelta(minutes=5)  # later than this, the digest says it is delayed
HISTORY_DAYS = 14  # the chart's span
CHART_CID = "chart.digest@supportbot"  # the HTML's <img src="cid:…">, the email's Content-ID
AGE_BUCKETS = (
    (timedelta(days=1), "< 1 d"),
    (timedelta(days=3), "1–3 d"),
    (timedelta(days=7), "3–7 d"),
)
_OPEN = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING)


@dataclass(frozen=True)
class Manager:
    """One `[[managers]]` entry: who gets a digest, when (local time) and how."""

    slack_user_id: str
    timezone: str = "UTC"
    send_at: str = "08:00"  # local HH:MM
    delivery: tuple[str, ...] = ("dm",)
    email: str = ""
    weekly: bool = False  # also a 7-day digest on Monday mornings

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)  # raises for an unknown zone
        hour, _, minute = self.send_at.partition(":")
        if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60):
            raise ValueError(f"send_at: {self.send_at!r} is not HH:MM")
        unknown = set(self.delivery) - set(DELIVERIES)
        if unknown:
            raise ValueError(f"delivery: unknown {sorted(unknown)}; use {', '.join(DELIVERIES)}")
        if "email" in self.delivery and not self.email:
            raise ValueError("delivery includes email: set email")


# -- scheduling ----------------------------------------------------------------------------------


def local_send_time(manager: Manager, day: date) -> datetime:
    """`send_at` on local `day`, in UTC. A time the clock skips (spring-forward) becomes the
    transition, an ambiguous one (fall-back) its first occurrence (as the SLA calendar does)."""
    hour, minute = (int(p) for p in manager.send_at.split(":"))
    wall = datetime(day.year, day.month, day.day, hour, minute)
    return first_instant_showing(wall, ZoneInfo(manager.timezone))


def digest_actions(manager: Manager, *, now: datetime) -> list[ScheduledAction]:
    """Today's and tomorrow's digests (local days): enqueued with `add_if_absent` at every
    tick, so a row exists before its time and a process down at that time sends it late."""
    today = now.astimezone(ZoneInfo(manager.timezone)).date()
    actions = []
    for day in (today, today + timedelta(days=1)):
        actions.append(_action(manager, day, days=1))
        if manager.weekly and day.weekday() == 0:
            actions.append(_action(manager, day, days=7))
    return actions


def enqueue_digests(uow: UnitOfWork, managers: Sequence[Manager], *, now: datetime) -> int:
    with uow:
        added = sum(
            uow.actions.add_if_absent(a) for m in managers for a in digest_actions(m, now=now)
        )
        uow.commit()
    return added


def _action(manager: Manager, day: date, *, days: int) -> ScheduledAction:
    prefix = "digest" if days == 1 else "digest-weekly"
    payload = {"user": manager.slack_user_id, "day": day.isoformat(), "days": days}
    return ScheduledAction(
        kind=DIGEST,
        idem_key=f"{prefix}:{manager.slack_user_id}:{day.isoformat()}",
        due_at=local_send_time(manager, day),
        payload=json.dumps(payload),
    )


def delay_note(manager: Manager, *, scheduled: datetime, sent: datetime) -> str | None:
    """ "delayed: scheduled 08:00, sent 08:47" (local times) when noticeably late."""
    if sent - scheduled <= LATE_AFTER:
        return None
    zone = ZoneInfo(manager.timezone)
    fmt = (
        "%H:%M"
        if scheduled.astimezone(zone).date() == sent.astimezone(zone).date()
        else ("%Y-%m-%d %H:%M")
    )
    return (
        f"delayed: scheduled {scheduled.astimezone(zone):%H:%M}, "
        f"sent {sent.astimezone(zone).strftime(fmt)}"
    )


# -- figures -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestFigures:
    start: datetime
    end: datetime
    new: int
    resolved: int
    open: int
    backlog_by_priority: dict[str, int]
    backlog_by_age: dict[str, int]
    first_response_median_min: float | None
    first_response_p90_min: float | None
    resolution_median_min: float | None
    resolution_p90_min: float | None
    sla_met: int
    sla_total: int
    breaches: tuple[Breach, ...]
    drafts_approved: int
    drafts_edited: int
    drafts_rejected: int
    top_categories: tuple[tuple[str, int], ...]
    unhappy: tuple[Ticket, ...]
    quarantined: int
    mailboxes: tuple[tuple[str, str], ...]  # (name, "ok" or the problem)
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def sla_attainment(self) -> float | None:
        return None if self.sla_total == 0 else self.sla_met / self.sla_total

    @property
    def breach_count(self) -> int:
        """All breaches of the period; `breaches` may list only the first of them."""
        return self.sla_total - self.sla_met

    @property
    def decisions(self) -> int:
        return self.drafts_approved + self.drafts_edited + self.drafts_rejected


PERCENTILES = (0.5, 0.9)  # median and p90 of response and resolution times
TOP_CATEGORIES = 5
UNHAPPY_SENTIMENT = 4  # open tickets at least this unhappy (1–5) are listed …
UNHAPPY_LIMIT = 5  # … at most this many
_OLDEST = "> 7 d"  # the age bucket past the last limit


DIGEST_BREACHES = 10  # breaches a digest lists; it counts the rest


def period_query(
    start: datetime, end: datetime, *, details: bool = True, breach_limit: int | None = None
) -> PeriodQuery:
    """The digest's questions about [start, end)."""
    return PeriodQuery(
        start=start,
        end=end,
        open_statuses=_OPEN,
        age_limits=tuple(limit for limit, _ in AGE_BUCKETS),
        shares=PERCENTILES,
        top_categories=TOP_CATEGORIES,
        unhappy_sentiment=UNHAPPY_SENTIMENT,
        unhappy_limit=UNHAPPY_LIMIT,
        details=details,
        breach_limit=breach_limit,
    )


def compute_figures(
    uow: UnitOfWork,
    *,
    start: datetime,
    end: datetime,
    details: bool = True,
    breach_limit: int | None = None,
) -> DigestFigures:
    """The period [start, end): run inside an open unit of work. The database aggregates
    (`Reports.period`): loading the period's tickets took seconds at a million tickets.
    Without `details` the figures list no breaches and no unhappy tickets, for callers that
    show counts only: a month of a big store has thousands of breaches; `breach_limit`
    lists only the first breaches, for callers that show a few."""
    query = period_query(start, end, details=details, breach_limit=breach_limit)
    report = uow.reports.period(query)
    decisions = uow.reports.decision_counts(start, end)
    held = len(uow.quarantine.list(status=QuarantineStatus.HELD))
    mailboxes = tuple(
        (m.name, "ok" if not m.last_error and not m.auth_failures else (m.last_error or "failing"))
        for m in uow.mailboxes.list()
    )
    return _figures(report, decisions, start=start, end=end, quarantined=held, mailboxes=mailboxes)


def figures_from(
    tickets: Iterable[Ticket],
    decisions: dict[str, int],
    *,
    start: datetime,
    end: datetime,
    quarantined: int = 0,
    mailboxes: tuple[tuple[str, str], ...] = (),
) -> DigestFigures:
    """The same figures from the period's alive tickets, computed here (`summarize`)."""
    report = summarize(tickets, period_query(start, end))
    return _figures(
        report, decisions, start=start, end=end, quarantined=quarantined, mailboxes=mailboxes
    )


def _figures(
    report: PeriodReport,
    decisions: dict[str, int],
    *,
    start: datetime,
    end: datetime,
    quarantined: int,
    mailboxes: tuple[tuple[str, str], ...],
) -> DigestFigures:
    frt_median, frt_p90 = report.first_response_minutes
    rt_median, rt_p90 = report.resolution_minutes
    labels = [label for _, label in AGE_BUCKETS] + [_OLDEST]
    return DigestFigures(
        start=start,
        end=end,
        new=report.new,
        resolved=report.resolved,
        open=sum(report.open_by_priority.values()),
        backlog_by_priority=dict(report.open_by_priority),
        backlog_by_age=dict(zip(labels, report.open_by_age, strict=True)),
        first_response_median_min=frt_median,
        first_response_p90_min=frt_p90,
        resolution_median_min=rt_median,
        resolution_p90_min=rt_p90,
        sla_met=report.sla_met,
        sla_total=report.sla_total,
        breaches=report.breaches,
        drafts_approved=decisions.get("approved", 0),
        drafts_edited=decisions.get("edited", 0),
        drafts_rejected=decisions.get("rejected", 0),
        top_categories=report.top_categories,
        unhappy=report.unhappy,
        quarantined=quarantined,
        mailboxes=mailboxes,
    )


def summarize(tickets: Iterable[Ticket], query: PeriodQuery) -> PeriodReport:
    """`Reports.period` computed in Python from the alive tickets (`tickets_alive`): the
    reference the SQL is checked against. Ties keep the order of `tickets`."""
    start, end = query.start, query.end

    def within(at: datetime | None) -> bool:
        return at is not None and start <= at < end

    tickets = list(tickets)
    new = [t for t in tickets if within(t.created_at)]
    resolved = [t for t in tickets if within(t.resolved_at)]
    still_open = [
        t
        for t in tickets
        if t.status in query.open_statuses and (t.resolved_at is None or t.resolved_at >= end)
    ]
    by_priority = {p.value: 0 for p in Priority}
    by_age = [0] * (len(query.age_limits) + 1)
    for t in still_open:
        by_priority[t.priority.value] += 1
        age = end - t.created_at
        by_age[next((n for n, limit in enumerate(query.age_limits) if age < limit), -1)] += 1
    responded = [t for t in tickets if within(t.first_responded_at)]
    frt = [_minutes(t.first_responded_at, t.created_at) for t in responded]
    rt = [_minutes(t.resolved_at, t.created_at) for t in resolved]

    met = total = 0
    breaches: list[Breach] = []
    for t in tickets:
        for clock, due, done in (
            ("first response", t.first_response_due, t.first_responded_at),
            ("resolution", t.resolution_due, t.resolved_at),
        ):
            if due is None:
                continue
            if done is not None and within(done):
                total += 1
                if done <= due:
                    met += 1
                else:
                    breaches.append(Breach(t.ref, t.subject, clock, due, done))
            elif done is None and within(due):  # fell due in the period, still not done
                total += 1
                breaches.append(Breach(t.ref, t.subject, clock, due, None))
    categories = Counter(t.category for t in new).most_common(query.top_categories)
    unhappy = sorted(
        (t for t in still_open if t.sentiment >= query.unhappy_sentiment),
        key=lambda t: (-t.sentiment, t.sentiment_score, t.created_at),
    )[: query.unhappy_limit]
    return PeriodReport(
        new=len(new),
        resolved=len(resolved),
        open_by_priority=by_priority,
        open_by_age=tuple(by_age),
        first_response_minutes=tuple(_percentile(frt, share) for share in query.shares),
        resolution_minutes=tuple(_percentile(rt, share) for share in query.shares),
        sla_met=met,
        sla_total=total,
        breaches=(
            tuple(sorted(breaches, key=lambda b: b.due)[: query.breach_limit])
            if query.details
            else ()
        ),
        top_categories=tuple(categories),
        unhappy=tuple(unhappy) if query.details else (),
    )


def _minutes(later: datetime | None, earlier: datetime) -> float:
    assert later is not None
    return (later - earlier).total_seconds() / 60


def _percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (the value at rank ⌈share·n⌉): always an observed time."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


# -- rendering and running -----------------------------------------------------------------------


def daily_history(
    tickets: Iterable[Ticket], *, end: datetime, zone: ZoneInfo, days: int = HISTORY_DAYS
) -> tuple[DayPoint, ...]:
    """The `days` 24-hour periods before `end`, oldest first: tickets created in each, open
    at its end (as they were then: resolved later counts as open) and SLA breaches in it."""
    return history_points(history_from(tickets, end=end, days=days, open_statuses=_OPEN), zone)


def history_points(counts: Sequence[DayCounts], zone: ZoneInfo) -> tuple[DayPoint, ...]:
    """The chart's points, each day named by its start's date in the manager's zone."""
    return tuple(
        DayPoint(
            day=c.start.astimezone(zone).date(), new=c.new, backlog=c.backlog, breaches=c.breaches
        )
        for c in counts
    )


def history_from(
    tickets: Iterable[Ticket], *, end: datetime, days: int, open_statuses: Sequence[TicketStatus]
) -> list[DayCounts]:
    """`Reports.history` computed in Python from the span's alive tickets: the reference."""
    tickets = list(tickets)
    counts = []
    for n in range(days, 0, -1):
        start, stop = end - n * timedelta(days=1), end - (n - 1) * timedelta(days=1)
        alive = [
            t
            for t in tickets
            if t.created_at < stop and (t.resolved_at is None or t.resolved_at >= start)
        ]
        backlog = sum(
            1
            for t in alive
            if (t.resolved_at is not None and t.resolved_at >= stop)
            or (t.resolved_at is None and t.status in open_statuses)
        )
        report = summarize(alive, period_query(start, stop))
        counts.append(
            DayCounts(start, new=report.new, backlog=backlog, breaches=len(report.breaches))
        )
    return counts


@dataclass(frozen=True)
class RenderedDigest:
    title: str
    text: str  # Slack mrkdwn, also the plain-text part of an email
    html: str  # refers to the chart as cid:CHART_CID when there is one
    chart_png: bytes = b""  # the last HISTORY_DAYS days; attached inline to the email


def render_digest(
    figures: DigestFigures,
    *,
    manager: Manager,
    renderer: Renderer,
    note: str | None = None,
    history: Sequence[DayPoint] = (),
) -> RenderedDigest:
    zone = ZoneInfo(manager.timezone)
    days = round((figures.end - figures.start) / timedelta(days=1))
    kind = "Weekly" if days > 1 else "Daily"
    title = f"{kind} support digest, {figures.end.astimezone(zone):%a %d %b %Y}"
    chart = draw_history(history) if history else b""
    context = {
        "f": figures,
        "title": title,
        "note": note,
        "zone": zone,
        "days": days,
        "history": list(history),
        "chart_cid": CHART_CID if chart else "",
    }
    return RenderedDigest(
        title=title,
        text=renderer.render(["digest/digest.txt.j2"], context),
        html=renderer.render(["digest/digest.html.j2"], context),
        chart_png=chart,
    )


def prepare_digest(
    new_uow: UnitOfWork,
    manager: Manager,
    *,
    renderer: Renderer,
    clock: Clock,
    days: int = 1,
    scheduled: datetime | None = None,
) -> RenderedDigest:
    """The digest for the `days` before now (or before `scheduled`, its planned time), with
    the chart of the HISTORY_DAYS days before it."""
    now = clock.now()
    end = scheduled or now
    zone = ZoneInfo(manager.timezone)
    with new_uow as uow:
        figures = compute_figures(
            uow, start=end - timedelta(days=days), end=end, breach_limit=DIGEST_BREACHES
        )
        counts = uow.reports.history(end, days=HISTORY_DAYS, open_statuses=_OPEN)
    history = history_points(counts, zone)
    note = delay_note(manager, scheduled=scheduled, sent=now) if scheduled else None
    return render_digest(figures, manager=manager, renderer=renderer, note=note, history=history)
