"""Drafting throughput: N tickets through the real google-genai client and the Gemini stand-in.

    python benchmarks/drafting.py                       # (a) concurrency 16, no rate limit
    python benchmarks/drafting.py --rpm 60              # (b) 60 requests per minute (≥ 3 min)

The stand-in answers every request after `--delay` seconds. The model client is warmed up
first (importing google-genai takes ~2 s, once per process; `supportbot run` does it at
start). Prints the time from the first ticket taken in until the last draft is stored, the
intake time alone (it must not wait for drafts), the peak concurrency and the most requests
the stand-in saw in any 60-second window, and checks that every ticket got a model draft
(none lost, none fallen back).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.bootstrap import bootstrap
from bot.settings import Settings
from tests.servers.llm import GeminiStandIn, Reply


def _max_in_window(times: list[float], window: float = 60.0) -> int:
    ordered = sorted(times)
    best = start = 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rpm", type=float, default=0.0)
    parser.add_argument("--delay", type=float, default=1.0)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        GeminiStandIn(default=Reply.json(delay=args.delay)) as gemini,
    ):
        settings = Settings(
            database={"url": f"sqlite:///{tmp}/bench.db"},  # type: ignore[arg-type]
            brand={"secret_file": f"{tmp}/secret"},  # type: ignore[arg-type]
            llm={  # type: ignore[arg-type]
                "provider": "gemini",
                "api_key": "bench",
                "base_url": gemini.url,
                "concurrency": args.concurrency,
                "requests_per_minute": args.rpm,
                "timeout_seconds": 30.0,
            },
        )
        services = bootstrap(settings)
        warming = time.monotonic()
        services.warm_up_drafting()  # as `supportbot run` does at start: the SDK import
        warm_up = time.monotonic() - warming
        started = time.monotonic()
        for n in range(args.tickets):
            msg = EmailMessage()
            msg["From"] = f"Customer {n} <c{n}@customer.example>"
            msg["To"] = "support@example.com"
            msg["Subject"] = f"Invoice question {n}"
            msg["Message-ID"] = f"<bench{n}@customer.example>"
            msg.set_content("Please add our VAT number to the invoice.")
            services.receive(services.parse_email(msg.as_bytes()))
        intake = time.monotonic() - started
        services.close()  # waits for the pool
        total = time.monotonic() - started
        with services.new_uow() as uow:
            tickets = uow.tickets.list(limit=args.tickets + 10)
            drafts = [d for t in tickets if t.id for d in uow.drafts.list_for_ticket(t.id)]
        services.engine.dispose()
        fallbacks = sum(1 for d in drafts if d.fallback_reason)
        times = [r.at for r in gemini.requests]
        print(
            f"tickets={args.tickets} concurrency={args.concurrency} rpm={args.rpm or 'none'} "
            f"delay={args.delay}s"
        )
        print(f"client warm-up     {warm_up:8.2f} s (before the clock: import google-genai)")
        print(f"intake time        {intake:8.2f} s (does not wait for drafts)")
        print(f"total time         {total:8.2f} s")
        print(f"drafts stored      {len(drafts):8d} (fallbacks {fallbacks})")
        print(f"requests seen      {len(times):8d}")
        print(f"peak concurrency   {gemini.peak_concurrency:8d}")
        print(f"max in any 60 s    {_max_in_window(times):8d}")
        if len(drafts) != args.tickets or fallbacks:
            raise SystemExit("drafts were lost or fell back")


if __name__ == "__main__":
    main()
