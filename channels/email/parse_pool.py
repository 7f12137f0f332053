"""Parsing a fetch group in worker processes, so it runs on another core while intake stores.

Parsing (MIME, charsets, HTML, reply stripping, loop rules) is pure CPU and about a fifth of
a message's intake CPU; the rest (triage, storage, the offline draft) holds SQLite's one
writer and stays in the calling process. `ParsePool.parse_all` hands a group's raw bytes to
the workers at once and yields the parsed messages in the same order, as intake asks for
them: intake stores message k while the workers parse k+1 onwards.

Nothing else changes: messages reach intake in UID order, the cursor still moves only after
intake's commit, and `parse_email` never raises (a message it cannot parse comes back with a
`problem`, and intake quarantines it). Should a worker die (killed, out of memory), the pool
is dropped and the group's remaining messages are parsed in this process, so a message that
kills a parser fails exactly as it would without the pool.

One pool serves every mailbox of a process. The workers come from a forkserver, not a plain
fork: `supportbot run` reads mailboxes in threads, and forking a threaded process can copy a
lock some other thread holds. The server preloads the parser, so each worker starts with its
imports done (started as the `supportbot` script, a worker also imports that script's module,
bot.cli, once: multiprocessing prepares the main module in every child; `python -m bot` is
spared that). The two processes take about 30 MiB each. A worker is the server's child, not
ours, and would wait forever for work after we are killed (kill -9 leaves no time to stop
it), so each one watches our process and exits when it ends.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import select
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from functools import partial

from channels.email.parse import parse_email
from core.model import InboundMessage

log = logging.getLogger(__name__)

_CHUNK = 5  # messages per task: fewer round trips than one each, still an early first result

Parse = Callable[[bytes, datetime], InboundMessage]


class ParsePool:
    """`workers` processes parsing with fixed options; `close()` stops them."""

    def __init__(
        self,
        *,
        workers: int,
        max_attachment_bytes: int,
        reply_languages: tuple[str, ...],
    ) -> None:
        self._workers = workers
        self._parse: Parse = partial(
            _parse_one,
            max_attachment_bytes=max_attachment_bytes,
            reply_languages=reply_languages,
        )
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()  # `supportbot run` reads each mailbox in a thread

    def start(self) -> None:
        """Start the forkserver and the workers in the background (a no-op task), so that
        the first fetch group does not wait for their imports."""
        self._start().submit(int)

    def parse_all(
        self, raws: Sequence[bytes], *, received_at: datetime
    ) -> Iterator[InboundMessage]:
        """Each of `raws` parsed, in order; the workers start on all of them at once."""
        executor = self._start()
        results = executor.map(self._parse, raws, [received_at] * len(raws), chunksize=_CHUNK)
        done = 0
        try:
            for message in results:
                yield message
                done += 1
        except BrokenProcessPool:
            log.warning("a parser process died; parsing %d messages here", len(raws) - done)
            self._drop()
            for raw in raws[done:]:
                yield self._parse(raw, received_at)

    def close(self) -> None:
        self._drop(wait=True)

    def worker_pids(self) -> list[int]:
        """The parser processes now running (none before `start`); for the crash tests."""
        executor = self._executor
        processes = getattr(executor, "_processes", None) or {}
        return sorted(int(pid) for pid in processes)

    def _start(self) -> ProcessPoolExecutor:
        with self._lock:
            return self._start_locked()

    def _start_locked(self) -> ProcessPoolExecutor:
        if self._executor is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["channels.email.parse"])
            self._executor = ProcessPoolExecutor(
                self._workers,
                mp_context=context,
                initializer=watch_parent,
                initargs=(os.getpid(),),
            )
        return self._executor

    def _drop(self, *, wait: bool = False) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=wait, cancel_futures=True)


def _parse_one(
    raw: bytes,
    received_at: datetime,
    *,
    max_attachment_bytes: int,
    reply_languages: tuple[str, ...],
) -> InboundMessage:
    # Module level, so the forkserver's workers can unpickle a reference to it.
    return parse_email(
        raw,
        received_at=received_at,
        max_attachment_bytes=max_attachment_bytes,
        reply_languages=reply_languages,
    )


def watch_parent(pid: int) -> None:
    """In a worker: exit as soon as process `pid` (the reader that started us) has ended.

    A pidfd (Linux 5.3) becomes readable when the process exits; elsewhere, ask every
    second whether it still exists."""
    try:
        handle = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfd here, or `pid` is gone already
        handle = None
        if not _is_alive(pid):
            os._exit(0)

    def wait_for_exit() -> None:
        if handle is not None:
            select.select([handle], [], [])
        else:
            while _is_alive(pid):
                threading.Event().wait(1.0)
        os._exit(0)

    threading.Thread(target=wait_for_exit, name="parent-watch", daemon=True).start()


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
