"""Catching up: search for UIDs past the cursor, fetch them in batches, hand each message's
raw bytes to intake in UID order, advance the cursor after each, and move processed mail.

imapclient ships no type information, so its client is typed `Any` here.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from imapclient import DELETED  # type: ignore[import-untyped]

from channels.email.imap_config import MailboxConfig
from channels.email.imap_ledger import MailboxLedger
from core.model import Disposition

log = logging.getLogger(__name__)

_BODY = b"BODY.PEEK[]"  # PEEK: fetching must not mark the mail \Seen (RFC 3501 §6.4.5)
_BODY_KEY = b"BODY[]"  # the server answers without the .PEEK
_HEADER = b"BODY.PEEK[HEADER]"
_HEADER_KEY = b"BODY[HEADER]"
_ENVELOPE = [b"RFC822.SIZE", b"INTERNALDATE"]
# Messages fetched in one FETCH are held in memory together; keep that bounded even when
# batch_size messages are each close to max_message_bytes.
_FETCH_BUDGET_BYTES = 32 * 1024 * 1024


class Receive(Protocol):
    """Takes one message's raw bytes through intake and says what became of it.

    `problem` is set when the message cannot be handed over whole (it is larger than
    `max_message_bytes` and `raw` is its header section only): intake must quarantine it.
    Returning means intake has committed; raising means nothing may be acknowledged.
    """

    def __call__(self, raw: bytes, *, problem: str | None = None) -> Disposition: ...


@runtime_checkable
class ReceiveMany(Receive, Protocol):
    """A `Receive` that also takes a whole fetch group, as (raw, problem) pairs in UID order,
    and says what became of each. Intake commits the group in one transaction: returning
    means all of them are committed, raising means none is."""

    def many(self, items: Sequence[tuple[bytes, str | None]]) -> list[Disposition]: ...


@dataclass
class Tally:
    """One catch-up so far: dispositions, the oldest INTERNALDATE, the UIDs tried."""

    counts: Counter[Disposition] = field(default_factory=Counter)
    oldest: datetime | None = None
    tried: set[int] = field(default_factory=set)

    def add(self, disposition: Disposition, internal_date: datetime | None) -> None:
        self.counts[disposition] += 1
        if internal_date is not None and (self.oldest is None or internal_date < self.oldest):
            self.oldest = internal_date


@dataclass(frozen=True)
class Envelope:
    size: int
    internal_date: datetime | None


class IntakeFailed(Exception):
    """`receive` raised for one message; carries the original so it can be re-raised."""

    def __init__(self, uid: int, cause: Exception) -> None:
        self.summary = f"intake failed at UID {uid}: {type(cause).__name__}"
        super().__init__(self.summary)
        self.cause = cause


def catch_up(
    client: Any,
    config: MailboxConfig,
    ledger: MailboxLedger,
    receive: Receive,
    *,
    stop: threading.Event | None = None,
) -> Tally:
    """Read every message not read yet, lowest UID first, until a search finds nothing new;
    then record the success and the lag. Stops early (cursor saved) when `stop` is set.

    A UID is tried once per catch-up: one that a server keeps listing (a MOVE that did not
    remove it, a FETCH that returns nothing for it) waits for the next catch-up instead of
    spinning this loop.
    """
    tally = Tally()
    while stop is None or not stop.is_set():
        uids = [
            u for u in find_new_uids(client, config, ledger.state.last_uid) if u not in tally.tried
        ]
        tally.tried.update(uids)
        if not uids:
            if has_pending_news(client):
                continue
            break
        for batch in chunk(uids, config.batch_size):
            ledger.keep_lease()  # and per message; raises if another instance took it over
            read_batch(client, batch, config=config, ledger=ledger, receive=receive, tally=tally)
            if stop is not None and stop.is_set():
                break
    now = ledger.clock.now()
    lag = max(0.0, (now - tally.oldest).total_seconds()) if tally.oldest else 0.0
    ledger.record_success(lag_seconds=lag)
    if tally.counts:
        counts = ", ".join(f"{kind}={n}" for kind, n in sorted(tally.counts.items()))
        log.info("mailbox %s: read %s (last UID %d)", config.name, counts, ledger.state.last_uid)
    return tally


def find_new_uids(client: Any, config: MailboxConfig, last_uid: int) -> list[int]:
    """UIDs to read, ascending.

    Without `move_to`: `UID SEARCH UID n:*` above the cursor, filtered again here because
    `n:*` always includes the highest UID even when that is below n (RFC 3501 §6.4.8, §9).
    With `move_to` the folder is a queue that processed mail leaves, so everything still in
    it is read: after a crash between intake's commit and the MOVE, those messages come back
    as duplicates and are moved then.
    """
    if config.move_to:
        found = client.search(["NOT", "DELETED"])
        return sorted(int(uid) for uid in found)
    found = client.search(["UID", f"{last_uid + 1}:*"])
    return sorted(uid for uid in (int(u) for u in found) if uid > last_uid)


def has_pending_news(client: Any) -> bool:
    """Whether the server announced new messages (EXISTS) that our last search may not
    have seen, clearing the note.

    A message that arrives while a SEARCH runs is announced in that command's response
    (RFC 3501 §7.3.1); imaplib files such untagged responses away, and IDLE would not
    announce the message again, so it would wait until the next IDLE re-issue. imapclient
    offers no API for this, hence imaplib's `untagged_responses`; at worst the answer is
    stale and costs one more, empty, search.
    """
    pending = getattr(client._imap, "untagged_responses", {})
    return bool(pending.pop("EXISTS", None))


def chunk(uids: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(uids), size):
        yield list(uids[start : start + size])


def read_batch(
    client: Any,
    uids: list[int],
    *,
    config: MailboxConfig,
    ledger: MailboxLedger,
    receive: Receive,
    tally: Tally,
) -> None:
    """Fetch and deliver one batch in UID order, saving the cursor after each fetch group.

    Sizes come first so that an oversized message is never downloaded, and bodies are
    fetched in groups of bounded total size. UIDs that vanished since the search (expunged
    by someone else) are skipped. The cursor moves once per group (a commit per message
    cost a tenth of the intake time), and always only to a message whose intake returned:
    after a crash at most one group is read again, and intake knows those as duplicates.

    A `ReceiveMany` is handed each group at once, and intake commits it in one transaction
    (a commit per message cost more than its SQL); another `Receive` gets one message at a
    time.
    """
    envelopes = fetch_envelopes(client, uids)
    delivered: list[int] = []
    for group in plan_fetches([u for u in uids if u in envelopes], envelopes, config):
        raws = fetch_raw(client, group, envelopes, config)
        present = [uid for uid in group if uid in raws]
        try:
            if isinstance(receive, ReceiveMany):
                # Renewed between groups only: while intake's transaction is open, a lease
                # write would wait for it (SQLite's one writer).
                ledger.keep_lease()
                dispositions = deliver_many(receive, present, raws)
                for uid, disposition in zip(present, dispositions, strict=True):
                    tally.add(disposition, envelopes[uid].internal_date)
                    delivered.append(uid)
                continue
            for uid in present:
                # A batch can outlast the lease (slow intake, a loaded machine): renew it as
                # we go (a write only every quarter of it), and stop before the next message
                # once another instance holds it, rather than read alongside that one.
                ledger.keep_lease()
                raw, problem = raws[uid]
                disposition = deliver(receive, uid, raw, problem)
                tally.add(disposition, envelopes[uid].internal_date)
                delivered.append(uid)
                log.debug("mailbox %s: UID %d → %s", config.name, uid, disposition)
        finally:
            if delivered:
                ledger.advance(delivered[-1])
    if config.move_to and delivered:
        file_away(client, delivered, config.move_to)


def fetch_envelopes(client: Any, uids: list[int]) -> dict[int, Envelope]:
    # Lists of ints only: imapclient 4.x cannot parse a FETCH of a range such as "1:*".
    fetched = client.fetch(uids, _ENVELOPE)
    return {
        int(uid): Envelope(size=int(data.get(b"RFC822.SIZE", 0)), internal_date=_date(data))
        for uid, data in fetched.items()
    }


def _date(data: Mapping[bytes, Any]) -> datetime | None:
    value = data.get(b"INTERNALDATE")
    return value if isinstance(value, datetime) and value.tzinfo is not None else None


def plan_fetches(
    uids: list[int], envelopes: Mapping[int, Envelope], config: MailboxConfig
) -> Iterator[list[int]]:
    """Consecutive runs of UIDs whose bodies together stay within the fetch budget."""
    group: list[int] = []
    total = 0
    for uid in uids:
        size = envelopes[uid].size if envelopes[uid].size <= config.max_message_bytes else 0
        if group and total + size > _FETCH_BUDGET_BYTES:
            yield group
            group, total = [], 0
        group.append(uid)
        total += size
    if group:
        yield group


def fetch_raw(
    client: Any, uids: list[int], envelopes: Mapping[int, Envelope], config: MailboxConfig
) -> dict[int, tuple[bytes, str | None]]:
    """Raw bytes per UID: the whole message, or for an oversized one its header section
    with the reason intake must quarantine it for."""
    whole = [u for u in uids if envelopes[u].size <= config.max_message_bytes]
    oversized = [u for u in uids if u not in whole]
    out: dict[int, tuple[bytes, str | None]] = {}
    if whole:
        for uid, data in client.fetch(whole, [_BODY]).items():
            if isinstance(body := data.get(_BODY_KEY), bytes):
                out[int(uid)] = (body, None)
    if oversized:
        for uid, data in client.fetch(oversized, [_HEADER]).items():
            if isinstance(header := data.get(_HEADER_KEY), bytes):
                reason = too_large_reason(envelopes[int(uid)].size, int(uid), config)
                out[int(uid)] = (header, reason)
    return out


def too_large_reason(size: int, uid: int, config: MailboxConfig) -> str:
    where = f"mailbox {config.name}, folder {config.folder}, UID {uid}"
    if config.move_to:
        where += f", then moved to {config.move_to}"
    return (
        f"too large: {size} bytes, over max_message_bytes ({config.max_message_bytes}); "
        f"only the headers were kept, the whole message is on the server ({where})"
    )


def deliver(receive: Receive, uid: int, raw: bytes, problem: str | None) -> Disposition:
    try:
        return receive(raw, problem=problem)
    except Exception as exc:
        raise IntakeFailed(uid, exc) from exc


def deliver_many(
    receive: ReceiveMany, uids: list[int], raws: Mapping[int, tuple[bytes, str | None]]
) -> list[Disposition]:
    """A group at once. Should it fail, none of it was taken: the failure is at its first UID."""
    if not uids:
        return []
    try:
        return receive.many([raws[uid] for uid in uids])
    except Exception as exc:
        raise IntakeFailed(uids[0], exc) from exc


def file_away(client: Any, uids: list[int], folder: str) -> None:
    """Move processed mail out: MOVE (RFC 6851), else COPY, \\Deleted and UID EXPUNGE
    (RFC 4315) so that only these messages are expunged; a server without UIDPLUS either
    gets a plain EXPUNGE, which also removes anything else already marked \\Deleted."""
    if client.has_capability("MOVE"):
        client.move(uids, folder)
        return
    client.copy(uids, folder)
    client.add_flags(uids, [DELETED])
    if client.has_capability("UIDPLUS"):
        client.uid_expunge(uids)
    else:
        client.expunge()
