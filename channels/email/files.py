"""Mail stored in files: `.eml`/`.box` single messages, Maildir folders and mbox files.

Used by `supportbot ingest` to load archives and test corpora through the same intake as
live mail. Sources are listed first (cheap) so the caller can show progress, then read one
at a time so a large mbox never sits in memory whole.
"""

from __future__ import annotations

import mailbox
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

SINGLE_MESSAGE_SUFFIXES = frozenset({".eml", ".box", ".msg822", ".mail"})
MBOX_SUFFIXES = frozenset({".mbox", ".mbx"})


@dataclass(frozen=True)
class MailSource:
    """One message to read: a file, or a key inside an mbox/Maildir."""

    path: Path
    key: str | None = None  # None: the whole file is one message
    kind: str = "file"  # file | mbox | maildir

    @property
    def origin(self) -> str:
        return str(self.path) if self.key is None else f"{self.path}#{self.key}"

    def read(self) -> bytes:
        if self.kind == "file":
            return self.path.read_bytes()
        box = _open_box(self.path, self.kind)
        try:
            assert self.key is not None
            return box.get_bytes(self.key)
        finally:
            box.close()


@dataclass(frozen=True)
class Listing:
    sources: tuple[MailSource, ...]
    skipped: tuple[Path, ...]  # files in a folder that are not mail (e.g. README, *.yml)


def list_mail_sources(paths: Sequence[Path]) -> Listing:
    """Expand paths into messages. A file named explicitly is read as one message unless it
    is an mbox; inside folders only mail-like names are taken, so fixtures beside them
    (oracles, licences) are skipped and reported rather than quarantined as garbage."""
    sources: list[MailSource] = []
    skipped: list[Path] = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {path}")
        if path.is_dir() and _is_maildir(path):
            sources.extend(_list_box(path, "maildir"))
        elif path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if _is_maildir(child.parent.parent) and child.parent.name in {"cur", "new"}:
                    sources.append(MailSource(child))
                elif _is_mbox_name(child):
                    sources.extend(_list_box(child, "mbox"))
                elif child.suffix.lower() in SINGLE_MESSAGE_SUFFIXES:
                    sources.append(MailSource(child))
                else:
                    skipped.append(child)
        elif _is_mbox_name(path):
            sources.extend(_list_box(path, "mbox"))
        else:
            sources.append(MailSource(path))
    return Listing(tuple(sources), tuple(skipped))


def _is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


def _is_mbox_name(path: Path) -> bool:
    return path.suffix.lower() in MBOX_SUFFIXES or path.name == "mbox"


def _open_box(path: Path, kind: str) -> mailbox.Mailbox[mailbox.Message]:
    if kind == "maildir":
        return mailbox.Maildir(path, factory=None, create=False)
    return mailbox.mbox(path, factory=None, create=False)


def _list_box(path: Path, kind: str) -> Iterator[MailSource]:
    box = _open_box(path, kind)
    try:
        keys = sorted(box.keys())
    finally:
        box.close()
    for key in keys:
        yield MailSource(path, key=key, kind=kind)
