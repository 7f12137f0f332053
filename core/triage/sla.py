"""SLA due times per priority and tier, counted in business hours or elapsed time, in UTC.

Time is UTC inside (DESIGN §3.7). A business calendar is converted to its own zone only to
build each local day's open/close window: the local wall times of that date become aware
datetimes, are converted to UTC, and minutes are then consumed in UTC. Adding a timedelta to an
aware local datetime is wall-clock arithmetic (24 h across spring-forward is 23 real hours), so
it never happens here. A window edge that falls inside a DST transition is resolved explicitly
(`_first_instant_showing`) rather than left to `fold`'s silent defaults.

The policy is plain frozen dataclasses so the settings (pydantic) can embed and validate it
from TOML as is; `validate_sla_policy` adds the checks a type cannot express and names the key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.model import Priority, SlaDue, Tier

__all__ = [
    "CALENDARS",
    "CALENDAR_24X7",
    "CALENDAR_BUSINESS",
    "WEEKDAYS",
    "BusinessHours",
    "SlaPolicy",
    "SlaTarget",
    "add_business_minutes",
    "business_minutes_between",
    "compute_sla_due",
    "resume_sla",
    "sla_target_for",
    "validate_sla_policy",
]

CALENDAR_BUSINESS = "business"
CALENDAR_24X7 = "24x7"
CALENDARS = (CALENDAR_BUSINESS, CALENDAR_24X7)

# Keys of `BusinessHours.hours`, in `date.weekday()` order.
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_DEFAULT_HOURS = {day: "09:00-17:00" for day in WEEKDAYS[:5]}

# One business day of the default calendar, to write targets the way contracts state them.
_DAY = 8 * 60

# The default targets, as (first response, resolution, calendar) in minutes, with the reason
# for each row. The numbers follow common SaaS support contracts: enterprise is fastest,
# free is slowest, and only a paying customer's outage is worked around the clock.
_DEFAULT_TARGETS: dict[str, tuple[int, int, str]] = {
    # P0, production down: enterprise and paid contracts promise on-call cover, so real time.
    "P0:enterprise": (30, 4 * 60, CALENDAR_24X7),
    "P0:paid": (60, 8 * 60, CALENDAR_24X7),
    # A free customer's outage is urgent but gets no night shift.
    "P0:free": (4 * 60, 3 * _DAY, CALENDAR_BUSINESS),
    # P1, a major feature broken: same business day for enterprise.
    "P1:enterprise": (60, 1 * _DAY, CALENDAR_BUSINESS),
    "P1:paid": (2 * 60, 2 * _DAY, CALENDAR_BUSINESS),
    "P1:free": (1 * _DAY, 5 * _DAY, CALENDAR_BUSINESS),
    # P2, degraded or a workaround exists.
    "P2:enterprise": (4 * 60, 3 * _DAY, CALENDAR_BUSINESS),
    "P2:paid": (1 * _DAY, 5 * _DAY, CALENDAR_BUSINESS),
    "P2:free": (1 * _DAY, 7 * _DAY, CALENDAR_BUSINESS),
    # P3, questions and requests: within a couple of days, resolved within two weeks.
    "P3:enterprise": (1 * _DAY, 5 * _DAY, CALENDAR_BUSINESS),
    "P3:paid": (2 * _DAY, 8 * _DAY, CALENDAR_BUSINESS),
    "P3:free": (2 * _DAY, 10 * _DAY, CALENDAR_BUSINESS),
}

# `add_business_minutes` gives up after this many local days, so a calendar that is never
# open (every open weekday a holiday) raises instead of looping for ever.
_MAX_SCAN_DAYS = 3 * 366

# Day windows are memoised per calendar; past this many the memo starts again, which bounds
# memory in a process that runs for years.
_WINDOW_MEMO_LIMIT = 20_000

_HOURS_RE = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")
_ONE_DAY = timedelta(days=1)
_ZERO = timedelta(0)


@dataclass(frozen=True)
class BusinessHours:
    """When the support team works: the calendar business-hours SLA targets count in.

    Attributes:
        timezone: IANA zone the hours are written in, so "09:00" means the team's morning.
        hours: weekday ("mon".."sun") → "HH:MM-HH:MM" ("24:00" may close); a day left out is
            closed, which is how weekends and half days are expressed without special cases.
        holiday_country: ISO country whose public holidays close the team (via `holidays`);
            None means no public holidays, for teams that work them or are spread worldwide.
        holiday_subdiv: state or province within that country (e.g. "CA"), because regional
            holidays differ.
        extra_holidays: company closures (e.g. a year-end shutdown) the public calendar lacks.
        working_holidays: public holidays the team works anyway (e.g. US Veterans Day), so
            tickets are not given a free day the customer would not expect.

    Treat `hours` as immutable like the rest: the calendar built from it is cached.
    """

    timezone: str = "UTC"
    hours: dict[str, str] = field(default_factory=lambda: dict(_DEFAULT_HOURS))
    holiday_country: str | None = None
    holiday_subdiv: str | None = None
    extra_holidays: tuple[date, ...] = ()
    working_holidays: tuple[date, ...] = ()


@dataclass(frozen=True)
class SlaTarget:
    """The promise for one priority and tier pair.

    Attributes:
        first_response_minutes: time to the first human answer, the figure customers feel most.
        resolution_minutes: time to a resolved ticket, the figure contracts are judged on.
        calendar: "business" counts only business hours; "24x7" counts elapsed time, for
            contracts with on-call cover.
    """

    first_response_minutes: int
    resolution_minutes: int
    calendar: str = CALENDAR_BUSINESS


def _default_targets() -> dict[str, SlaTarget]:
    return {
        key: SlaTarget(first_response_minutes=first, resolution_minutes=resolve, calendar=cal)
        for key, (first, resolve, cal) in _DEFAULT_TARGETS.items()
    }


@dataclass(frozen=True)
class SlaPolicy:
    """Every SLA rule in one value, so settings can load it and tests can build it whole.

    Attributes:
        business_hours: the calendar "business" targets count in.
        targets: "P0:enterprise" … "P3:free" → target; all twelve pairs are required so that
            no ticket is ever left without a due time.
        warn_at: share of a target after which a warning is due (0 < warn_at < 1), so agents
            hear about a ticket before it breaches, not after.
        escalate_after_minutes: further escalation levels (2, 3, …) this many minutes after
            a breach, counted on the target's calendar; ascending, empty for none.
    """

    business_hours: BusinessHours = field(default_factory=BusinessHours)
    targets: dict[str, SlaTarget] = field(default_factory=_default_targets)
    warn_at: float = 0.8
    escalate_after_minutes: tuple[int, ...] = (60, 240)


# --- public API -----------------------------------------------------------------------------------


def validate_sla_policy(policy: SlaPolicy) -> None:
    """Check what types cannot; raise one ValueError listing every problem by its key.

    Run once when settings load, so a typo surfaces at start-up rather than as a wrong due
    time on the first ticket of a weekend.
    """
    problems: list[str] = []
    try:
        _calendar_for(policy.business_hours)
    except ValueError as exc:
        problems.extend(str(exc).split("\n"))

    expected = [_target_key(priority, tier) for priority in Priority for tier in Tier]
    problems.extend(
        f"targets.{key}: missing; every priority:tier pair needs a target"
        for key in expected
        if key not in policy.targets
    )
    for key, target in policy.targets.items():
        if key not in expected:
            problems.append(f"targets.{key}: unknown key; expected 'P0:enterprise' … 'P3:free'")
            continue
        for name in ("first_response_minutes", "resolution_minutes"):
            value = getattr(target, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                problems.append(f"targets.{key}.{name}: {value!r} is not a positive whole number")
        if target.calendar not in CALENDARS:
            problems.append(
                f"targets.{key}.calendar: {target.calendar!r} is not one of {', '.join(CALENDARS)}"
            )

    if not 0 < policy.warn_at < 1:
        problems.append(f"warn_at: {policy.warn_at!r} must be between 0 and 1 (exclusive)")
    delays = list(policy.escalate_after_minutes)
    if any(isinstance(d, bool) or not isinstance(d, int) or d <= 0 for d in delays):
        problems.append(f"escalate_after_minutes: {delays!r} must be positive whole minutes")
    elif delays != sorted(set(delays)):
        problems.append(f"escalate_after_minutes: {delays!r} must be strictly ascending")

    if problems:
        raise ValueError("invalid SLA policy: " + "; ".join(problems))


def add_business_minutes(start: datetime, minutes: float, *, hours: BusinessHours) -> datetime:
    """The UTC instant `minutes` of business time after `start`.

    A start outside business hours begins counting at the next opening; zero minutes inside
    business hours is `start` itself. A result may be a closing time exactly (the whole
    window used), which is the natural deadline "by 17:00".
    """
    begin = _require_aware(start, name="start")
    return _add_business_time(begin, _minutes_to_timedelta(minutes), _calendar_for(hours))


def business_minutes_between(start: datetime, end: datetime, *, hours: BusinessHours) -> float:
    """Minutes of business time in [start, end); 0 when end is not after start.

    The inverse of `add_business_minutes`, used to measure response times and what is left
    of a target when the clock pauses.
    """
    begin = _require_aware(start, name="start")
    finish = _require_aware(end, name="end")
    return _business_time_between(begin, finish, _calendar_for(hours)) / timedelta(minutes=1)


def sla_target_for(priority: Priority, tier: Tier, *, policy: SlaPolicy) -> SlaTarget:
    """The target for this priority and customer tier; ValueError naming a missing key."""
    key = _target_key(priority, tier)
    try:
        return policy.targets[key]
    except KeyError:
        raise ValueError(
            f"targets.{key}: missing; no SLA target for this priority and tier"
        ) from None


def compute_sla_due(
    created_at: datetime, *, priority: Priority, tier: Tier, policy: SlaPolicy
) -> SlaDue:
    """First-response and resolution due times for a ticket created at `created_at`."""
    created = _require_aware(created_at, name="created_at")
    target = sla_target_for(priority, tier, policy=policy)
    where = f"targets.{_target_key(priority, tier)}.calendar"
    return SlaDue(
        first_response_due=_due_after(
            created,
            target.first_response_minutes,
            calendar=target.calendar,
            policy=policy,
            where=where,
        ),
        resolution_due=_due_after(
            created,
            target.resolution_minutes,
            calendar=target.calendar,
            policy=policy,
            where=where,
        ),
    )


def resume_sla(
    due: datetime | None,
    *,
    paused_at: datetime,
    resumed_at: datetime,
    policy: SlaPolicy,
    calendar: str,
) -> datetime | None:
    """The due time after a pause: what was left at `paused_at` is re-added from `resumed_at`.

    The clock stops while a ticket waits on the customer. "Left" is counted on the target's
    calendar: business time for "business", elapsed time for "24x7". A due time that had
    already passed when the pause began is a breach on record and is returned unchanged;
    no due time stays no due time.
    """
    paused = _require_aware(paused_at, name="paused_at")
    resumed = _require_aware(resumed_at, name="resumed_at")
    if resumed < paused:
        raise ValueError(f"resumed_at ({resumed.isoformat()}) is before paused_at")
    if calendar not in CALENDARS:
        raise ValueError(f"calendar: {calendar!r} is not one of {', '.join(CALENDARS)}")
    if due is None:
        return None
    deadline = _require_aware(due, name="due")
    if deadline <= paused:
        return deadline
    if calendar == CALENDAR_24X7:
        return resumed + (deadline - paused)
    hours = _calendar_for(policy.business_hours)
    return _add_business_time(resumed, _business_time_between(paused, deadline, hours), hours)


# --- the calendar ---------------------------------------------------------------------------------


class _Calendar:
    """A validated `BusinessHours`, with its day windows memoised in UTC."""

    __slots__ = ("_country", "_extra", "_subdiv", "_week", "_windows", "_working", "zone")

    def __init__(
        self,
        *,
        zone: ZoneInfo,
        week: tuple[tuple[int, int] | None, ...],
        country: str | None,
        subdiv: str | None,
        extra: frozenset[date],
        working: frozenset[date],
    ) -> None:
        self.zone = zone
        self._week = week  # per weekday: (open, close) in minutes after local midnight
        self._country = country
        self._subdiv = subdiv
        self._extra = extra
        self._working = working
        self._windows: dict[date, tuple[datetime, datetime] | None] = {}

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The UTC [open, close) of local date `day`, or None when closed all day."""
        try:
            return self._windows[day]
        except KeyError:
            pass
        window = self._build_window(day)
        if len(self._windows) >= _WINDOW_MEMO_LIMIT:
            self._windows.clear()
        self._windows[day] = window
        return window

    def _build_window(self, day: date) -> tuple[datetime, datetime] | None:
        span = self._week[day.weekday()]
        if span is None or self._is_holiday(day):
            return None
        midnight = datetime(day.year, day.month, day.day)  # naive: wall-clock on purpose
        opens = _first_instant_showing(midnight + timedelta(minutes=span[0]), self.zone)
        closes = _first_instant_showing(midnight + timedelta(minutes=span[1]), self.zone)
        # A window lying wholly inside a skipped DST hour has no real time in it.
        return (opens, closes) if closes > opens else None

    def _is_holiday(self, day: date) -> bool:
        if day in self._extra:
            return True
        if self._country is None or day in self._working:
            return False
        return day in _public_holidays(self._country, self._subdiv, day.year)


def _first_instant_showing(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first UTC instant at which the local clock reads `wall` (naive) or later.

    For an ambiguous wall time (fall-back) that is its first occurrence. For a wall time the
    clock skips (spring-forward) it is the transition itself: `fold` would instead silently
    shift it by the size of the gap, one way or the other.
    """
    instant = wall.replace(tzinfo=zone).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    # In a gap: the two folds give instants either side of the transition. Bisect on whole
    # seconds (tz transitions fall on whole seconds) for the first instant showing >= wall.
    bounds = sorted(
        wall.replace(tzinfo=zone, fold=fold).astimezone(UTC).timestamp() for fold in (0, 1)
    )
    before, after = math.floor(bounds[0]), math.ceil(bounds[1])
    while after - before > 1:
        middle = (before + after) // 2
        shown = datetime.fromtimestamp(middle, zone).replace(tzinfo=None)
        if shown >= wall:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)


def _calendar_for(hours: BusinessHours) -> _Calendar:
    return _compile_calendar(
        hours.timezone,
        tuple(hours.hours.items()),
        hours.holiday_country,
        hours.holiday_subdiv,
        tuple(hours.extra_holidays),
        tuple(hours.working_holidays),
    )


@lru_cache(maxsize=64)
def _compile_calendar(
    timezone: str,
    hours: tuple[tuple[str, str], ...],
    country: str | None,
    subdiv: str | None,
    extra: tuple[date | str, ...],
    working: tuple[date | str, ...],
) -> _Calendar:
    """Parse and check a calendar once; every problem is reported with its settings key."""
    problems: list[str] = []

    zone: ZoneInfo | None = None
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        problems.append(f"business_hours.timezone: unknown time zone {timezone!r}")

    week: list[tuple[int, int] | None] = [None] * len(WEEKDAYS)
    for day, text in hours:
        key = f"business_hours.hours.{day}"
        if day not in WEEKDAYS:
            problems.append(f"{key}: unknown weekday; use one of {', '.join(WEEKDAYS)}")
            continue
        try:
            week[WEEKDAYS.index(day)] = _parse_span(text)
        except ValueError as exc:
            problems.append(f"{key}: {exc}")
    if not any(week) and not any(p.startswith("business_hours.hours.") for p in problems):
        problems.append("business_hours.hours: no open day; give at least one weekday hours")

    if subdiv is not None and country is None:
        problems.append("business_hours.holiday_subdiv: set holiday_country as well")
    elif country is not None:
        import holidays  # deferred: ~60 ms to import, and only calendars with holidays need it

        try:
            holidays.country_holidays(country, subdiv=subdiv)
        except NotImplementedError as exc:
            key = (
                "holiday_subdiv"
                if country in holidays.list_supported_countries()
                else ("holiday_country")
            )
            problems.append(f"business_hours.{key}: not known to the holidays library ({exc})")

    extra_days = _parse_dates(extra, key="business_hours.extra_holidays", problems=problems)
    working_days = _parse_dates(working, key="business_hours.working_holidays", problems=problems)
    problems.extend(
        f"business_hours.working_holidays: {day.isoformat()} is also in extra_holidays"
        for day in sorted(extra_days & working_days)
    )

    if problems or zone is None:
        raise ValueError("\n".join(problems))
    return _Calendar(
        zone=zone,
        week=tuple(week),
        country=country,
        subdiv=subdiv,
        extra=extra_days,
        working=working_days,
    )


def _parse_span(text: str) -> tuple[int, int]:
    """'HH:MM-HH:MM' → minutes after midnight; '24:00' may close, overnight spans may not."""
    match = _HOURS_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not 'HH:MM-HH:MM'")
    oh, om, ch, cm = (int(group) for group in match.groups())
    if oh > 23 or om > 59 or cm > 59 or ch > 24 or (ch == 24 and cm):
        raise ValueError(f"{text!r} is not a valid time of day")
    opens, closes = oh * 60 + om, ch * 60 + cm
    if closes <= opens:
        raise ValueError(f"{text!r} closes at or before it opens")
    return opens, closes


def _parse_dates(values: Iterable[date | str], *, key: str, problems: list[str]) -> frozenset[date]:
    """Dates as `date` or 'YYYY-MM-DD', so a calendar built in code reads like one from TOML."""
    days: set[date] = set()
    for index, value in enumerate(values):
        if isinstance(value, datetime):  # a datetime would never equal a date in a set
            days.add(value.date())
        elif isinstance(value, date):
            days.add(value)
        else:
            try:
                days.add(date.fromisoformat(str(value)))
            except ValueError:
                problems.append(f"{key}[{index}]: {value!r} is not a date (YYYY-MM-DD)")
    return frozenset(days)


@lru_cache(maxsize=512)
def _public_holidays(country: str, subdiv: str | None, year: int) -> frozenset[date]:
    """One year of public holidays (with observed days), built on first use only."""
    import holidays

    return frozenset(holidays.country_holidays(country, subdiv=subdiv, years=year).keys())


# --- arithmetic in UTC ----------------------------------------------------------------------------


def _add_business_time(start: datetime, amount: timedelta, calendar: _Calendar) -> datetime:
    day = start.astimezone(calendar.zone).date()
    remaining = amount
    for _ in range(_MAX_SCAN_DAYS):
        window = calendar.window(day)
        day += _ONE_DAY
        if window is None or start >= window[1]:
            continue
        cursor = max(start, window[0])
        available = window[1] - cursor
        if remaining <= available:
            return cursor + remaining
        remaining -= available
    raise ValueError(
        f"business_hours: not enough business time within {_MAX_SCAN_DAYS} days of "
        f"{start.isoformat()}; is the team ever open?"
    )


def _business_time_between(start: datetime, end: datetime, calendar: _Calendar) -> timedelta:
    if end <= start:
        return _ZERO
    day = start.astimezone(calendar.zone).date()
    last = end.astimezone(calendar.zone).date()
    total = _ZERO
    while day <= last:
        window = calendar.window(day)
        day += _ONE_DAY
        if window is None:
            continue
        overlap = min(end, window[1]) - max(start, window[0])
        if overlap > _ZERO:
            total += overlap
    return total


def _due_after(
    start: datetime, minutes: int, *, calendar: str, policy: SlaPolicy, where: str
) -> datetime:
    if calendar == CALENDAR_24X7:
        return start + timedelta(minutes=minutes)  # elapsed time: plain UTC arithmetic
    if calendar == CALENDAR_BUSINESS:
        return _add_business_time(
            start, _minutes_to_timedelta(minutes), _calendar_for(policy.business_hours)
        )
    raise ValueError(f"{where}: {calendar!r} is not one of {', '.join(CALENDARS)}")


# --- helpers --------------------------------------------------------------------------------------


def _require_aware(value: datetime, *, name: str) -> datetime:
    """`value` in UTC; a naive datetime has no defined instant, so it is refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _minutes_to_timedelta(minutes: float) -> timedelta:
    if not math.isfinite(minutes) or minutes < 0:
        raise ValueError(f"minutes must be a finite number >= 0, got {minutes!r}")
    return timedelta(minutes=minutes)


def _target_key(priority: Priority, tier: Tier) -> str:
    return f"{Priority(priority).value}:{Tier(tier).value}"
