"""Which process runs an analysis, and whether it is still alive.

A process that starts an analysis holds an exclusive lock on its own file
runners/<token>.lock in the data folder for as long as it lives; the
operating system drops the lock when the process ends, however it ends.
Whether a `running` row's process is gone is then a question any other
process on the machine can answer by trying to take that lock, whatever
its pid namespace or host name (containers).  Where no lock file can tell
(no fcntl, a row written from another data folder), the host name, pid and
the kernel's start time of that pid decide, and rows from other hosts are
left alone.
"""

from __future__ import annotations

import atexit
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: only the pid check below applies
    fcntl = None  # type: ignore[assignment]

HOST = socket.gethostname()[:255]


@dataclass(frozen=True)
class Runner:
    host: str
    pid: int
    token: str


def process_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) of a process as the Linux kernel reports them; None
    where /proc is unavailable or the process does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields 3 and 22, counted after the parenthesised command name (which may hold spaces).
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[0], fields[19]


_tokens: dict[int, str] = {}
_held: set[tuple[int, Path]] = set()
_guard = threading.Lock()


def _process_token(pid: int) -> str:
    """One token per process (per pid, so a forked worker gets its own)."""
    if pid not in _tokens:
        start = (process_stat(pid) or ("", ""))[1]
        _tokens[pid] = f"{start}:{uuid.uuid4().hex}"[:32]
    return _tokens[pid]


class Runners:
    """This process's mark on the runs it starts, and the test for other marks."""

    def __init__(self, home: Path):
        self.folder = home / "runners"

    def current(self) -> Runner:
        """This process's runner identity; its lock in this data folder is taken on first use."""
        pid = os.getpid()
        with _guard:
            token = _process_token(pid)
            if (pid, self.folder) not in _held:
                self._hold(token)
                _held.add((pid, self.folder))
        return Runner(HOST, pid, token)

    def is_gone(self, host: str, pid: int, token: str) -> bool:
        verdict = self._by_lock(token)
        if verdict is not None:
            return verdict
        with _guard:
            mine = _process_token(os.getpid())
        return _by_pid(host, pid, token, Runner(HOST, os.getpid(), mine))

    def sweep(self) -> None:
        """Remove lock files whose process has ended (they are only left by crashes)."""
        if fcntl is None or not self.folder.is_dir():
            return
        for path in self.folder.glob("*.lock"):
            self._by_lock(path.stem)

    def _hold(self, token: str) -> None:
        if fcntl is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"{_file_name(token)}.lock"
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return  # a read-only folder: the pid check still applies
        atexit.register(_release, fd, path)

    def _by_lock(self, token: str) -> bool | None:
        if fcntl is None:
            return None
        path = self.folder / f"{_file_name(token)}.lock"
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its process holds it: alive (this process included)
        except OSError:
            return None
        else:
            path.unlink(missing_ok=True)
            return True
        finally:
            os.close(fd)


def _file_name(token: str) -> str:
    return token.replace(":", "-")


def _release(fd: int, path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
        os.close(fd)
    except OSError:
        pass


def _by_pid(host: str, pid: int, token: str, me: Runner) -> bool:
    if host != HOST:
        return False
    if pid == me.pid:
        return token != me.token
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return False
    stat = process_stat(pid)
    if stat is None:
        return False  # alive, and nothing more can be learnt here
    state, started = stat
    recorded_start = token.split(":", 1)[0]
    return state == "Z" or bool(recorded_start and started != recorded_start)
