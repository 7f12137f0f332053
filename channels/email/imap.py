"""Read new mail from an IMAP folder and hand each message's raw bytes to intake, in UID order.

The cursor per mailbox is (UIDVALIDITY, last UID) in `MailboxState`. It advances only after
`receive` has returned for a message (or, for a `ReceiveMany`, for a whole fetch group, which
intake commits in one transaction), and `receive` returns only after intake has committed
(DESIGN §3, invariant 1); a crash re-reads at most the messages after the cursor, and intake
recognises those by Message-ID (invariant 2). The same holds when the server renumbers the
folder (a new UIDVALIDITY, RFC 3501 §2.3.1.1): the folder is read again from the start and
what intake already has comes back as duplicates.

Two entry points: `poll_mailbox` (connect, catch up, disconnect: `supportbot poll --once`)
and `watch_mailbox` (stay connected and wait with IDLE, RFC 2177, or poll; reconnect with
backoff: `supportbot run`). Both record health (last success, last error, consecutive
authentication failures, lag) in `MailboxState`.

Several instances may share one database: a mailbox is read by one of them at a time, the
holder of its lease (`MailboxState`'s row, `Mailboxes.try_lease`). The watcher takes it
before reading and renews it at least every third of `lease_seconds` (IDLE is re-issued that
often; while reading, between messages); one that finds it held waits and retries every
quarter of it, so a dead holder's mailbox is taken over within about 1.25 × `lease_seconds`.
A poll holds it for its duration and refuses to read a mailbox that another instance is
reading.

Reading never changes the mail unless `move_to` is set: the folder is opened read-only
(EXAMINE) and bodies are fetched with BODY.PEEK[], which does not set \\Seen (RFC 3501 §6.4.5).

The parts: `imap_config` (what to read), `imap_session` (one connection, and the errors),
`imap_reading` (one catch-up), `imap_ledger` (cursor and health); this module runs them.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from channels.email.imap_config import MailboxConfig
from channels.email.imap_ledger import MailboxLeaseLost, MailboxLedger
from channels.email.imap_reading import IntakeFailed, Receive, ReceiveMany, catch_up
from channels.email.imap_session import (
    CONNECTION_ERRORS,
    MailboxAuthError,
    MailboxError,
    abandon,
    connect,
    describe_error,
    ensure_folder,
    log_in,
    log_out,
    select_folder,
    wait_in_idle,
)
from core.intake import IntakeResult
from core.model import Disposition, InboundMessage
from core.ports import Clock, UnitOfWork

__all__ = [
    "Backoff",
    "MailboxAuthError",
    "MailboxConfig",
    "MailboxError",
    "MailboxLeaseLost",
    "PollReport",
    "Receive",
    "ReceiveMany",
    "make_receiver",
    "poll_mailbox",
    "watch_mailbox",
]

log = logging.getLogger(__name__)

_BACKOFF_FIRST_SECONDS = 1.0
_BACKOFF_MAX_SECONDS = 300.0


def default_owner() -> str:
    """This process, as lease owner: `host:pid` (what `bot.scheduler.instance_name` says)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def make_receiver(
    *,
    parse: Callable[[bytes], InboundMessage],
    intake: Callable[[InboundMessage], IntakeResult],
    intake_many: Callable[[Iterable[InboundMessage]], list[IntakeResult]] | None = None,
    parse_many: Callable[[Sequence[bytes]], Iterator[InboundMessage]] | None = None,
) -> Receive:
    """The usual `Receive`: parse the bytes, mark the problem if any, run intake. With
    `intake_many` it is a `ReceiveMany`, which hands a whole fetch group to intake at once;
    `parse_many`, if given, parses such a group (in order), e.g. in other processes.

    `bot/` wires it as `make_receiver(parse=services.parse_email, intake=services.receive,
    intake_many=services.receive_many)`.
    """
    if intake_many is None:
        return _Receiver(parse, intake)
    return _BatchReceiver(parse, intake, intake_many, parse_many)


@dataclass(frozen=True)
class _Receiver:
    parse: Callable[[bytes], InboundMessage]
    intake: Callable[[InboundMessage], IntakeResult]

    def __call__(self, raw: bytes, *, problem: str | None = None) -> Disposition:
        return self.intake(self.message(raw, problem)).disposition

    def message(self, raw: bytes, problem: str | None) -> InboundMessage:
        message = self.parse(raw)
        return message if problem is None else replace(message, problem=problem)


@dataclass(frozen=True)
class _BatchReceiver(_Receiver):
    intake_many: Callable[[Iterable[InboundMessage]], list[IntakeResult]]
    parse_many: Callable[[Sequence[bytes]], Iterator[InboundMessage]] | None = None

    def many(self, items: Sequence[tuple[bytes, str | None]]) -> list[Disposition]:
        if self.parse_many is None:
            # Parsed as intake asks for them, so one parsed message is held at a time.
            messages: Iterator[InboundMessage] = (
                self.message(raw, problem) for raw, problem in items
            )
        else:
            parsed = self.parse_many([raw for raw, _ in items])
            messages = (
                message if problem is None else replace(message, problem=problem)
                for message, (_, problem) in zip(parsed, items, strict=True)
            )
        return [result.disposition for result in self.intake_many(messages)]


@dataclass(frozen=True)
class PollReport:
    """What one catch-up did: for `supportbot poll --once` and the logs."""

    mailbox: str
    counts: Mapping[Disposition, int]
    uidvalidity: int | None
    last_uid: int
    lag_seconds: float
    rescanned: bool = False  # UIDVALIDITY changed, so the folder was read from the start

    @property
    def fetched(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, object]:
        """Plain values for JSON output."""
        return {
            "mailbox": self.mailbox,
            "fetched": self.fetched,
            "counts": {str(kind): self.counts.get(kind, 0) for kind in Disposition},
            "uidvalidity": self.uidvalidity,
            "last_uid": self.last_uid,
            "lag_seconds": self.lag_seconds,
            "rescanned": self.rescanned,
        }


def poll_mailbox(
    config: MailboxConfig,
    *,
    new_uow: Callable[[], UnitOfWork],
    receive: Receive,
    clock: Clock,
    owner: str | None = None,
) -> PollReport:
    """Take the mailbox's lease, connect, read everything new, disconnect, release it.

    Raises `MailboxError` ("… is being read by host:pid …") when another instance holds the
    lease, without touching the server or the health row. Raises `MailboxAuthError` or
    `MailboxError` (after recording them in the mailbox's health) when the server cannot be
    read. An exception from `receive` propagates as it is (intake quarantines what it can,
    so that means storage is down); the cursor then stays before the message it failed on.
    """
    ledger = MailboxLedger(
        config.name,
        new_uow=new_uow,
        clock=clock,
        owner=owner or default_owner(),
        lease_seconds=config.lease_seconds,
    )
    if not ledger.take_lease():
        raise MailboxError(config.name, f"is being read by {ledger.holder_text()}; try later")
    try:
        with open_session(config, ledger) as session:
            tally = catch_up(session.client, config, ledger, receive)
            rescanned = session.rescanned
    except MailboxError:
        raise
    except IntakeFailed as failure:
        ledger.record_error(failure.summary)
        raise failure.cause from None
    except CONNECTION_ERRORS as exc:
        text = describe_error(exc)
        ledger.record_error(text)
        raise MailboxError(config.name, text) from exc
    finally:
        ledger.release_lease()
    return PollReport(
        mailbox=config.name,
        counts={kind: tally.counts[kind] for kind in Disposition},
        uidvalidity=ledger.state.uidvalidity,
        last_uid=ledger.state.last_uid,
        lag_seconds=ledger.state.lag_seconds or 0.0,
        rescanned=rescanned,
    )


def watch_mailbox(
    config: MailboxConfig,
    *,
    new_uow: Callable[[], UnitOfWork],
    receive: Receive,
    clock: Clock,
    stop: threading.Event,
    owner: str | None = None,
) -> None:
    """Read new mail as it arrives until `stop` is set; run it in a thread per mailbox.

    Reads only while holding the mailbox's lease as `owner` (default: this process); while
    another instance holds it, waits and retries every quarter of `lease_seconds`. The
    lease is released when `stop` is set.

    Never raises for a mailbox or intake failure: each is recorded in health and logged,
    and the watcher reconnects after an exponential backoff (1 s doubling to 5 min, with
    jitter, cut short by `stop`), catching up first thing after every reconnect.
    """
    ledger = MailboxLedger(
        config.name,
        new_uow=new_uow,
        clock=clock,
        owner=owner or default_owner(),
        lease_seconds=config.lease_seconds,
    )
    backoff = Backoff()
    waiting = False
    try:
        while not stop.is_set():
            try:
                if not ledger.take_lease():
                    if not waiting:
                        log.info(
                            "mailbox %s: read by %s; waiting for its lease",
                            config.name,
                            ledger.holder_text(),
                        )
                    waiting = True
                    stop.wait(config.lease_seconds / 4)
                    continue
                if waiting:
                    log.info("mailbox %s: took the lease over", config.name)
                waiting = False
                _watch_session(config, ledger, receive, stop=stop, backoff=backoff)
            except MailboxLeaseLost as exc:
                log.warning("%s", exc)
            except Exception as exc:  # the watcher outlives any failure; see docstring
                _note_failure(config, ledger, exc)
                delay = backoff.next_delay()
                log.info("mailbox %s: reconnecting in %.1f s", config.name, delay)
                stop.wait(delay)
    finally:
        ledger.release_lease()
    log.info("mailbox %s: watcher stopped", config.name)


def _watch_session(
    config: MailboxConfig,
    ledger: MailboxLedger,
    receive: Receive,
    *,
    stop: threading.Event,
    backoff: Backoff,
) -> None:
    # IDLE is re-issued (with a catch-up) at least every third of the lease, which is renewed
    # then; polling waits in slices of that length, renewing between them.
    renew = ledger.renew_seconds
    idle_config = replace(config, idle_seconds=min(config.idle_seconds, renew))
    with open_session(config, ledger) as session:
        client = session.client
        catch_up(client, config, ledger, receive, stop=stop)
        backoff.reset()
        is_idle = bool(config.idle and client.has_capability("IDLE"))
        log.info("mailbox %s: watching (%s)", config.name, "IDLE" if is_idle else "polling")
        while not stop.is_set():
            if is_idle:
                ledger.keep_lease(now=True)
                wait_in_idle(client, idle_config, stop)
            else:
                deadline = time.monotonic() + config.poll_seconds
                while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
                    ledger.keep_lease(now=True)
                    stop.wait(min(left, renew))
            if stop.is_set():
                break
            ledger.keep_lease()
            catch_up(client, config, ledger, receive, stop=stop)


def _note_failure(config: MailboxConfig, ledger: MailboxLedger, exc: Exception) -> None:
    """Record and log a failed session. Authentication failures are recorded where they
    happen, with their count; intake failures are logged without the exception's text,
    which may quote an address (DESIGN §3, invariant 8)."""
    if isinstance(exc, MailboxAuthError):
        log.warning("%s", exc)
    elif isinstance(exc, IntakeFailed):
        ledger.record_error(exc.summary)
        log.error("mailbox %s: %s", config.name, exc.summary)
    elif isinstance(exc, (*CONNECTION_ERRORS, MailboxError)):
        text = describe_error(exc)
        ledger.record_error(text)
        log.warning("mailbox %s: connection lost or refused: %s", config.name, text)
    else:
        ledger.record_error(describe_error(exc))
        log.exception("mailbox %s: unexpected failure", config.name)


@dataclass(frozen=True)
class Session:
    client: Any  # IMAPClient; the library ships no type information
    uidvalidity: int
    rescanned: bool


@contextmanager
def open_session(config: MailboxConfig, ledger: MailboxLedger) -> Iterator[Session]:
    """Connect, log in and select the folder; log out (or drop the socket) on the way out.

    The cursor is reloaded at every session start, and reset when UIDVALIDITY changed.
    """
    ledger.reload()
    client = connect(config)
    try:
        try:
            log_in(client, config)
        except MailboxAuthError as exc:
            ledger.record_auth_failure(str(exc))
            raise
        ledger.record_login()
        client.normalise_times = False  # INTERNALDATE as an aware datetime, not local time
        uidvalidity = select_folder(client, config)
        rescanned = ledger.adopt_uidvalidity(uidvalidity)
        if config.move_to:
            ensure_folder(client, config.move_to)
        yield Session(client=client, uidvalidity=uidvalidity, rescanned=rescanned)
    except BaseException:
        abandon(client)
        raise
    else:
        log_out(client)


class Backoff:
    """Exponential backoff with jitter: about 1 s, 2 s, 4 s … capped at 5 min.

    Each delay is drawn from the upper half of its step, so many watchers that lost the
    same server do not all come back in the same second.
    """

    def __init__(
        self,
        *,
        first: float = _BACKOFF_FIRST_SECONDS,
        cap: float = _BACKOFF_MAX_SECONDS,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._first = first
        self._cap = cap
        self._rng = rng
        self._attempts = 0

    def next_delay(self) -> float:
        step = min(self._cap, self._first * 2.0 ** min(self._attempts, 30))
        self._attempts += 1
        return step * (0.5 + 0.5 * self._rng())

    def reset(self) -> None:
        self._attempts = 0
