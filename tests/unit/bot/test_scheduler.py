"""The ticker's log stays readable: APScheduler's skip notices for overlapping ticks are
dropped, any other scheduler warning is kept."""

from __future__ import annotations

import logging

import pytest

from bot.scheduler import _QUIET_OVERLAPS


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord(
        "apscheduler.scheduler", logging.WARNING, __file__, 1, message, (), None
    )


@pytest.mark.parametrize(
    ("message", "is_kept"),
    [
        (
            'Execution of job "tick (trigger: interval[0:00:01], next run at: 2026-12-07 '
            '18:50:50 UTC)" skipped: maximum number of running instances reached (1)',
            False,
        ),
        ('Run time of job "tick" was missed by 0:00:03', True),
        ("Scheduler started", True),
    ],
)
def test_only_overlap_skips_are_dropped(message: str, is_kept: bool) -> None:
    assert _QUIET_OVERLAPS.filter(_record(message)) is is_kept
