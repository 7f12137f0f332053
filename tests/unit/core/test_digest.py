"""The managers' digest: figures against a hand-computed fixture, DST-safe send times, and a
process stopped across the send time sending once, late, saying so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import time_machine

from bot.digests import digest_blocks
from bot.rendering import JinjaRenderer
from core.actions import sweep
from core.clock import SystemClock
from core.digest import (
    DIGEST,
    Manager,
    RenderedDigest,
    daily_history,
    digest_actions,
    enqueue_digests,
    figures_from,
    local_send_time,
    prepare_digest,
    render_digest,
)
from core.model import Channel, Priority, ScheduledAction, Ticket, TicketStatus
from tests.fakes import FakeStore

END = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)  # 08:00 in Berlin
START = END - timedelta(days=1)
BERLIN = Manager(slack_user_id="U1", timezone="Europe/Berlin", send_at="08:00")


def _t(n: int, created_h: float, **fields: object) -> Ticket:
    created = START + timedelta(hours=created_h)
    return Ticket(
        **{  # type: ignore[arg-type]
            "subject": f"ticket {n}",
            "customer_id": 1,
            "channel": Channel.EMAIL,
            "created_at": created,
            "updated_at": created,
            "id": n,
            "ref": f"T{n}",
            "status": TicketStatus.OPEN,
            **fields,
        }
    )


def test_figures_match_the_hand_computed_fixture() -> None:
    h = timedelta(hours=1)
    tickets = [
        # 1: new, answered after 30 min (due 1 h: met), resolved after 2 h (due 8 h: met).
        _t(1, 1, category="billing", status=TicketStatus.RESOLVED, first_response_due=START + 2 * h,
           first_responded_at=START + 1.5 * h, resolution_due=START + 9 * h,
           resolved_at=START + 3 * h),
        # 2: new, answered after 3 h (due 1 h: breach), still open, angry.
        _t(2, 2, category="billing", priority=Priority.P1, first_response_due=START + 3 * h,
           first_responded_at=START + 5 * h, sentiment=5, sentiment_score=-0.9),
        # 3: new, not answered, first response fell due in the period (breach, open).
        _t(3, 10, category="technical", priority=Priority.P0, first_response_due=START + 11 * h,
           sentiment=4, sentiment_score=-0.4),
        # 4: from 5 days ago, resolved in the period after 5 days (due 7 d: met), response
        # answered 4 d ago (outside the period: not counted).
        _t(4, -96, category="account", status=TicketStatus.RESOLVED,
           first_responded_at=START - 90 * h, resolution_due=START + 48 * h,
           resolved_at=START + 20 * h),
        # 5: from 10 days ago, still open, pending on the customer.
        _t(5, -240, status=TicketStatus.PENDING),
    ]  # fmt: skip
    decisions = {"approved": 6, "edited": 3, "rejected": 1}
    f = figures_from(
        tickets, decisions, start=START, end=END, quarantined=2, mailboxes=(("support", "ok"),)
    )
    assert (f.new, f.resolved, f.open) == (3, 2, 3)
    assert f.backlog_by_priority == {"P0": 1, "P1": 1, "P2": 0, "P3": 1}
    assert f.backlog_by_age == {"< 1 d": 2, "1–3 d": 0, "3–7 d": 0, "> 7 d": 1}
    # First responses in the period: 30 min and 180 min; nearest-rank median 30, p90 180.
    assert (f.first_response_median_min, f.first_response_p90_min) == (30, 180)
    # Resolutions in the period: 2 h (120 min) and 5 d − 20 h… : 96 h + 20 h = 116 h.
    assert (f.resolution_median_min, f.resolution_p90_min) == (120, 116 * 60)
    # Judged: T1 fr met, T1 res met, T2 fr breach, T3 fr breach (open), T4 res met.
    assert (f.sla_met, f.sla_total) == (3, 5)
    assert [(b.ref, b.clock, b.at is None) for b in f.breaches] == [
        ("T2", "first response", False),
        ("T3", "first response", True),
    ]
    assert (f.drafts_approved, f.drafts_edited, f.drafts_rejected) == (6, 3, 1)
    assert f.top_categories == (("billing", 2), ("technical", 1))
    assert [t.ref for t in f.unhappy] == ["T2", "T3"]
    assert f.quarantined == 2


def test_send_times_are_local_and_dst_safe() -> None:
    assert local_send_time(BERLIN, END.date()) == END  # CET: 08:00 is 07:00 UTC
    summer = local_send_time(BERLIN, datetime(2026, 3, 29).date())  # the day DST starts
    assert summer == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
    night = Manager(slack_user_id="U2", timezone="Europe/Berlin", send_at="02:30")
    # 02:30 does not exist that night: the first instant after the gap (03:00 CEST).
    assert local_send_time(night, datetime(2026, 3, 29).date()) == datetime(
        2026, 3, 29, 1, 0, tzinfo=UTC
    )
    keys = [a.idem_key for a in digest_actions(BERLIN, now=END)]
    assert keys == ["digest:U1:2026-11-24", "digest:U1:2026-11-25"]


def test_a_process_stopped_across_the_send_time_sends_once_late_and_says_so() -> None:
    store = FakeStore()
    clock = SystemClock()
    sent: list[RenderedDigest] = []

    def handle(action: ScheduledAction) -> None:
        sent.append(
            prepare_digest(
                store.uow(),
                BERLIN,
                renderer=JinjaRenderer(),
                clock=clock,
                scheduled=action.due_at,
            )
        )

    def tick() -> None:
        enqueue_digests(store.uow(), [BERLIN], now=clock.now())
        sweep(store.uow(), handlers={DIGEST: handle}, owner="p", clock=clock, lease_seconds=60)

    with time_machine.travel(END - timedelta(minutes=5), tick=False):  # 07:55 Berlin
        tick()
    assert sent == []
    # The process is down from 07:55 to 08:47; it starts again and ticks.
    with time_machine.travel(END + timedelta(minutes=47), tick=False):
        tick()
        tick()
    assert len(sent) == 1
    assert "delayed: scheduled 08:00, sent 08:47" in sent[0].text
    assert "delayed" in sent[0].html and sent[0].title.startswith("Daily support digest")
    with time_machine.travel(END + timedelta(days=1, minutes=1), tick=False):  # next day
        tick()
    assert len(sent) == 2 and "delayed" not in sent[1].text


def test_the_slack_text_has_one_block_kit_section_per_part() -> None:
    h = timedelta(hours=1)
    tickets = [
        _t(2, 2, category="billing", first_response_due=START + 3 * h,
           first_responded_at=START + 5 * h, sentiment=5, sentiment_score=-0.9),
        _t(3, 10, category="technical", first_response_due=START + 11 * h, sentiment=4),
    ]  # fmt: skip
    figures = figures_from(tickets, {"approved": 1}, start=START, end=END)
    history = daily_history(tickets, end=END, zone=ZoneInfo(BERLIN.timezone))
    rendered = render_digest(figures, manager=BERLIN, renderer=JinjaRenderer(), history=history)
    sections = [b["text"]["text"] for b in digest_blocks(rendered)]
    heads = [s.split("*")[1] for s in sections]
    assert heads == [
        "Daily support digest, Tue 24 Nov 2026",
        "Tickets",
        "Backlog by priority",
        "First response",
        "SLA",
        "Drafts",
        "Top categories",
        "Most unhappy open tickets",
        "Last 14 days",
        "Quarantine",
    ]
    assert sections[4].splitlines()[1:] == [
        "*Breaches*",
        "• T2 first response, due Mon 11:00, done Mon 13:00",
        "• T3 first response, due Mon 19:00, still open",
    ]
    assert sections[2].splitlines()[1].startswith("*Backlog by age* < 1 d: 2")
    assert len(sections[8].splitlines()) == 15  # the heading and 14 days
    assert sections[8].splitlines()[-1] == "`Mon 23` 2 · 2 · 2"
    assert rendered.chart_png.startswith(b"\x89PNG") and "cid:" in rendered.html
