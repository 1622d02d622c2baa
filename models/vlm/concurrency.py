"""Many requests in flight to one model server, politely.

vLLM and SGLang batch the requests they have in flight, so a batch run keeps
several open (`zoomin analyze --backend remote --concurrency K`).  This
module holds what that needs beside the transport (models/vlm/remote.py):
a gate that never lets more than K requests be open at once, a connection
pool as large as the gate, and the wait before another attempt, which
honours the server's Retry-After on 429/503 and otherwise backs off
exponentially.  Each request is sent exactly as the sequential run sends it,
so the answers (and the results) are the same.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import requests
from requests.adapters import HTTPAdapter

MAX_RETRY_AFTER = 120.0  # seconds: a server asking for longer is treated as down, not waited for forever


class InFlightGate:
    """At most `limit` requests open at once (`with gate: ...`), counting the
    most that ever were (for the benchmark and the tests)."""

    def __init__(self, limit: int = 1):
        if limit < 1:
            raise ValueError(f"the number of requests in flight must be at least 1, got {limit}")
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self.open = 0
        self.peak = 0

    def __enter__(self) -> InFlightGate:
        self._slots.acquire()
        with self._lock:
            self.open += 1
            self.peak = max(self.peak, self.open)
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self.open -= 1
        self._slots.release()


def pooled_session(connections: int) -> requests.Session:
    """A session keeping as many connections to the server as requests may be in flight
    (requests' default pool of 10 would open and drop connections past that)."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(connections, 1))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def retry_after(response: requests.Response | None, now: datetime | None = None) -> float | None:
    """Seconds the server asked us to wait (Retry-After as seconds or an HTTP date), if it did."""
    value = response.headers.get("Retry-After", "").strip() if response is not None else ""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def retry_delay(response: requests.Response | None, attempt: int, backoff: float) -> float:
    """The wait before attempt `attempt + 1`: the server's Retry-After where given, else backoff x 2^(attempt-1)."""
    asked = retry_after(response)
    return asked if asked is not None else backoff * 2 ** (attempt - 1)
