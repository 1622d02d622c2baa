"""Shared hash lists: this newsroom's concluded cases as PDQ hashes for others, and other
organisations' lists imported beside our own cases (their words, kept apart, named by source).

The format (docs/case-store.md), CSV with a header, in the column order of the PDQ
hash-sharing convention (ThreatExchange / Hasher-Matcher-Actioner: the hash first, then
its quality):

    hash,quality,verdict,concluded_on,case_uid[,note]

`hash` is PDQ in 64 hex digits; `quality` 0-100; `verdict` ai-generated | real |
inconclusive or the list's own word (at most 40 characters); `concluded_on` YYYY-MM-DD.
A JSON array of objects with the same keys is read and written too.  An import is checked
whole first: any bad line is reported with its number and nothing is imported.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.similarity.hashes import FULL, PDQ, ImageHash
from storage.cases import _conclusion as conclusion
from storage.audit import HASHLIST_IMPORTED, record_server_wide
from storage.errors import StoreError
from storage.similarity import hash_row, insert_hashes
from storage.tables import CaseRow, EvidenceFileRow, HashListEntryRow, HashListRow, PerceptualHashRow, utc_now

COLUMNS = ("hash", "quality", "verdict", "concluded_on", "case_uid")
MAX_BYTES = 64 * 1024 * 1024
MAX_ENTRIES = 1_000_000
MAX_ERRORS_SHOWN = 10
_HEX = re.compile(r"^[0-9a-f]{64}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class ListEntry:
    line: int
    hash: str
    quality: int
    verdict: str
    listed_on: str
    label: str


def export_rows(session: Session, with_notes: bool = False) -> list[dict]:
    """One row per PDQ hash of an evidence file in a concluded case (no images; notes only if asked)."""
    rows = []
    query = select(CaseRow, PerceptualHashRow.hash, PerceptualHashRow.quality) \
        .join(EvidenceFileRow, EvidenceFileRow.case_id == CaseRow.id) \
        .join(PerceptualHashRow, PerceptualHashRow.evidence_file_id == EvidenceFileRow.id) \
        .where(CaseRow.final_verdict.is_not(None), PerceptualHashRow.algorithm == PDQ) \
        .order_by(CaseRow.id, EvidenceFileRow.id)
    for case, digest, quality in session.execute(query):
        event = conclusion(session, case)
        row = {"hash": digest, "quality": quality, "verdict": case.final_verdict,
               "concluded_on": f"{(event.at if event else case.updated_at):%Y-%m-%d}", "case_uid": case.uid}
        if with_notes:
            row["note"] = case.final_note
        rows.append(row)
    return rows


def write_list(rows: list[dict], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, indent=1, ensure_ascii=False) + "\n"
    buffer = io.StringIO()
    columns = list(COLUMNS) + (["note"] if rows and "note" in rows[0] else [])
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def parse_list(data: bytes, name: str) -> list[ListEntry]:
    """Every entry, or StoreError naming the bad lines (by number)."""
    if len(data) > MAX_BYTES:
        raise StoreError(f"{name}: a hash list is at most {MAX_BYTES // (1024 * 1024)} MB", "invalid")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StoreError(f"{name}: not UTF-8 text (byte {exc.start}); nothing was imported", "invalid") from None
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StoreError(f"{name}: line {exc.lineno}: not valid JSON ({exc.msg}); nothing was imported",
                             "invalid") from None
        rows = [(n + 1, item) for n, item in enumerate(items)]
    else:
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "hash" not in [f.strip().lower() for f in reader.fieldnames]:
            raise StoreError(f"{name}: line 1: the header must name a 'hash' column; nothing was imported", "invalid")
        try:
            rows = [(reader.line_num, {(k or "").strip().lower(): v for k, v in row.items()}) for row in reader]
        except csv.Error as exc:
            raise StoreError(f"{name}: line {reader.line_num}: {exc}; nothing was imported", "invalid") from None
    if len(rows) > MAX_ENTRIES:
        raise StoreError(f"{name}: at most {MAX_ENTRIES} entries in one list", "invalid")
    entries, errors = [], []
    for line, item in rows:
        try:
            entries.append(_entry(line, item))
        except ValueError as exc:
            errors.append(f"line {line}: {exc}")
    if errors:
        shown = "; ".join(errors[:MAX_ERRORS_SHOWN]) + (f"; and {len(errors) - MAX_ERRORS_SHOWN} more"
                                                        if len(errors) > MAX_ERRORS_SHOWN else "")
        raise StoreError(f"{name}: {len(errors)} bad line(s), nothing was imported: {shown}", "invalid")
    if not entries:
        raise StoreError(f"{name}: the list has no entries; nothing was imported", "invalid")
    return entries


def _entry(line: int, item: object) -> ListEntry:
    if not isinstance(item, dict):
        raise ValueError("an entry is an object with a 'hash'")
    digest = str(item.get("hash") or "").strip().lower()
    if not _HEX.match(digest):
        raise ValueError("the hash is not 64 hex digits (a PDQ hash)")
    raw_quality = item.get("quality")
    try:
        quality = 100 if raw_quality in (None, "") else int(str(raw_quality).strip())
    except ValueError:
        raise ValueError(f"quality {str(raw_quality)[:20]!r} is not a whole number") from None
    if not 0 <= quality <= 100:
        raise ValueError("quality is between 0 and 100")
    verdict = _text(item.get("verdict"), 40, "verdict")
    listed_on = _text(item.get("concluded_on") or item.get("listed_on"), 40, "date")
    if listed_on and not _DATE.match(listed_on):
        raise ValueError(f"the date {listed_on!r} is not YYYY-MM-DD")
    label = _text(item.get("label") or item.get("case_uid"), 500, "label")
    return ListEntry(line, digest, quality, verdict, listed_on, label)


def _text(value: object, limit: int, what: str) -> str:
    text = "" if value is None else str(value).strip()
    if len(text) > limit:
        raise ValueError(f"the {what} is longer than {limit} characters")
    if any(not ch.isprintable() for ch in text):
        raise ValueError(f"the {what} holds control characters")
    return text


def import_list(session: Session, entries: list[ListEntry], source: str, file_name: str, data: bytes,
                analyst: str) -> int:
    """The whole list in the caller's one transaction: entries and their index rows."""
    source = _text(source, 200, "source") if source else ""
    if not source:
        raise StoreError("name the list's source (--source), so its matches say whose decision they are", "invalid")
    listed = HashListRow(source=source, file_name=file_name[-1000:], file_sha256=hashlib.sha256(data).hexdigest(),
                         entries=len(entries), imported_by=analyst, imported_at=utc_now())
    session.add(listed)
    session.flush()
    record_server_wide(session, analyst, HASHLIST_IMPORTED, {
        "list_id": listed.id, "source": source, "file_name": listed.file_name, "entries": len(entries),
        "file_sha256": listed.file_sha256})
    rows = [HashListEntryRow(list_id=listed.id, line=e.line, verdict=e.verdict, label=e.label, listed_on=e.listed_on)
            for e in entries]
    session.add_all(rows)
    session.flush()
    insert_hashes(session, [hash_row(ImageHash(PDQ, FULL, e.hash, e.quality), list_entry_id=row.id)
                            for e, row in zip(entries, rows)])
    return listed.id
