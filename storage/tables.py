"""The case store's schema as SQLAlchemy 2.0 typed ORM classes.

This is the schema at the newest migration (storage/migrations/versions);
a test checks that the migrations and these classes agree.  Rows are only
ever added or moved forward in state, never rewritten in place where the
record matters: a model's region is never updated, an analyst edit is a new
row pointing at it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Fixed constraint names, so migrations can name what they alter on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and read back timezone-aware on every backend
    (SQLite keeps no zone, so a naive value read back is UTC by construction)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class Chained:
    """A record in its case's hash chain (storage/chain.py computes these; none while an
    analysis is still running)."""

    chain_seq: Mapped[int | None] = mapped_column(Integer)
    chain_prev: Mapped[str | None] = mapped_column(String(64))
    chain_hash: Mapped[str | None] = mapped_column(String(64))


class CaseRow(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Identifies the case across installations (bundles), unlike the local id.
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    notes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="open")
    final_verdict: Mapped[str | None] = mapped_column(String(20), index=True)
    final_note: Mapped[str] = mapped_column(Text, default="")
    # Verdict of the latest finished analysis, kept here so listing and
    # filtering by verdict need no scan of the analyses.
    model_verdict: Mapped[str | None] = mapped_column(String(20), index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(index=True)
    # The newest link of the case's hash chain and how many links it has.
    chain_head: Mapped[str | None] = mapped_column(String(64))
    chain_length: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Whether the analysts released the case's decisions as training data (off until they do; audited).
    training_allowed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class EvidenceFileRow(Chained, Base):
    __tablename__ = "evidence_files"
    __table_args__ = (UniqueConstraint("case_id", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    original_name: Mapped[str] = mapped_column(String(1000))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str] = mapped_column(String(20))
    mime: Mapped[str] = mapped_column(String(100))
    width: Mapped[int]
    height: Mapped[int]
    intake_at: Mapped[datetime]
    intake_by: Mapped[str] = mapped_column(String(200))


class AnalysisRow(Chained, Base):
    __tablename__ = "analyses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    evidence_file_id: Mapped[int] = mapped_column(ForeignKey("evidence_files.id"), index=True)
    backend: Mapped[str] = mapped_column(String(100))
    backend_version: Mapped[str] = mapped_column(String(300), default="")
    model_id: Mapped[str] = mapped_column(String(300), default="")
    model_revision: Mapped[str] = mapped_column(String(200), default="")
    quantization: Mapped[str] = mapped_column(String(50), default="")
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    software: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), index=True)
    error: Mapped[str] = mapped_column(Text, default="")
    # Which process runs a `running` analysis, so a later start can tell a
    # crashed run (interrupted) from one another session is still running.
    runner_host: Mapped[str] = mapped_column(String(255), default="")
    runner_pid: Mapped[int] = mapped_column(default=0)
    runner_token: Mapped[str] = mapped_column(String(32), default="")
    started_by: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    timings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    verdict: Mapped[str | None] = mapped_column(String(20))
    score: Mapped[float | None] = mapped_column(Float)
    explanation: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[list[Any]] = mapped_column(default=list)
    notes: Mapped[list[Any]] = mapped_column(default=list)
    raw_output: Mapped[dict[str, Any] | None]


class RegionRow(Chained, Base):
    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    analysis_id: Mapped[int] = mapped_column(ForeignKey("analyses.id"), index=True)
    # Unique: a version is edited at most once, so concurrent edits of the
    # same version cannot both succeed and fork the history.
    parent_region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), unique=True)
    source: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    region_key: Mapped[str] = mapped_column(String(50), default="")
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    label: Mapped[str] = mapped_column(String(500), default="")
    explanation: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[list[Any]] = mapped_column(default=list)
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class RegionQuestionRow(Chained, Base):
    __tablename__ = "region_questions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    backend: Mapped[str] = mapped_column(String(300))
    asked_by: Mapped[str] = mapped_column(String(200))
    asked_at: Mapped[datetime]


class AuditEventRow(Chained, Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_actor_case_id", "actor", "case_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(50))
    subject: Mapped[str] = mapped_column(String(100), default="")
    before: Mapped[Any | None] = mapped_column(JSON)
    after: Mapped[Any | None] = mapped_column(JSON)
    at: Mapped[datetime]


class ReportRow(Base):
    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    analysis_id: Mapped[int | None] = mapped_column(ForeignKey("analyses.id"))
    file_name: Mapped[str] = mapped_column(String(1000))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    # The case's chain head when the report was recorded: the record it describes.
    chain_head: Mapped[str | None] = mapped_column(String(64))


# Perceptual hashes cut into this many 16-bit bands, each an integer column: two hashes within
# Hamming distance 15 share at least one band exactly (pigeonhole), so a PDQ lookup fetches
# candidates by band equality and checks the exact distance (storage/similarity.py).  Keypoint
# descriptors are looked up by pairs of neighbouring bands (32-bit keys, migration 0008).
HASH_BANDS = 16
BAND_COLUMNS = tuple(f"band_{n:02d}" for n in range(HASH_BANDS))
# (first, second) band of each index: neighbouring bands in either order, so every band leads one
# index (a PDQ band lookup uses its prefix) and every even-odd pair is one key.
BAND_PAIRS = tuple(pair for k in range(0, HASH_BANDS, 2) for pair in ((k, k + 1), (k + 1, k)))
KEY_INDEX_OWNERS = ("evidence_file_id", "list_entry_id")


class HashListRow(Base):
    """A hash list another organisation shared, as imported (who, when, from which file)."""

    __tablename__ = "hash_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(200), index=True)
    file_name: Mapped[str] = mapped_column(String(1000))
    file_sha256: Mapped[str] = mapped_column(String(64))
    entries: Mapped[int] = mapped_column(Integer)
    imported_by: Mapped[str] = mapped_column(String(200))
    imported_at: Mapped[datetime]


class HashListEntryRow(Base):
    """One line of a shared list: the list's own words, never this newsroom's decision."""

    __tablename__ = "hash_list_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("hash_lists.id"), index=True)
    line: Mapped[int] = mapped_column(Integer)
    verdict: Mapped[str] = mapped_column(String(40), default="")
    label: Mapped[str] = mapped_column(String(500), default="")
    listed_on: Mapped[str] = mapped_column(String(40), default="")


class PerceptualHashRow(Base):
    """A perceptual hash of a stored evidence file (or of a shared list's entry): derived from
    the file, so it is an index, not part of the case record, and `zoomin cases reindex`
    can compute it again."""

    __tablename__ = "perceptual_hashes"
    # The key indexes (a even, b = a + 1) hold the owners too, so a keypoint lookup's shortlist
    # is read from the index alone (migration 0009).
    __table_args__ = tuple(Index(f"ix_perceptual_hashes_pair_{a:02d}_{b:02d}", "algorithm", BAND_COLUMNS[a],
                                 BAND_COLUMNS[b], *(KEY_INDEX_OWNERS if a % 2 == 0 else ()))
                           for a, b in BAND_PAIRS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    evidence_file_id: Mapped[int | None] = mapped_column(ForeignKey("evidence_files.id"), index=True)
    list_entry_id: Mapped[int | None] = mapped_column(ForeignKey("hash_list_entries.id"), index=True)
    algorithm: Mapped[str] = mapped_column(String(20))
    # Which part of the picture: "full" for PDQ, "kp" for a keypoint descriptor (models/similarity/).
    window: Mapped[str] = mapped_column(String(20))
    hash: Mapped[str] = mapped_column(String(64))
    quality: Mapped[int] = mapped_column(Integer)
    # For a keypoint descriptor (the crop-tolerant hash): where it lies, as fractions of the
    # picture's longer side, so matched keypoints can be checked for one consistent geometry.
    key_x: Mapped[float | None] = mapped_column(Float)
    key_y: Mapped[float | None] = mapped_column(Float)
    band_00: Mapped[int] = mapped_column(Integer)
    band_01: Mapped[int] = mapped_column(Integer)
    band_02: Mapped[int] = mapped_column(Integer)
    band_03: Mapped[int] = mapped_column(Integer)
    band_04: Mapped[int] = mapped_column(Integer)
    band_05: Mapped[int] = mapped_column(Integer)
    band_06: Mapped[int] = mapped_column(Integer)
    band_07: Mapped[int] = mapped_column(Integer)
    band_08: Mapped[int] = mapped_column(Integer)
    band_09: Mapped[int] = mapped_column(Integer)
    band_10: Mapped[int] = mapped_column(Integer)
    band_11: Mapped[int] = mapped_column(Integer)
    band_12: Mapped[int] = mapped_column(Integer)
    band_13: Mapped[int] = mapped_column(Integer)
    band_14: Mapped[int] = mapped_column(Integer)
    band_15: Mapped[int] = mapped_column(Integer)


class HashKeyCountRow(Base):
    """How many stored keypoint descriptors carry each 32-bit key (bands 2k and 2k+1 at key
    position k; migration 0009).  Real corners share generic keys (a frame's corner, a straight
    edge: one key in twenty descriptors in the dev pictures), and a lookup skips the keys held by
    too many (storage/hash_keys.py).  Kept by the same writes as perceptual_hashes; an index too."""

    __tablename__ = "hash_key_counts"
    __table_args__ = {"sqlite_with_rowid": False}

    algorithm: Mapped[str] = mapped_column(String(20), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    band_a: Mapped[int] = mapped_column(Integer, primary_key=True)
    band_b: Mapped[int] = mapped_column(Integer, primary_key=True)
    descriptors: Mapped[int] = mapped_column(Integer)


class ServerEventRow(Base):
    """A sign-in to the newsroom server, or a refused one (migration 0007): the
    server's log, not a case's record, so not chained."""

    __tablename__ = "server_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)  # the name given, whether or not it exists
    action: Mapped[str] = mapped_column(String(50))  # login, login-failed, login-throttled
    client: Mapped[str] = mapped_column(String(100), default="")
    detail: Mapped[Any | None] = mapped_column(JSON)
