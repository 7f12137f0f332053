"""Tests for SLA due times: business-hours arithmetic, DST, holidays, pauses and validation."""

from __future__ import annotations

import dataclasses
import tomllib
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import TypeAdapter

from core.model import Priority, SlaDue, Tier
from core.triage.sla import (
    BusinessHours,
    SlaPolicy,
    SlaTarget,
    add_business_minutes,
    business_minutes_between,
    compute_sla_due,
    resume_sla,
    sla_target_for,
    validate_sla_policy,
)

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
NY_HOURS = BusinessHours(timezone="America/New_York")
NY_US_HOURS = BusinessHours(timezone="America/New_York", holiday_country="US")
BERLIN_HOURS = BusinessHours(timezone="Europe/Berlin", holiday_country="DE", holiday_subdiv="BE")


def at(
    zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """A wall time in `zone`, as the UTC instant the functions under test take."""
    return datetime(year, month, day, hour, minute, second, tzinfo=zone).astimezone(UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def policy_with(**targets: SlaTarget) -> SlaPolicy:
    """The default policy with some targets replaced; keys use '_' for ':' (P0_enterprise)."""
    merged = dict(SlaPolicy().targets)
    merged.update({key.replace("_", ":"): target for key, target in targets.items()})
    return SlaPolicy(business_hours=NY_US_HOURS, targets=merged)


# --- add_business_minutes -------------------------------------------------------------------------


def test_friday_afternoon_carries_over_the_weekend() -> None:
    due = add_business_minutes(at(NY, 2026, 11, 20, 16), 120, hours=NY_HOURS)
    assert due == at(NY, 2026, 11, 23, 10)
    assert due.tzinfo is UTC


def test_thanksgiving_is_skipped_with_us_holidays() -> None:
    start = at(NY, 2026, 11, 25, 16, 30)
    assert add_business_minutes(start, 240, hours=NY_US_HOURS) == at(NY, 2026, 11, 27, 12, 30)
    # Without a holiday calendar the Thursday counts.
    assert add_business_minutes(start, 240, hours=NY_HOURS) == at(NY, 2026, 11, 26, 12, 30)


def test_a_working_holiday_is_counted_again() -> None:
    works_thanksgiving = dataclasses.replace(NY_US_HOURS, working_holidays=(date(2026, 11, 26),))
    start = at(NY, 2026, 11, 25, 16, 30)
    assert add_business_minutes(start, 240, hours=works_thanksgiving) == at(
        NY, 2026, 11, 26, 12, 30
    )


def test_veterans_day_is_a_us_holiday_unless_the_team_works_it() -> None:
    start = at(NY, 2026, 11, 10, 16)  # Tuesday; Wednesday 11th is Veterans Day
    assert add_business_minutes(start, 120, hours=NY_US_HOURS) == at(NY, 2026, 11, 12, 10)
    works = dataclasses.replace(NY_US_HOURS, working_holidays=(date(2026, 11, 11),))
    assert add_business_minutes(start, 120, hours=works) == at(NY, 2026, 11, 11, 10)


def test_a_monday_public_holiday_is_skipped() -> None:
    # 2026-01-19 is Martin Luther King Jr. Day.
    start = at(NY, 2026, 1, 16, 16)
    assert add_business_minutes(start, 120, hours=NY_US_HOURS) == at(NY, 2026, 1, 20, 10)


def test_extra_holidays_close_the_team_on_top_of_public_ones() -> None:
    closed_christmas_eve = dataclasses.replace(NY_US_HOURS, extra_holidays=(date(2026, 12, 24),))
    start = at(NY, 2026, 12, 23, 16)  # Wednesday
    # Thu 24th company closure, Fri 25th Christmas, then the weekend.
    assert add_business_minutes(start, 120, hours=closed_christmas_eve) == at(NY, 2026, 12, 28, 10)
    assert add_business_minutes(start, 120, hours=NY_US_HOURS) == at(NY, 2026, 12, 24, 10)


def test_holiday_dates_may_be_iso_strings_as_in_toml() -> None:
    hours = BusinessHours(
        timezone="America/New_York",
        extra_holidays=("2026-12-24",),  # type: ignore[arg-type]
    )
    assert add_business_minutes(at(NY, 2026, 12, 23, 16), 120, hours=hours) == at(
        NY, 2026, 12, 25, 10
    )


def test_a_saturday_half_day() -> None:
    hours = BusinessHours(
        timezone="America/New_York",
        hours={**NY_HOURS.hours, "sat": "10:00-14:00"},
    )
    assert add_business_minutes(at(NY, 2026, 11, 20, 16), 120, hours=hours) == at(
        NY, 2026, 11, 21, 11
    )
    # One hour left on Saturday, the other on Monday; Sunday stays closed.
    assert add_business_minutes(at(NY, 2026, 11, 21, 13), 120, hours=hours) == at(
        NY, 2026, 11, 23, 10
    )


def test_zero_minutes_inside_hours_is_the_start_itself() -> None:
    start = at(NY, 2026, 11, 18, 11, 17, 5)
    assert add_business_minutes(start, 0, hours=NY_HOURS) == start


@pytest.mark.parametrize(
    "start",
    [
        at(NY, 2026, 11, 20, 17),  # Friday at closing time exactly
        at(NY, 2026, 11, 21, 12),  # Saturday
        at(NY, 2026, 11, 23, 6),  # Monday before opening
    ],
)
def test_outside_hours_counting_begins_at_the_next_opening(start: datetime) -> None:
    assert add_business_minutes(start, 0, hours=NY_HOURS) == at(NY, 2026, 11, 23, 9)
    assert add_business_minutes(start, 30, hours=NY_HOURS) == at(NY, 2026, 11, 23, 9, 30)


def test_using_a_whole_window_ends_at_closing_time() -> None:
    assert add_business_minutes(at(NY, 2026, 11, 18, 9), 480, hours=NY_HOURS) == at(
        NY, 2026, 11, 18, 17
    )


def test_fractional_minutes() -> None:
    assert add_business_minutes(at(NY, 2026, 11, 18, 9), 1.5, hours=NY_HOURS) == at(
        NY, 2026, 11, 18, 9, 1, 30
    )


def test_an_aware_non_utc_start_is_accepted_and_the_answer_is_utc() -> None:
    start = datetime(2026, 11, 20, 16, tzinfo=NY)
    due = add_business_minutes(start, 120, hours=NY_HOURS)
    assert due == at(NY, 2026, 11, 23, 10)
    assert due.tzinfo is UTC


def test_a_long_span_counts_whole_weeks() -> None:
    # 10 business days (P3 free resolution) from a Monday opening: two weeks later, Friday close.
    assert add_business_minutes(at(NY, 2026, 11, 2, 9), 4800, hours=NY_HOURS) == at(
        NY, 2026, 11, 13, 17
    )


@pytest.mark.parametrize("minutes", [-1, float("nan"), float("inf")])
def test_bad_minutes_are_refused(minutes: float) -> None:
    with pytest.raises(ValueError, match="minutes"):
        add_business_minutes(utc(2026, 11, 18, 15), minutes, hours=NY_HOURS)


def test_a_calendar_that_is_never_open_raises_instead_of_looping() -> None:
    every_monday = tuple(date(2026, 1, 5) + timedelta(weeks=n) for n in range(4 * 53))
    hours = BusinessHours(hours={"mon": "09:00-17:00"}, extra_holidays=every_monday)
    with pytest.raises(ValueError, match="not enough business time"):
        add_business_minutes(utc(2026, 1, 1), 60, hours=hours)


def test_a_calendar_without_an_open_day_is_refused() -> None:
    with pytest.raises(ValueError, match=r"business_hours\.hours: no open day"):
        add_business_minutes(utc(2026, 1, 1), 60, hours=BusinessHours(hours={}))


# --- DST ------------------------------------------------------------------------------------------


def test_24x7_target_is_24_real_hours_across_spring_forward() -> None:
    policy = policy_with(P0_enterprise=SlaTarget(60, 24 * 60, calendar="24x7"))
    created = at(NY, 2026, 3, 7, 12)  # Saturday, EST
    due = compute_sla_due(created, priority=Priority.P0, tier=Tier.ENTERPRISE, policy=policy)
    assert due.resolution_due is not None
    assert due.resolution_due - created == timedelta(hours=24)
    # The wall clock moved an hour forward overnight, so 24 real hours end at 13:00 EDT.
    assert due.resolution_due.astimezone(NY).hour == 13


def test_24x7_target_is_24_real_hours_across_fall_back() -> None:
    policy = policy_with(P0_enterprise=SlaTarget(60, 24 * 60, calendar="24x7"))
    created = at(NY, 2026, 10, 31, 12)  # Saturday, EDT
    due = compute_sla_due(created, priority=Priority.P0, tier=Tier.ENTERPRISE, policy=policy)
    assert due.resolution_due is not None
    assert due.resolution_due - created == timedelta(hours=24)
    assert due.resolution_due.astimezone(NY).hour == 11


def test_business_span_over_the_spring_forward_weekend() -> None:
    due = add_business_minutes(at(NY, 2026, 3, 6, 16), 120, hours=NY_HOURS)
    assert due == utc(2026, 3, 9, 14)  # Monday 10:00 EDT
    assert business_minutes_between(at(NY, 2026, 3, 6, 16), due, hours=NY_HOURS) == 120


def test_business_span_over_the_fall_back_weekend() -> None:
    due = add_business_minutes(at(NY, 2026, 10, 30, 16), 120, hours=NY_HOURS)
    assert due == utc(2026, 11, 2, 15)  # Monday 10:00 EST


def test_berlin_calendar_across_its_own_dst_change() -> None:
    # Europe changes on 2026-03-29, three weeks after the US: 10:00 CET → 10:00 CEST.
    due = add_business_minutes(at(BERLIN, 2026, 3, 27, 16), 120, hours=BERLIN_HOURS)
    assert due == utc(2026, 3, 30, 8)
    assert due.astimezone(BERLIN).hour == 10


def test_a_round_the_clock_sunday_has_23_hours_on_the_day_clocks_spring_forward() -> None:
    hours = BusinessHours(timezone="Europe/Berlin", hours={"sun": "00:00-24:00"})
    start, end = at(BERLIN, 2026, 3, 28, 12), at(BERLIN, 2026, 3, 30, 12)
    assert business_minutes_between(start, end, hours=hours) == 23 * 60
    start, end = at(BERLIN, 2026, 10, 24, 12), at(BERLIN, 2026, 10, 26, 12)
    assert business_minutes_between(start, end, hours=hours) == 25 * 60


def test_an_opening_inside_the_skipped_hour_opens_at_the_transition() -> None:
    # 02:30 does not exist on 2026-03-08 in New York: the clock jumps 02:00 EST → 03:00 EDT.
    hours = BusinessHours(timezone="America/New_York", hours={"sun": "02:30-05:00"})
    assert add_business_minutes(utc(2026, 3, 8), 0, hours=hours) == utc(2026, 3, 8, 7)
    assert business_minutes_between(utc(2026, 3, 8), utc(2026, 3, 9), hours=hours) == 120


def test_an_ambiguous_opening_uses_its_first_occurrence() -> None:
    # 01:30 happens twice on 2026-11-01 in New York; the team opens at the first (EDT).
    hours = BusinessHours(timezone="America/New_York", hours={"sun": "01:30-03:00"})
    assert add_business_minutes(utc(2026, 11, 1), 0, hours=hours) == utc(2026, 11, 1, 5, 30)
    assert business_minutes_between(utc(2026, 11, 1), utc(2026, 11, 2), hours=hours) == 150


# --- business_minutes_between ---------------------------------------------------------------------


def test_between_is_zero_when_end_is_not_after_start() -> None:
    start = at(NY, 2026, 11, 18, 10)
    assert business_minutes_between(start, start, hours=NY_HOURS) == 0
    assert business_minutes_between(start, start - timedelta(hours=1), hours=NY_HOURS) == 0


def test_between_counts_only_business_time() -> None:
    start, end = at(NY, 2026, 11, 20, 16), at(NY, 2026, 11, 23, 10)
    assert business_minutes_between(start, end, hours=NY_HOURS) == 120
    assert business_minutes_between(at(NY, 2026, 11, 21), at(NY, 2026, 11, 22), hours=NY_HOURS) == 0


def test_between_is_the_inverse_of_add() -> None:
    starts = [
        at(NY, 2026, 11, 18, 10, 17),  # mid-morning Wednesday
        at(NY, 2026, 11, 20, 16, 59),  # a minute before the weekend
        at(NY, 2026, 11, 21, 3),  # Saturday night
        at(NY, 2026, 11, 25, 16, 30),  # eve of Thanksgiving
        at(NY, 2026, 3, 6, 8),  # before opening, DST weekend ahead
        at(NY, 2026, 10, 30, 17, 30),  # after closing, DST weekend ahead
        at(NY, 2026, 12, 31, 12),  # across New Year
    ]
    amounts = [0, 1, 59.5, 120, 479, 480, 481, 1000, 2400, 4800]
    for calendar in (NY_HOURS, NY_US_HOURS):
        for start in starts:
            for minutes in amounts:
                end = add_business_minutes(start, minutes, hours=calendar)
                assert end >= start
                assert business_minutes_between(start, end, hours=calendar) == minutes, (
                    start,
                    minutes,
                )
                # Going back the other way: inside hours, add() of the measured span is `end`.
                if minutes:
                    span = business_minutes_between(start, end, hours=calendar)
                    assert add_business_minutes(start, span, hours=calendar) == end


def test_adding_in_two_steps_equals_adding_once() -> None:
    start = at(NY, 2026, 11, 24, 15, 45)
    for first in (10, 75, 480, 1300):
        for second in (1, 200, 960):
            once = add_business_minutes(start, first + second, hours=NY_US_HOURS)
            halfway = add_business_minutes(start, first, hours=NY_US_HOURS)
            assert add_business_minutes(halfway, second, hours=NY_US_HOURS) == once


# --- targets and compute_sla_due ------------------------------------------------------------------


def test_default_policy_is_valid_and_covers_every_pair() -> None:
    policy = SlaPolicy()
    validate_sla_policy(policy)
    assert set(policy.targets) == {f"{p}:{t}" for p in Priority for t in Tier}
    assert policy.targets["P0:enterprise"] == SlaTarget(30, 240, calendar="24x7")
    assert policy.targets["P3:free"] == SlaTarget(960, 4800, calendar="business")
    assert policy.targets["P0:paid"].calendar == "24x7"
    assert policy.targets["P0:free"].calendar == "business"


def test_default_targets_never_promise_more_to_a_lower_priority_or_tier() -> None:
    targets = SlaPolicy().targets
    priorities, tiers = list(Priority), [Tier.ENTERPRISE, Tier.PAID, Tier.FREE]
    for field in ("first_response_minutes", "resolution_minutes"):
        for tier in tiers:
            values = [getattr(targets[f"{p}:{tier}"], field) for p in priorities]
            assert values == sorted(values), (field, tier)
        for priority in priorities:
            values = [getattr(targets[f"{priority}:{t}"], field) for t in tiers]
            assert values == sorted(values), (field, priority)
    for target in targets.values():
        assert target.first_response_minutes < target.resolution_minutes


def test_each_priority_and_tier_gets_its_own_target() -> None:
    # Distinct elapsed minutes per pair, so the due time identifies the target that was used.
    targets = {
        f"{p}:{t}": SlaTarget(10 + i, 1000 + i, calendar="24x7")
        for i, (p, t) in enumerate((p, t) for p in Priority for t in Tier)
    }
    policy = SlaPolicy(targets=targets)
    created = utc(2026, 11, 21, 3)
    for key, target in targets.items():
        priority, tier = key.split(":")
        due = compute_sla_due(created, priority=Priority(priority), tier=Tier(tier), policy=policy)
        assert due == SlaDue(
            first_response_due=created + timedelta(minutes=target.first_response_minutes),
            resolution_due=created + timedelta(minutes=target.resolution_minutes),
        )
        assert sla_target_for(Priority(priority), Tier(tier), policy=policy) is target


def test_compute_uses_elapsed_time_for_a_24x7_target() -> None:
    policy = SlaPolicy(business_hours=NY_US_HOURS)
    created = at(NY, 2026, 11, 21, 3)  # Saturday night
    due = compute_sla_due(created, priority=Priority.P0, tier=Tier.ENTERPRISE, policy=policy)
    assert due == SlaDue(
        first_response_due=at(NY, 2026, 11, 21, 3, 30),
        resolution_due=at(NY, 2026, 11, 21, 7),
    )


def test_compute_uses_business_hours_for_a_business_target() -> None:
    policy = SlaPolicy(business_hours=NY_US_HOURS)
    created = at(NY, 2026, 11, 21, 3)  # Saturday night
    due = compute_sla_due(created, priority=Priority.P1, tier=Tier.PAID, policy=policy)
    # 2 h first response from Monday's opening; 2 business days, so Tuesday at closing.
    assert due == SlaDue(
        first_response_due=at(NY, 2026, 11, 23, 11),
        resolution_due=at(NY, 2026, 11, 24, 17),
    )


def test_compute_p0_free_waits_for_business_hours() -> None:
    policy = SlaPolicy(business_hours=NY_US_HOURS)
    due = compute_sla_due(
        at(NY, 2026, 11, 21, 3), priority=Priority.P0, tier=Tier.FREE, policy=policy
    )
    assert due.first_response_due == at(NY, 2026, 11, 23, 13)


def test_a_missing_target_names_its_key() -> None:
    targets = dict(SlaPolicy().targets)
    del targets["P1:paid"]
    with pytest.raises(ValueError, match=r"targets\.P1:paid"):
        compute_sla_due(
            utc(2026, 11, 18, 15),
            priority=Priority.P1,
            tier=Tier.PAID,
            policy=SlaPolicy(targets=targets),
        )


def test_an_unknown_calendar_names_its_key_when_computing() -> None:
    policy = policy_with(P2_free=SlaTarget(60, 120, calendar="weekly"))
    with pytest.raises(ValueError, match=r"targets\.P2:free\.calendar"):
        compute_sla_due(utc(2026, 11, 18, 15), priority=Priority.P2, tier=Tier.FREE, policy=policy)


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 11, 18, 15)
    aware = utc(2026, 11, 18, 15)
    policy = SlaPolicy()
    with pytest.raises(ValueError, match="start must be timezone-aware"):
        add_business_minutes(naive, 10, hours=NY_HOURS)
    with pytest.raises(ValueError, match="end must be timezone-aware"):
        business_minutes_between(aware, naive, hours=NY_HOURS)
    with pytest.raises(ValueError, match="created_at must be timezone-aware"):
        compute_sla_due(naive, priority=Priority.P2, tier=Tier.PAID, policy=policy)
    with pytest.raises(ValueError, match="paused_at must be timezone-aware"):
        resume_sla(aware, paused_at=naive, resumed_at=aware, policy=policy, calendar="business")
    with pytest.raises(ValueError, match="due must be timezone-aware"):
        resume_sla(naive, paused_at=aware, resumed_at=aware, policy=policy, calendar="business")


# --- pauses ---------------------------------------------------------------------------------------


def test_resume_gives_back_the_business_time_left_at_the_pause() -> None:
    policy = SlaPolicy(business_hours=NY_US_HOURS)
    due = at(NY, 2026, 11, 17, 15)  # Tuesday
    paused = at(NY, 2026, 11, 17, 13)  # two business hours before it
    resumed = at(NY, 2026, 11, 20, 13)  # three days later
    assert resume_sla(
        due, paused_at=paused, resumed_at=resumed, policy=policy, calendar="business"
    ) == at(NY, 2026, 11, 20, 15)


def test_resume_counts_business_time_not_elapsed_time_over_a_night() -> None:
    policy = SlaPolicy(business_hours=NY_US_HOURS)
    due = at(NY, 2026, 11, 17, 10)  # Tuesday morning
    paused = at(NY, 2026, 11, 16, 16)  # Monday: 1 h left today, 1 h tomorrow
    resumed = at(NY, 2026, 11, 20, 16, 30)  # Friday afternoon: 30 min today, rest Monday
    assert resume_sla(
        due, paused_at=paused, resumed_at=resumed, policy=policy, calendar="business"
    ) == at(NY, 2026, 11, 23, 10, 30)


def test_resume_on_a_24x7_calendar_gives_back_elapsed_time() -> None:
    policy = SlaPolicy(business_hours=NY_US_HOURS)
    paused = at(NY, 2026, 11, 21, 2)  # Saturday night: business hours are irrelevant
    due = paused + timedelta(minutes=90)
    resumed = paused + timedelta(days=3, minutes=7)
    assert resume_sla(
        due, paused_at=paused, resumed_at=resumed, policy=policy, calendar="24x7"
    ) == resumed + timedelta(minutes=90)


def test_resume_keeps_a_breach_that_happened_before_the_pause() -> None:
    due = utc(2026, 11, 17, 15)
    paused, resumed = utc(2026, 11, 17, 16), utc(2026, 11, 19, 16)
    for calendar in ("business", "24x7"):
        assert (
            resume_sla(
                due, paused_at=paused, resumed_at=resumed, policy=SlaPolicy(), calendar=calendar
            )
            == due
        )


def test_resume_without_a_due_time_and_bad_arguments() -> None:
    paused, resumed = utc(2026, 11, 17, 16), utc(2026, 11, 19, 16)
    policy = SlaPolicy()
    assert (
        resume_sla(None, paused_at=paused, resumed_at=resumed, policy=policy, calendar="24x7")
        is None
    )
    with pytest.raises(ValueError, match="before paused_at"):
        resume_sla(paused, paused_at=resumed, resumed_at=paused, policy=policy, calendar="24x7")
    with pytest.raises(ValueError, match="calendar"):
        resume_sla(paused, paused_at=paused, resumed_at=resumed, policy=policy, calendar="weekly")


# --- validation -----------------------------------------------------------------------------------


def _without(key: str) -> dict[str, SlaTarget]:
    targets = dict(SlaPolicy().targets)
    del targets[key]
    return targets


def _hours(**changes: object) -> BusinessHours:
    return dataclasses.replace(NY_HOURS, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("policy", "key"),
    [
        (SlaPolicy(targets=_without("P1:paid")), "targets.P1:paid: missing"),
        (
            SlaPolicy(targets={**SlaPolicy().targets, "P4:free": SlaTarget(1, 2)}),
            "targets.P4:free: unknown key",
        ),
        (policy_with(P2_paid=SlaTarget(60, 120, calendar="weekly")), "targets.P2:paid.calendar"),
        (
            policy_with(P3_free=SlaTarget(0, 120)),
            "targets.P3:free.first_response_minutes",
        ),
        (
            policy_with(P3_free=SlaTarget(60, -5)),
            "targets.P3:free.resolution_minutes",
        ),
        (SlaPolicy(business_hours=_hours(timezone="Mars/Olympus")), "business_hours.timezone"),
        (SlaPolicy(business_hours=_hours(timezone="America")), "business_hours.timezone"),
        (
            SlaPolicy(business_hours=_hours(hours={"mon": "9 to 5"})),
            "business_hours.hours.mon: '9 to 5' is not 'HH:MM-HH:MM'",
        ),
        (
            SlaPolicy(business_hours=_hours(hours={"mon": "17:00-09:00"})),
            "business_hours.hours.mon: '17:00-09:00' closes at or before it opens",
        ),
        (
            SlaPolicy(business_hours=_hours(hours={"tue": "09:00-09:00"})),
            "business_hours.hours.tue",
        ),
        (
            SlaPolicy(business_hours=_hours(hours={"wed": "09:00-25:00"})),
            "business_hours.hours.wed: '09:00-25:00' is not a valid time of day",
        ),
        (
            SlaPolicy(business_hours=_hours(hours={"monday": "09:00-17:00"})),
            "business_hours.hours.monday: unknown weekday",
        ),
        (SlaPolicy(business_hours=_hours(hours={})), "business_hours.hours: no open day"),
        (
            SlaPolicy(business_hours=_hours(holiday_country="XX")),
            "business_hours.holiday_country",
        ),
        (
            SlaPolicy(business_hours=_hours(holiday_country="US", holiday_subdiv="ZZ")),
            "business_hours.holiday_subdiv",
        ),
        (SlaPolicy(business_hours=_hours(holiday_subdiv="CA")), "business_hours.holiday_subdiv"),
        (
            SlaPolicy(business_hours=_hours(extra_holidays=("next friday",))),
            "business_hours.extra_holidays[0]",
        ),
        (
            SlaPolicy(
                business_hours=_hours(
                    extra_holidays=(date(2026, 11, 11),), working_holidays=(date(2026, 11, 11),)
                )
            ),
            "business_hours.working_holidays: 2026-11-11",
        ),
        (SlaPolicy(warn_at=1.0), "warn_at"),
        (SlaPolicy(warn_at=0), "warn_at"),
    ],
)
def test_validation_names_the_bad_key(policy: SlaPolicy, key: str) -> None:
    with pytest.raises(ValueError, match="invalid SLA policy") as caught:
        validate_sla_policy(policy)
    assert key in str(caught.value)


def test_validation_reports_every_problem_at_once() -> None:
    policy = SlaPolicy(
        business_hours=_hours(timezone="Nowhere/Town", hours={"mon": "x"}),
        targets=_without("P0:free"),
        warn_at=2,
    )
    with pytest.raises(ValueError) as caught:
        validate_sla_policy(policy)
    message = str(caught.value)
    for key in (
        "business_hours.timezone",
        "business_hours.hours.mon",
        "targets.P0:free",
        "warn_at",
    ):
        assert key in message


def test_a_24_00_close_and_a_valid_calendar_pass() -> None:
    hours = _hours(
        hours={"mon": "00:00-24:00", "sat": "10:00-14:00"},
        holiday_country="US",
        holiday_subdiv="CA",
        working_holidays=(date(2026, 11, 11),),
    )
    validate_sla_policy(SlaPolicy(business_hours=hours))
    assert add_business_minutes(at(NY, 2026, 11, 16, 23), 120, hours=hours) == at(
        NY, 2026, 11, 21, 11
    )


# --- settings -------------------------------------------------------------------------------------


def test_policy_loads_from_toml_through_pydantic() -> None:
    document = tomllib.loads(
        """
        warn_at = 0.75

        [business_hours]
        timezone = "America/New_York"
        holiday_country = "US"
        extra_holidays = ["2026-12-24", 2026-12-31]
        working_holidays = [2026-11-11]

        [business_hours.hours]
        mon = "09:00-17:00"
        tue = "09:00-17:00"
        wed = "09:00-17:00"
        thu = "09:00-17:00"
        fri = "09:00-17:00"
        sat = "10:00-14:00"

        [targets."P0:enterprise"]
        first_response_minutes = 15
        resolution_minutes = 120
        calendar = "24x7"
        """
    )
    targets = dict(SlaPolicy().targets)
    targets.update(document.pop("targets"))
    policy = TypeAdapter(SlaPolicy).validate_python({**document, "targets": targets})

    assert policy.warn_at == 0.75
    assert policy.business_hours.extra_holidays == (date(2026, 12, 24), date(2026, 12, 31))
    assert policy.business_hours.working_holidays == (date(2026, 11, 11),)
    assert policy.targets["P0:enterprise"] == SlaTarget(15, 120, calendar="24x7")
    validate_sla_policy(policy)
    assert add_business_minutes(at(NY, 2026, 11, 10, 16), 120, hours=policy.business_hours) == at(
        NY, 2026, 11, 11, 10
    )


def test_defaults_load_from_an_empty_table() -> None:
    assert TypeAdapter(SlaPolicy).validate_python({}) == SlaPolicy()
