"""Triage speed: per-message latency of the offline pipeline (language → … → SLA).

Reads customer messages from ../shared/data/tickets/banking77/train.csv when present, else
uses a small built-in set repeated. Prints p50/p95/max in milliseconds and messages/s.

    .venv/bin/python benchmarks/triage.py [--count N]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from core.pipeline import TriageInput, TriagePolicy, run_triage

CSV = Path(__file__).resolve().parents[2] / "shared/data/tickets/banking77/train.csv"
FALLBACK = [
    "URGENT: our production database is down and customers cannot log in!",
    "Could you send me a copy of last month's invoice? Thanks",
    "I've been waiting 3 weeks and nobody answers.",
    "Where is my parcel? The tracking number does not work.",
]


def load_texts(count: int) -> list[str]:
    if CSV.exists():
        with CSV.open(newline="") as fh:
            texts = [row["text"] for row in csv.DictReader(fh)]
    else:
        texts = FALLBACK
    return [texts[i % len(texts)] for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=5000)
    args = parser.parse_args()
    texts = load_texts(args.count)
    policy = TriagePolicy()
    now = datetime.now(UTC)
    run_triage(TriageInput(subject="", text="warm up the caches", created_at=now), policy=policy)
    timings = []
    start = time.perf_counter()
    for text in texts:
        t0 = time.perf_counter()
        run_triage(TriageInput(subject="", text=text, created_at=now), policy=policy)
        timings.append((time.perf_counter() - t0) * 1000)
    total = time.perf_counter() - start
    timings.sort()
    source = CSV.name if CSV.exists() else "built-in examples"
    print(f"triage: {len(texts)} messages from {source}")
    print(
        f"  p50 {statistics.median(timings):.3f} ms  p95 {timings[int(len(timings) * 0.95)]:.3f} ms"
        f"  max {timings[-1]:.3f} ms  → {len(texts) / total:.0f} messages/s"
    )


if __name__ == "__main__":
    main()
