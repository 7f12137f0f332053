"""Card latency: a mail appended to Dovecot → its approval card posted in Slack.

Wires supportbot as `supportbot run` does (bootstrap, the Bolt app over Socket Mode, one IMAP
watcher thread using IDLE) against a private Dovecot (tests/servers/dovecot.py) and the Slack
stand-in (tests/slack_standin), with a fresh SQLite store and the default offline triage and
drafting. It appends `--count` messages one at a time, `--spacing` seconds apart, and for
each measures from just before the APPEND to the stand-in's receipt of the card's
`chat.postMessage` in the agents' channel (the stand-in records every call with a timestamp;
the card is the top-level post whose text is "<ref> <subject>"). Prints p50/p95/max.

Target (issue 4): p50 ≤ 1 s, p95 ≤ 2 s.

Posting is paced per channel (`[slack] post_interval_seconds`, 1 s in production, Slack's
~1 message/s/channel). Each ticket is three posts (card, customer message, draft), so mail
arriving faster than one per 3 × interval queues up behind the pacer whatever the bot does;
`--post-interval` (default 0.05 s, as the Slack tests use) sets it for the run.

    .venv/bin/python benchmarks/latency.py [--count 100] [--spacing 0.2] [--post-interval 0.05]

Needs root and Dovecot (apt-get install dovecot-imapd), as the IMAP tests do.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from email import policy
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.bootstrap import bootstrap, start_mailbox_watcher, start_slack
from bot.settings import load_settings
from channels.email.imap import MailboxConfig
from tests.integration.channels.slack.conftest import AGENTS, make_standin, write_config
from tests.servers.dovecot import Dovecot


def _mail(i: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Customer {i} <customer{i}@bench.example>"
    msg["To"] = "support@example.com"
    msg["Subject"] = f"Order problem bench-{i:04d}"
    msg["Message-ID"] = f"<bench-{i:04d}.{time.time_ns()}@bench.example>"
    msg.set_content(f"Hello, my order {1000 + i} has not arrived yet. Where is it?")
    return msg.as_bytes(policy=policy.SMTP)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--spacing", type=float, default=0.2, help="seconds between appends")
    parser.add_argument("--post-interval", type=float, default=0.05)
    parser.add_argument("--timeout", type=float, default=60.0, help="wait for the last cards")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        os.environ[name] = ""
    for name in [n for n in os.environ if n.startswith("SUPPORTBOT_")]:
        del os.environ[name]

    slack = make_standin()
    dovecot = Dovecot().start()
    workdir = Path(tempfile.mkdtemp(prefix="latency-"))
    extra = f"post_interval_seconds = {args.post_interval}"
    config = write_config(workdir, slack, extra="")
    config.write_text(
        config.read_text().replace("post_interval_seconds = 0.05", extra), encoding="utf-8"
    )
    os.environ["SUPPORTBOT_CONFIG"] = str(config)
    services = bootstrap(load_settings())
    runtime = start_slack(services)
    stop = threading.Event()
    mailbox = MailboxConfig(
        name="support",
        host=dovecot.host,
        port=dovecot.port,
        security="plain",
        user=dovecot.user,
        password=dovecot.password,
        timeout_seconds=5,
        idle=True,
    )
    watcher = start_mailbox_watcher(services, mailbox, stop=stop)
    try:
        time.sleep(1.0)  # let the watcher log in and enter IDLE
        appended: dict[str, float] = {}
        for i in range(args.count):
            tag = f"bench-{i:04d}"
            appended[tag] = time.time()
            dovecot.append(_mail(i))
            time.sleep(args.spacing)
        deadline = time.monotonic() + args.timeout
        cards: dict[str, float] = {}
        while time.monotonic() < deadline and len(cards) < len(appended):
            for call in slack.calls("chat.postMessage"):
                params = call.params
                text = str(params.get("text") or "")
                if (
                    params.get("channel") != AGENTS
                    or params.get("thread_ts")
                    or "bench-" not in text
                ):
                    continue
                tag = text[text.index("bench-") : text.index("bench-") + 10]
                cards.setdefault(tag, call.at)
            time.sleep(0.1)
    finally:
        stop.set()
        watcher.join(10)
        runtime.stop()
        services.close()
        dovecot.close()
        slack.stop()

    latencies = [cards[tag] - t0 for tag, t0 in appended.items() if tag in cards]
    missing = len(appended) - len(latencies)
    if not latencies:
        print("no cards were posted", file=sys.stderr)
        return 1
    p50 = statistics.median(latencies)
    p95 = _percentile(latencies, 0.95)
    print(
        f"{len(latencies)} cards (missing {missing}); append → card posted, seconds: "
        f"p50 {p50:.3f}  p95 {p95:.3f}  max {max(latencies):.3f}  min {min(latencies):.3f}"
    )
    verdict = "met" if p50 <= 1 and p95 <= 2 and not missing else "NOT met"
    print(
        f"target p50 ≤ 1 s, p95 ≤ 2 s: {verdict}"
        f" (spacing {args.spacing} s, post interval {args.post_interval} s)"
    )
    return 0 if not missing else 1


if __name__ == "__main__":
    raise SystemExit(main())
