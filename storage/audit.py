"""The audit trail: one event per change, written in the same transaction
as the change itself, so the record and the log can never disagree."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from storage.errors import StoreError
from storage.identity import signed_in
from storage.tables import AuditEventRow, CaseRow, ServerEventRow, utc_now

MAX_NAME = 200
# A change that belongs to no case, logged server-wide (storage/server_events.py reads it).
HASHLIST_IMPORTED = "hashlist-imported"


def require_analyst(analyst: str, export: bool = False) -> str:
    """Every change is signed: an empty or absurd name is refused, not guessed.
    Where a login applies (storage/identity.py) the signed-in user signs
    whatever name was typed, and a viewer may only export."""
    user = signed_in()
    if user is not None:
        if not (user.may_change or export):
            raise StoreError(f"{user.name or 'this login'} is a viewer: viewers read and export cases; "
                             "changing one needs an analyst login", "forbidden")
        if user.name:
            return user.name
    name = (analyst or "").strip()
    if not name:
        raise StoreError("who is making this change? an analyst name is required", "invalid")
    if len(name) > MAX_NAME:
        raise StoreError(f"an analyst name is at most {MAX_NAME} characters", "invalid")
    return name


def load_case(session: Session, case_id: int, for_update: bool = False) -> CaseRow:
    row = session.get(CaseRow, case_id, with_for_update=for_update or None)
    if row is None:
        raise StoreError(f"no case {case_id}", "not-found")
    return row


def record(session: Session, case: CaseRow, actor: str, action: str, subject: str = "",
           before: Any = None, after: Any = None, at: datetime | None = None) -> AuditEventRow:
    """Log one step on `case` and mark the case as changed."""
    when = at or utc_now()
    event = AuditEventRow(case_id=case.id, actor=actor, action=action, subject=subject, before=before,
                          after=after, at=when)
    session.add(event)
    case.updated_at = when
    return event


def record_server_wide(session: Session, actor: str, action: str, detail: Any = None) -> None:
    """Log a change that belongs to no case (a shared hash list imported) in the server's log
    (table server_events, read by storage.server_events.server_events), in the caller's
    transaction: the change and its log line land together or not at all."""
    session.add(ServerEventRow(at=utc_now(), actor=actor[:MAX_NAME], action=action, client="", detail=detail))
