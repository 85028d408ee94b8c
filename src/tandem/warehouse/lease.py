"""Who may use the warehouse now: any number of readers, or one writer, across processes.

The dashboard, command-line reads, an import and a cron job share one workspace. A DuckDB file can be open
read-write in one process only, or read-only in many, so every process holds its connection for a *lease*: a read
lease (shared) to answer a question, a write lease (exclusive) to import. A read waits for an import to finish and
an import waits for the reads in progress; none gets an "in use" error, and a read sees the data from before an
import or after it, never a mix. Readers that arrive while an import waits queue behind it, so a busy dashboard
cannot starve a nightly import.

DuckDB: two lock files beside the database (``FILE.tandem-lock`` and ``FILE.tandem-turnstile``), locked with
``flock``; the operating system drops a dead process's locks, so a ``kill -9`` leaves nothing to clean up.
PostgreSQL: the same shared and exclusive leases as session-level advisory locks, whose queue is fair in the same
way. A wait is bounded (the ``warehouse_wait_seconds`` setting); past it the error says who holds the warehouse.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from tandem.errors import BusyError

__all__ = ["FileLease", "LeaseMode", "advisory_key", "announce_waiting", "busy_message", "holder_description"]

LeaseMode = Literal["read", "write"]

#: First and longest pause between two tries of a lock that is taken.
_FIRST_PAUSE = 0.005
_LONGEST_PAUSE = 0.1


#: Told once when a lease has to wait (the command line prints it, so a command waiting behind an import says so).
_waiting_notice: list[Callable[[str], None]] = []


def announce_waiting(notice: Callable[[str], None] | None) -> None:
    """Have `notice` told, in one line, when this process waits for another's lease (None: tell nobody)."""
    _waiting_notice[:] = [notice] if notice is not None else []


def waiting(holder: dict[str, Any] | None) -> None:
    """Tell the waiting notice, if any, who is waited for."""
    if not _waiting_notice:
        return
    who = f"`{holder['command']}` (process {holder['pid']})" if holder else "another tandem process"
    _waiting_notice[0](f"waiting for {who} to finish with the warehouse...")


def holder_description() -> dict[str, Any]:
    """What this process is, for the error another process shows when it gives up waiting."""
    command = " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:]) if sys.argv and sys.argv[0] else "python"
    return {
        "pid": os.getpid(),
        "command": command[:200],
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _busy_message(what: str, holder: dict[str, Any] | None, waited: float) -> str:
    if holder:
        since = str(holder.get("since", "?")).replace("T", " ").replace("+00:00", " UTC")
        who = f"`{holder.get('command', '?')}` (process {holder.get('pid', '?')}, writing since {since}) holds it"
    else:
        who = "other tandem processes hold it"
    return (
        f"the warehouse {what} is still busy after {waited:g} s: {who}; "
        "try again when it has finished, or raise the warehouse_wait_seconds setting"
    )


class FileLease:
    """A read or write lease on a DuckDB file, through two ``flock``-ed files beside it.

    The turnstile makes the lease fair: a writer holds it while it waits for the readers in progress, so readers
    arriving after the writer wait behind it instead of keeping the warehouse busy forever.
    """

    def __init__(self, database: Path) -> None:
        self.database = database
        self.lock_path = database.with_name(database.name + ".tandem-lock")
        self.turnstile_path = database.with_name(database.name + ".tandem-turnstile")
        self.mode: LeaseMode | None = None
        self._lock_fd: int | None = None

    def acquire(self, mode: LeaseMode, wait_seconds: float) -> None:
        """Take the lease, waiting at most `wait_seconds` for the processes that hold it."""
        if self.mode is not None:
            raise RuntimeError(f"lease already held ({self.mode})")
        deadline = time.monotonic() + wait_seconds
        turnstile = os.open(self.turnstile_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            self._take(turnstile, fcntl.LOCK_EX, deadline, wait_seconds)
            lock = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                self._take(lock, fcntl.LOCK_EX if mode == "write" else fcntl.LOCK_SH, deadline, wait_seconds)
            except BaseException:
                os.close(lock)
                raise
        finally:
            os.close(turnstile)  # closing releases the turnstile: the lease itself is on the lock file
        self._lock_fd = lock
        self.mode = mode
        if mode == "write":
            os.ftruncate(lock, 0)
            os.pwrite(lock, json.dumps(holder_description()).encode(), 0)

    def _take(self, fd: int, operation: int, deadline: float, wait_seconds: float) -> None:
        pause = _FIRST_PAUSE
        told = False
        while True:
            try:
                fcntl.flock(fd, operation | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if not told and pause >= _LONGEST_PAUSE:  # a wait longer than a blink: say what for
                    waiting(self._holder())
                    told = True
                now = time.monotonic()
                if now >= deadline:
                    raise BusyError(_busy_message(str(self.database), self._holder(), wait_seconds)) from None
                time.sleep(min(pause, max(deadline - now, 0.0)))
                pause = min(pause * 2, _LONGEST_PAUSE)

    def writer_waiting(self) -> bool:
        """Whether another process is at the turnstile now: a writer waiting for the readers to leave (or, for an
        instant, a reader passing through). A process that keeps a read lease between uses gives it back then."""
        fd = os.open(self.turnstile_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)

    def _holder(self) -> dict[str, Any] | None:
        """The writer's description, as it wrote it into the lock file (None: only readers, or unreadable)."""
        try:
            text = self.lock_path.read_text(encoding="utf-8")
            found = json.loads(text) if text.strip() else None
        except (OSError, ValueError):
            return None
        return found if isinstance(found, dict) else None

    def release(self) -> None:
        if self._lock_fd is None:
            return
        fd, self._lock_fd = self._lock_fd, None
        with contextlib.suppress(OSError):
            if self.mode == "write":
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        self.mode = None


def advisory_key(*parts: str | None) -> int:
    """A stable signed 64-bit PostgreSQL advisory-lock key for a warehouse (its database and schema)."""
    digest = hashlib.blake2b("\x1f".join(["tandem-warehouse", *(p or "" for p in parts)]).encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def busy_message(what: str, waited: float) -> str:
    """The PostgreSQL form of the message (advisory locks do not say who holds them)."""
    return _busy_message(what, None, waited)
