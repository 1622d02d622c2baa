"""The tamper-evident case record: every record of a case chained by hashes.

Each evidence file, finished analysis, region version, question and audit
event holds its place in its case's chain (chain_seq), the hash of the
record before it (chain_prev) and its own hash (chain_hash): SHA-256 over
the predecessor's hash and a canonical JSON of the record's content.  The
case keeps the newest hash (chain_head) and the chain's length; each report
keeps the head it was made from.  Changing, deleting or inserting a record
in the database, even with its file, breaks a link `zoomin verify` names
(storage/verify.py).

The hashes are computed in ONE place, a before_flush listener on every ORM
session, so no writer in storage/ has to remember them.  An analysis is
linked when it stops running (done, failed, interrupted): a running one
still changes, a finished one never does.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Float, Integer, event, select
from sqlalchemy.orm import Session

from storage.tables import (
    AnalysisRow,
    AuditEventRow,
    Base,
    CaseRow,
    EvidenceFileRow,
    RegionQuestionRow,
    RegionRow,
    ReportRow,
)

# What each link covers: every column that says what happened (ids are left
# out: they are assigned after the hash is computed; the chain orders the
# records instead).  Fixed here, so a later column cannot change old hashes.
CHAINED_COLUMNS: dict[str, tuple[str, ...]] = {
    "evidence_files": ("case_id", "sha256", "original_name", "size_bytes", "format", "mime", "width", "height",
                       "intake_at", "intake_by"),
    "analyses": ("case_id", "evidence_file_id", "backend", "backend_version", "model_id", "model_revision",
                 "quantization", "parameters", "software", "status", "error", "started_by", "started_at",
                 "finished_at", "timings", "verdict", "score", "explanation", "evidence", "notes", "raw_output"),
    "regions": ("analysis_id", "parent_region_id", "source", "status", "region_key", "x1", "y1", "x2", "y2",
                "score", "label", "explanation", "evidence", "note", "created_by", "created_at"),
    "region_questions": ("region_id", "question", "answer", "backend", "asked_by", "asked_at"),
    "audit_events": ("case_id", "actor", "action", "subject", "before", "after", "at"),
}
CHAINED_ROWS: dict[type, str] = {EvidenceFileRow: "evidence_files", AnalysisRow: "analyses",
                                 RegionRow: "regions", RegionQuestionRow: "region_questions",
                                 AuditEventRow: "audit_events"}
# How a verify message names a record of each table.
RECORD_NAMES = {"evidence_files": "evidence file", "analyses": "analysis", "regions": "region",
                "region_questions": "question", "audit_events": "audit event"}
_HEADS = "zoomin_chain_heads"
_JSON_COLUMNS = {"parameters", "software", "timings", "evidence", "notes", "raw_output", "before", "after"}


def genesis(case_uid: str) -> str:
    """The predecessor of a case's first record: binds the chain to that case."""
    return hashlib.sha256(f"zoomin-case-chain-v1\n{case_uid}".encode()).hexdigest()


def canonical(table: str, seq: int, values: dict[str, Any]) -> str:
    """One text for a record's content, the same whether the values come from
    a writer (before the INSERT) or are read back from any database."""
    content = {"table": table, "seq": seq,
               **{name: _normal(table, name, values.get(name)) for name in CHAINED_COLUMNS[table]}}
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True)


def link_hash(previous: str, table: str, seq: int, values: dict[str, Any]) -> str:
    return hashlib.sha256(f"{previous}\n{canonical(table, seq, values)}".encode("ascii")).hexdigest()


def _normal(table: str, name: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
        return moment.isoformat(timespec="microseconds")
    if name in _JSON_COLUMNS:
        return json.loads(json.dumps(value))  # as any database gives it back: tuples as lists, keys as text
    column = Base.metadata.tables[table].c[name]
    if isinstance(column.type, Float):
        return float(value)
    if isinstance(column.type, Integer):
        return int(value)
    return value


def row_values(row: Any) -> dict[str, Any]:
    table = CHAINED_ROWS[type(row)]
    return {name: getattr(row, name) for name in CHAINED_COLUMNS[table]}


def is_linkable(row: Any) -> bool:
    return not (isinstance(row, AnalysisRow) and row.status == "running")


# ---------------------------------------------------------------------- the listener


@event.listens_for(Session, "before_flush")
def _link_new_records(session: Session, _context: Any, _instances: Any) -> None:
    pending = [row for row in session.dirty if isinstance(row, AnalysisRow) and row.chain_hash is None
               and is_linkable(row)]
    pending += [row for row in session.new
                if (type(row) in CHAINED_ROWS and is_linkable(row)) or isinstance(row, ReportRow)]
    if not pending:
        return
    # Kept for the transaction: its first flush for a case reads the head (and, on
    # PostgreSQL, takes the case's row lock, held until the transaction ends).
    heads: dict[int, tuple[CaseRow, str, int]] = session.info.setdefault(_HEADS, {})
    with session.no_autoflush:
        for row in pending:
            case_id = _case_of(session, row)
            if case_id not in heads:
                heads[case_id] = _head(session, case_id)
            case, previous, length = heads[case_id]
            if isinstance(row, ReportRow):
                row.chain_head = previous  # the record the report was made from
                continue
            _apply_defaults(row)
            seq = length + 1
            row.chain_seq, row.chain_prev = seq, previous
            row.chain_hash = link_hash(previous, CHAINED_ROWS[type(row)], seq, row_values(row))
            heads[case_id] = (case, row.chain_hash, seq)
        for case, head, length in heads.values():
            if case.chain_length != length:
                case.chain_head, case.chain_length = head, length


@event.listens_for(Session, "after_transaction_end")
def _forget_heads(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the transaction itself, not one of its flushes
        session.info.pop(_HEADS, None)


def _head(session: Session, case_id: int) -> tuple[CaseRow, str, int]:
    """The case's newest link, read from the database under the case's row lock (PostgreSQL:
    concurrent writers to one case queue here instead of forking the chain; SQLite writers are
    serial already).  Only these columns are read: the case object may hold unflushed changes."""
    query = select(CaseRow.uid, CaseRow.chain_head, CaseRow.chain_length).where(CaseRow.id == case_id)
    if session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update()
    found = session.execute(query).one_or_none()
    case = session.get(CaseRow, case_id)
    assert case is not None, "a record names a case that exists (foreign key)"
    uid, head, length = found if found is not None else (case.uid, case.chain_head, case.chain_length)
    return case, head or genesis(uid), length or 0


def _case_of(session: Session, row: Any) -> int:
    if isinstance(row, RegionQuestionRow):
        region = session.get(RegionRow, row.region_id)
        assert region is not None, "a question names a region that exists (foreign key)"
        row = region
    if isinstance(row, RegionRow):
        analysis = session.get(AnalysisRow, row.analysis_id)
        assert analysis is not None, "a region names an analysis that exists (foreign key)"
        return analysis.case_id
    return row.case_id


def _apply_defaults(row: Any) -> None:
    """Column defaults are filled in by the INSERT, after this hash; fill them now so the hash
    covers what will be stored."""
    for column in row.__table__.columns:
        if column.default is None or getattr(row, column.key) is not None:
            continue
        default = column.default
        setattr(row, column.key, default.arg(None) if default.is_callable else default.arg)
