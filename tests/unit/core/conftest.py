"""Fixtures for unit tests of core: the in-memory store, a fixed clock, a default policy."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.clock import FixedClock
from core.intake import IntakeContext
from core.pipeline import TriagePolicy
from tests.fakes import FakeStore

SECRET = b"unit-test-secret"
NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # a Monday afternoon


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def ctx(clock: FixedClock) -> IntakeContext:
    return IntakeContext(
        clock=clock,
        policy=TriagePolicy(),
        thread_secret=SECRET,
        own_addresses=frozenset({"support@example.com"}),
    )
