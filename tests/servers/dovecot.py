"""A real Dovecot IMAP server for tests and benchmarks, one private instance per object.

Follows the verified recipe in shared/notes/libraries.md §8a (the root variant, which is what
CI runs as): the server refuses uid 0 for mail users, so mail belongs to nobody (65534); the
auth process runs as `dovecot` and cannot enter pytest's 0700 temp dirs, so the instance lives
in its own 0755 directory under /tmp; its own `base_dir`, `instance_name` and a free port keep
it apart from any other Dovecot on the machine; and it runs in the foreground (`-F`) under
Popen, so this object owns the master's PID and can stop and restart it.

    with Dovecot() as server:
        uid = server.append(raw_bytes)
        ...  # point the code under test at server.host, server.port, server.user, server.password
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from imapclient import IMAPClient  # type: ignore[import-untyped]

from tests.support import free_port

HOST = "127.0.0.1"
MAIL_UID = 65534  # nobody: Dovecot refuses to deliver as root
START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0

_CONFIG = """\
instance_name = dovecot-test-{port}
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
protocols = imap
listen = {host}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{dir}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={uid} home={dir}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
"""

_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]")


class DovecotError(RuntimeError):
    """The server did not start or stop as expected; the message carries its log."""


class Dovecot:
    """One Dovecot instance: `start()`, `stop()`, `restart()` (same port, same mail), `close()`.

    One user, `user`/`password`. (Adding users at run time is unreliable: Dovecot re-reads
    its passwd-file at most once a second, by mtime; a fresh instance per test is ~0.3 s.)
    """

    def __init__(
        self,
        *,
        user: str = "support@example.test",
        password: str = "secret",
        binary: str | None = None,
    ) -> None:
        found = binary or shutil.which("dovecot")
        if found is None:
            raise DovecotError("dovecot is not installed (apt-get install dovecot-imapd)")
        if os.geteuid() != 0:
            raise DovecotError("this test server setup runs as root (libraries.md §8a)")
        self.binary = found
        self.host = HOST
        self.port = free_port()
        self.user = user
        self.password = password
        self.dir = Path(tempfile.mkdtemp(prefix="dovecot-test-", dir="/tmp"))
        self._process: subprocess.Popen[bytes] | None = None
        self._write_files()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        if self._process is not None:
            return self
        with (self.dir / "stdout.log").open("ab") as output:
            self._process = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: a hard stop reaches the children too
            )
        self._wait_until_listening()
        return self

    def stop(self, *, graceful: bool = True) -> None:
        """Stop the server and every process it started, dropping all client connections.

        Graceful sends SIGTERM first, as an init system would on an upgrade; otherwise the
        whole process group is killed at once, for teardown. Either way the group is killed
        at the end: the master leaves running `imap` processes behind (observed with 2.3),
        and a restart that kept old sessions alive would test nothing.
        """
        process, self._process = self._process, None
        if process is None:
            return
        if graceful:
            _signal_group(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(STOP_TIMEOUT_SECONDS)
        _signal_group(process.pid, signal.SIGKILL)
        process.wait(STOP_TIMEOUT_SECONDS)
        self._wait_until_closed()

    def restart(self) -> None:
        """Stop and start again on the same port with the same mail, as an upgrade would."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop and delete the instance's directory and mail."""
        try:
            self.stop(graceful=False)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def config_path(self) -> Path:
        return self.dir / "dovecot.conf"

    def read_log(self) -> str:
        parts = []
        for name in ("dovecot.log", "stdout.log"):
            path = self.dir / name
            if path.is_file():
                parts.append(f"--- {name}\n{path.read_text(errors='replace')}")
        return "\n".join(parts) or "(no log written)"

    # -- mail --------------------------------------------------------------------------------

    def connect(self) -> IMAPClient:
        """A logged-in client for arranging and inspecting mail; the caller logs it out."""
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        client.login(self.user, self.password)
        return client

    def append(self, raw: bytes, folder: str = "INBOX") -> int:
        """Deliver one message; returns its UID (from APPENDUID, RFC 4315)."""
        client = self.connect()
        try:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            response: bytes = client.append(folder, raw)
        finally:
            client.logout()
        match = _APPENDUID.search(response)
        if match is None:
            raise DovecotError(f"APPEND gave no APPENDUID: {response!r}")
        return int(match.group(2))

    def append_many(self, raws: list[bytes], folder: str = "INBOX") -> None:
        """Deliver many messages over one connection (benchmarks, large batches)."""
        client = self.connect()
        try:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            for raw in raws:
                client.append(folder, raw)
        finally:
            client.logout()

    def recreate_folder(self, folder: str = "INBOX") -> None:
        """Delete and create `folder`, emptying it and giving it a new UIDVALIDITY (verified
        on Dovecot 2.3, libraries.md §4). INBOX cannot be deleted (RFC 3501 §6.3.4), so tests
        of a UIDVALIDITY change read another folder."""
        if folder.upper() == "INBOX":
            raise ValueError("INBOX cannot be deleted; use another folder")
        client = self.connect()
        try:
            if client.folder_exists(folder):
                client.delete_folder(folder)
            client.create_folder(folder)
        finally:
            client.logout()

    def uids(self, folder: str = "INBOX") -> list[int]:
        client = self.connect()
        try:
            client.select_folder(folder, readonly=True)
            return sorted(int(uid) for uid in client.search(["ALL"]))
        finally:
            client.logout()

    def flags(self, folder: str = "INBOX") -> dict[int, tuple[bytes, ...]]:
        """Every message's flags by UID, read without changing them."""
        client = self.connect()
        try:
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            if not uids:
                return {}
            fetched = client.fetch(list(uids), [b"FLAGS"])
            return {int(uid): tuple(data[b"FLAGS"]) for uid, data in fetched.items()}
        finally:
            client.logout()

    # -- internals ---------------------------------------------------------------------------

    def _write_files(self) -> None:
        os.chmod(self.dir, 0o755)
        for name in ("run", "state", "mail"):
            (self.dir / name).mkdir()
        os.chown(self.dir / "mail", MAIL_UID, MAIL_UID)
        config = _CONFIG.format(dir=self.dir, host=self.host, port=self.port, uid=MAIL_UID)
        self.config_path.write_text(config)
        (self.dir / "users").write_text(_user_line(self.user, self.password))

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise DovecotError(f"dovecot exited early with {code}:\n{self.read_log()}")
            if _is_listening(self.host, self.port):
                return
            time.sleep(0.02)
        self.stop()
        raise DovecotError(
            f"dovecot did not listen on {self.host}:{self.port} within "
            f"{START_TIMEOUT_SECONDS:g} s:\n{self.read_log()}"
        )

    def _wait_until_closed(self) -> None:
        """The listener goes away with the master, but let the kernel catch up before a
        restart binds the same port again."""
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while time.monotonic() < deadline and _is_listening(self.host, self.port):
            time.sleep(0.02)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _user_line(user: str, password: str) -> str:
    return f"{user}:{{PLAIN}}{password}::::::\n"


def _is_listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
