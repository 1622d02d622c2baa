"""Engine, transactions and database errors, for SQLite and any other
SQLAlchemy URL.

SQLite gets WAL (readers never wait for the writer), foreign keys, a busy
timeout, and BEGIN IMMEDIATE for write transactions: a writer takes the
write lock when it starts, so two writers queue on the busy timeout instead
of one failing with "database is locked" halfway through.  What still fails
on a lock (a timeout under heavy load, a PostgreSQL serialization failure)
is retried a bounded number of times; every unit of work runs in one
transaction, so a retry never repeats a half-done step.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session, sessionmaker

from models.safe_text import strict_dumps
from storage.errors import StoreError

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
WRITE_ATTEMPTS = 6
_WRITE_OPTION = "zoomin_write"
# PostgreSQL: serialization_failure, deadlock_detected, lock_not_available.
_RETRY_SQLSTATES = {"40001", "40P01", "55P03"}


def _strict_json(value: object) -> str:
    """JSON columns hold strict JSON: a NaN or a lone surrogate that got past the
    boundaries (models/safe_text.py) is repaired here rather than failing the write."""
    return strict_dumps(value, note_key=None, ensure_ascii=True)


class Database:
    """One engine and the two kinds of transaction the store uses."""

    def __init__(self, url: URL):
        self.url = url
        self.is_sqlite = url.get_backend_name() == "sqlite"
        try:
            if self.is_sqlite:
                self.engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000},
                                            json_serializer=_strict_json)
                _configure_sqlite(self.engine)
            else:
                self.engine = create_engine(url, pool_pre_ping=True, json_serializer=_strict_json)
        except (NoSuchModuleError, ImportError) as exc:
            raise StoreError(f"no database driver for {self.describe()}: {exc} (for PostgreSQL install "
                             "the psycopg driver: pip install 'zoomin-workbench[postgres]')", "unavailable") from None
        self._read_sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(self.engine.execution_options(**{_WRITE_OPTION: True}),
                                            expire_on_commit=False)

    def describe(self) -> str:
        if self.is_sqlite:
            return f"the case database {self.url.database}"
        return f"the case database {self.url.render_as_string(hide_password=True)}"

    def read(self, work: Callable[[Session], T]) -> T:
        """Run `work` in a read transaction (one consistent snapshot)."""
        try:
            with self._read_sessions() as session, session.begin():
                return work(session)
        except SQLAlchemyError as exc:
            raise self.translate(exc) from None

    def write(self, work: Callable[[Session], T]) -> T:
        """Run `work` in one write transaction: all of it is committed or none."""
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with self._write_sessions() as session, session.begin():
                    return work(session)
            except (OperationalError, DBAPIError) as exc:
                if not _is_transient(exc) or attempt == WRITE_ATTEMPTS - 1:
                    raise self.translate(exc) from None
            except SQLAlchemyError as exc:
                raise self.translate(exc) from None
            # Jittered backoff so queued writers do not retry in lockstep.
            time.sleep(0.05 * (2 ** attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")  # pragma: no cover

    def translate(self, exc: SQLAlchemyError) -> StoreError:
        """A database failure as one line the analyst can act on."""
        text = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        lowered = text.lower()
        where = self.describe()
        if "readonly" in lowered or "read-only" in lowered:
            return StoreError(f"{where} is read-only: nothing was saved ({text})", "storage")
        if "disk is full" in lowered or "no space" in lowered:
            return StoreError(f"the disk holding {where} is full: nothing was saved", "storage")
        if "not a database" in lowered:
            return StoreError(f"{where} is not a ZoomIn case database (or it is damaged): {text}", "unavailable")
        if "unable to open" in lowered:
            return StoreError(f"cannot open {where}: {text}", "unavailable")
        if "locked" in lowered or "busy" in lowered:
            return StoreError(f"{where} stayed busy with other writers; nothing was saved, try again", "busy")
        if isinstance(exc, IntegrityError):
            return StoreError(f"the change conflicts with what is already on record: {text}", "conflict")
        if isinstance(exc, OperationalError):
            return StoreError(f"cannot use {where}: {text}", "unavailable")
        return StoreError(f"case database error: {text}", "unavailable")

    def dispose(self) -> None:
        self.engine.dispose()


def _is_transient(exc: DBAPIError) -> bool:
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    if code in _RETRY_SQLSTATES:
        return True
    text = str(getattr(exc, "orig", exc)).lower()
    return "database is locked" in text or "database table is locked" in text or "busy" in text


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # SQLAlchemy, not the sqlite3 module, decides when transactions begin
        # (see _on_begin); the module's own implicit BEGIN would be deferred.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            # WAL + NORMAL survives any application crash; only a power cut
            # can lose the last commits, never corrupt the file.
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:
        write = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
