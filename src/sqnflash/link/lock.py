"""One owner per modem: an exclusive lock file per serial device (and per IMEI) for a whole run.

Two programs on one modem ruin each other's transfers: the second one's AT commands land inside
the first one's STP session. Every sqnflash process that opens a port therefore first takes a lock
on it, before a byte is sent, and holds it until the port is closed.

The lock is the operating system's (`flock` on POSIX, `msvcrt.locking` on Windows) on a small file
in sqnflash's state folder (the folder of the default journal). The OS drops it when the process
dies, even of SIGKILL, so a crashed run never blocks the next one. The file's content (pid, start
time, command) only serves to say who holds it; a released lock leaves the file empty, so content
found in a file whose lock was free is the trace of a run that ended without releasing it (killed),
and taking it over says so.

The folder is the same for every run of the user whatever `--journal` it writes, so that two runs
with two journals still keep off each other's modem.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

STATE_ENV_VAR = "SQNFLASH_JOURNAL"  # the lock files live beside the default journal
_HOLDER_READ_TRIES = 10  # a holder writes its name right after it took the lock...
_HOLDER_READ_PAUSE_S = 0.02  # ...so an empty file is read again a few times
_WINDOWS_LOCK_OFFSET = 1 << 30  # Windows locks are mandatory: lock a byte beyond the content
_URL_SCHEMES_WITHOUT_LOCK = ("sim", "loop")  # in-process modems: every open is a modem of its own


def state_dir() -> Path:
    """The folder of the default journal: `$SQNFLASH_JOURNAL`'s, else the XDG state folder."""
    explicit = os.environ.get(STATE_ENV_VAR)
    if explicit:
        return Path(explicit).expanduser().parent
    state = os.environ.get("XDG_STATE_HOME")
    base = Path(state).expanduser() if state else Path.home() / ".local" / "state"
    return base / "sqnflash"


def port_key(name: str) -> str | None:
    """What identifies the device behind a port name: the resolved device path (symlinks such as
    /dev/serial/by-id/... lead to the same lock), the URL's host and port for network ports; None
    for ports that are not shared with anybody (`sim://`, `loop://`)."""
    if "://" in name:
        parts = urlsplit(name)
        scheme = parts.scheme.lower()
        if scheme in _URL_SCHEMES_WITHOUT_LOCK:
            return None
        if scheme == "spy":  # spy:///dev/ttyUSB0?file=...: the device it wraps
            return port_key(parts.path) if parts.path else None
        return f"{scheme}://{parts.netloc.lower()}{parts.path}"
    if sys.platform == "win32":
        return name.upper().removeprefix("\\\\.\\")
    return os.path.realpath(name)


def lock_path(folder: Path, kind: str, key: str) -> Path:
    """A readable and unique file name for `key` (a device path or an IMEI)."""
    readable = re.sub(r"[^A-Za-z0-9]+", "-", key).strip("-")[:60]
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return folder / f"{kind}-{readable}-{digest}.lock"


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        import ctypes

        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return bool(kernel32.GetLastError() == 5)  # access denied: it exists
        try:
            code = ctypes.c_ulong()
            kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return bool(code.value == 259)  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a lock, as its file says."""

    pid: int | None = None
    since: float | None = None
    command: str | None = None
    port: str | None = None

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        if not text.strip():
            return None
        try:
            data = json.loads(text)
        except ValueError:
            return Holder()
        if not isinstance(data, dict):
            return Holder()
        pid, since = data.get("pid"), data.get("since")
        return cls(pid if isinstance(pid, int) else None,
                   float(since) if isinstance(since, (int, float)) else None,
                   str(data["command"]) if data.get("command") else None,
                   str(data["port"]) if data.get("port") else None)

    def describe(self) -> str:
        """'pid 4242 (sqnflash upgrade) since 2026-11-30 08:23:08'."""
        who = f"pid {self.pid}" if self.pid is not None else "another process"
        if self.command:
            who += f" ({self.command})"
        if self.since is not None:
            who += " since " + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        return who

    @property
    def alive(self) -> bool:
        return self.pid is not None and pid_alive(self.pid)


class LockHeld(Exception):
    """The lock is held by a running process (`holder`)."""

    def __init__(self, path: Path, holder: Holder) -> None:
        super().__init__(f"{path} is held by {holder.describe()}")
        self.path = path
        self.holder = holder


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _read(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 4096).decode("utf-8", "replace")


def _command() -> str:
    """'sqnflash upgrade' (the subcommand, without its arguments)."""
    words = [Path(sys.argv[0]).name if sys.argv else "sqnflash"]
    if words[0] in ("__main__.py", "-m", "-c"):
        words[0] = "sqnflash"
    words += [arg for arg in sys.argv[1:2] if not arg.startswith("-")]
    return " ".join(words)


class OwnerLock:
    """A lock this process holds; `release()` (or the process ending) frees it."""

    def __init__(self, path: Path, fd: int, *, previous: Holder | None) -> None:
        self.path = path
        self._fd: int | None = fd
        self.previous = previous  # set when the lock was taken over from a run that died

    @classmethod
    def acquire(cls, path: Path, *, port: str, clock: Callable[[], float] = time.time
                ) -> OwnerLock:
        """Take the lock at `path` without waiting. Raises LockHeld when a process holds it,
        OSError when the file cannot be created or locked."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
        try:
            if not _try_lock(fd):
                raise LockHeld(path, _holder_of(fd))
            previous = Holder.parse(_read(fd))
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps({"pid": os.getpid(), "since": clock(),
                                     "command": _command(), "port": port}).encode())
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, previous=previous)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Empty the file (a clean end leaves no owner behind), then unlock it."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            with contextlib.suppress(OSError):
                _unlock(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> OwnerLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _holder_of(fd: int) -> Holder:
    for _ in range(_HOLDER_READ_TRIES):
        holder = Holder.parse(_read(fd))
        if holder is not None:
            return holder
        time.sleep(_HOLDER_READ_PAUSE_S)
    return Holder()


def current_holder(path: Path) -> Holder | None:
    """Who holds the lock at `path` now, from its content alone (no locking, so a run that
    starts at this moment is never disturbed): None when it is free or its holder is gone."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    holder = Holder.parse(text)
    return holder if holder is not None and holder.alive else None
