"""The rate limiter spaces starts evenly and backs off; the pool bounds concurrency and
never lets a failing job escape."""

from __future__ import annotations

import threading
import time

from core.drafting.pool import DraftPool, RateLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_starts_are_spaced_so_no_60_second_window_exceeds_the_limit() -> None:
    fake = FakeTime()
    limiter = RateLimiter(60, clock=fake.clock, sleep=fake.sleep, guard_seconds=0.0)
    starts = []
    for _ in range(150):
        limiter.acquire()
        starts.append(fake.now)
    assert max(sum(1 for s in starts if t <= s < t + 60) for t in starts) == 60
    assert starts[:3] == [0.0, 1.0, 2.0]


def test_pause_delays_the_next_start() -> None:
    fake = FakeTime()
    limiter = RateLimiter(600, clock=fake.clock, sleep=fake.sleep, guard_seconds=0.0)
    limiter.acquire()
    limiter.pause(5.0)
    limiter.acquire()
    assert fake.now == 5.0


def test_pool_bounds_concurrency_and_survives_failures() -> None:
    pool = DraftPool(concurrency=3)
    lock = threading.Lock()
    active = peak = done = 0

    def job() -> None:
        nonlocal active, peak, done
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.02)
        with lock:
            active -= 1
            done += 1
        if done % 4 == 0:
            raise RuntimeError("a failing draft")

    futures = [pool.submit(job) for _ in range(12)]
    pool.shutdown(wait=True)
    assert all(f.exception() is None for f in futures)
    assert done == 12 and peak == 3


def test_free_workers_counts_jobs_running_and_queued_until_they_finish() -> None:
    pool = DraftPool(concurrency=2)
    release = threading.Event()
    try:
        assert pool.free_workers() == 2
        futures = [pool.submit(release.wait) for _ in range(3)]  # two run, one waits
        assert pool.free_workers() == 0
        release.set()
        for future in futures:
            future.result(timeout=5)
        deadline = time.monotonic() + 5
        while pool.free_workers() != 2 and time.monotonic() < deadline:
            time.sleep(0.01)  # done-callbacks run just after the result is set
        assert pool.free_workers() == 2
    finally:
        release.set()
        pool.shutdown()
