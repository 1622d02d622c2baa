"""The newsroom server's own log (table server_events, migration 0007):
sign-ins, failed sign-ins and refused ones, and the changes that belong to no case (a
shared hash list imported, written by storage.audit.record_server_wide).  Written in a transaction of its
own; read newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from storage.audit import HASHLIST_IMPORTED
from storage.tables import ServerEventRow, utc_now

if TYPE_CHECKING:
    from storage.store import CaseStore

# Every action the log holds: a reader (or a filter on action) can rely on this list.
ACTIONS = ("login", "login-failed", "login-throttled", "logout", HASHLIST_IMPORTED)


@dataclass(frozen=True)
class ServerEvent:
    id: int
    at: datetime
    actor: str
    action: str
    client: str
    detail: Any


def record_server_event(store: CaseStore, actor: str, action: str, client: str = "",
                        detail: Any = None) -> ServerEvent:
    if action not in ACTIONS:
        raise ValueError(f"unknown server event {action!r}")

    def write(session) -> ServerEvent:
        row = ServerEventRow(at=utc_now(), actor=actor[:200], action=action, client=client[:100], detail=detail)
        session.add(row)
        session.flush()
        return _event(row)

    return store._db.write(write)


def server_events(store: CaseStore, limit: int = 100, actor: str | None = None) -> list[ServerEvent]:
    def read(session) -> list[ServerEvent]:
        query = select(ServerEventRow).order_by(ServerEventRow.id.desc()).limit(limit)
        if actor is not None:
            query = query.where(ServerEventRow.actor == actor)
        return [_event(row) for row in session.scalars(query)]

    return store._db.read(read)


def _event(row: ServerEventRow) -> ServerEvent:
    return ServerEvent(row.id, row.at, row.actor, row.action, row.client, row.detail)
