"""ParsePool: the same messages as parsing here, in order, and still complete when a worker dies."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from benchmarks.mailgen import MailGenerator
from channels.email.parse import parse_email
from channels.email.parse_pool import ParsePool
from core.model import InboundMessage

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
LANGUAGES = ("en", "de")
LIMIT = 2048  # small, so the attachment limit visibly reaches the workers
GARBAGE = b"\x00\xff not a mail \r\n\r\n\x80"  # parses to a message with a problem


@pytest.fixture
def pool() -> Iterator[ParsePool]:
    made = ParsePool(workers=2, max_attachment_bytes=LIMIT, reply_languages=LANGUAGES)
    try:
        yield made
    finally:
        made.close()


def here(raw: bytes) -> InboundMessage:
    return parse_email(raw, received_at=NOW, max_attachment_bytes=LIMIT, reply_languages=LANGUAGES)


def test_workers_parse_a_group_as_this_process_would_in_the_same_order(pool: ParsePool) -> None:
    raws = [*MailGenerator(120, seed=7), GARBAGE]
    pool.start()

    parsed = list(pool.parse_all(raws, received_at=NOW))

    assert parsed == [here(raw) for raw in raws]
    assert parsed[-1].problem  # quarantined by intake, not dropped here


def test_when_a_worker_dies_the_rest_of_the_group_is_parsed_here(
    pool: ParsePool, caplog: pytest.LogCaptureFixture
) -> None:
    raws = list(MailGenerator(400, seed=11))  # long enough to be killed halfway
    pool.start()
    deadline = time.monotonic() + 30
    while not pool.worker_pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pool.worker_pids(), "no parser process started"

    results = pool.parse_all(raws, received_at=NOW)
    first = next(results)
    for pid in pool.worker_pids():
        os.kill(pid, signal.SIGKILL)
    rest = list(results)

    assert [first, *rest] == [here(raw) for raw in raws]
    assert "a parser process died" in caplog.text
    # The next group starts a new pool.
    assert list(pool.parse_all(raws[:5], received_at=NOW)) == [here(r) for r in raws[:5]]
