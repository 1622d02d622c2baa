"""The case store: every case saved through SQLAlchemy (SQLite by default,
any SQLAlchemy URL through DATABASE_URL), evidence files kept intact by
SHA-256, every analyst action on record.  See docs/case-store.md.

Use CaseStore; it takes and returns typed values and raises only StoreError.
"""

from storage.bundle_format import BundleLimits
from storage.config import data_home, default_analyst
from storage.errors import StoreError
from storage.evidence import EvidenceIntake
from storage.records import (
    UNCHANGED,
    AnalysisRecord,
    AuditEvent,
    BackendInfo,
    BundleSummary,
    CaseDetail,
    CasePage,
    CaseSummary,
    EvidenceFileRecord,
    QuestionRecord,
    RegionRecord,
    ReportRecord,
    VerifyProblem,
)
from storage.serialization import to_json
from storage.store import CaseStore

__all__ = [
    "UNCHANGED", "AnalysisRecord", "AuditEvent", "BackendInfo", "BundleLimits", "BundleSummary", "CaseDetail",
    "CasePage", "CaseStore", "CaseSummary", "EvidenceFileRecord", "EvidenceIntake", "QuestionRecord",
    "RegionRecord", "ReportRecord", "StoreError", "VerifyProblem", "data_home", "default_analyst", "to_json",
]
