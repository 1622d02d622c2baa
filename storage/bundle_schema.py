"""What an imported case.json must satisfy before anything is written.

A bundle's JSON is hostile until proven otherwise.  It is parsed only after
its nesting depth is measured on the raw text (a 100k-deep array would
exhaust Python's stack in json.loads), every string is made safe once
(models.safe_text: lone surrogates become U+FFFD and the import says so),
then read into the store's records with every field's declared type
checked (storage.serialization), then held to the limits of the columns it
will land in and to the ranges the page and the report rely on.  The report
builder and the page only ever read records that passed here.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from sqlalchemy import Column

from models.safe_text import Repairs, safe_value
from models.types import VERDICTS, Analysis
from storage.blobs import is_sha256
from storage.errors import StoreError
from storage.records import AnalysisRecord, CaseDetail
from storage.serialization import from_json
from storage.tables import (
    AnalysisRow,
    AuditEventRow,
    CaseRow,
    EvidenceFileRow,
    RegionQuestionRow,
    RegionRow,
    ReportRow,
)

MAX_DEPTH = 64
MAX_STRING = 1_000_000  # characters in any one string (a note, an explanation, a model's raw text)
IMAGE_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "TIFF", "GIF", "BMP", "HEIF", "AVIF"})
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def bad(message: str) -> StoreError:
    return StoreError(f"bundle refused, nothing imported: {message}", "bad-bundle")


def nesting_depth(text: str, limit: int = MAX_DEPTH) -> int:
    """How deeply `text`'s arrays and objects nest, counted without parsing;
    stops counting once past `limit`."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        depth += 1 if match.group() in "[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                break
    return deepest


def loads_bounded(data: bytes, what: str) -> tuple[Any, Repairs]:
    """Parse hostile JSON: bounded depth and string sizes, every string made safe."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad(f"{what} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    depth = nesting_depth(text)
    if depth > MAX_DEPTH:
        raise bad(f"{what} nests deeper than {MAX_DEPTH} levels; no case record does")
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise bad(f"{what} is not JSON ({exc})") from None
    value, repairs = safe_value(value)
    _check_strings(value, what)
    return value, repairs


def _check_strings(value: Any, what: str) -> None:
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise bad(f"{what} holds a text of {len(value)} characters (at most {MAX_STRING})")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_strings(key, what)
            _check_strings(item, what)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item, what)


def read_case(payload: Any, schema_revision: str) -> CaseDetail:
    """case.json's parsed value as a CaseDetail that satisfies every rule here."""
    if not isinstance(payload, dict) or payload.get("schema_revision") != schema_revision:
        raise bad("case.json and manifest.json disagree on the schema revision")
    try:
        detail = from_json(CaseDetail, payload.get("case"), "case.json")
    except StoreError as exc:
        raise bad(str(exc)) from None
    except (AttributeError, IndexError, OverflowError, RecursionError) as exc:
        raise bad(f"case.json: {exc}") from None
    check_case(detail)
    return detail


def check_case(detail: CaseDetail) -> None:
    case = detail.summary
    where = "case.json: case"
    _fit(f"{where}.uid", case.uid, CaseRow.uid, empty=False)
    _fit(f"{where}.title", case.title, CaseRow.title)
    _fit(f"{where}.created_by", case.created_by, CaseRow.created_by, empty=False)
    for name, verdict in (("final_verdict", case.final_verdict), ("model_verdict", case.model_verdict)):
        if verdict is not None and verdict not in VERDICTS:
            raise bad(f"{where}.{name} {verdict!r} is not one of {VERDICTS}")
    sizes = {}
    for item in detail.evidence_files:
        at = f"case.json: evidence file {item.id}"
        _sha256(at, item.sha256)
        _fit(f"{at} name", item.original_name, EvidenceFileRow.original_name)
        _fit(f"{at} mime", item.mime, EvidenceFileRow.mime)
        _fit(f"{at} intake_by", item.intake_by, EvidenceFileRow.intake_by, empty=False)
        if item.format not in IMAGE_FORMATS:
            raise bad(f"{at} has the format {item.format!r}, not an image format ZoomIn reads")
        if item.size_bytes <= 0 or item.width <= 0 or item.height <= 0:
            raise bad(f"{at} needs a positive size, width and height")
        sizes[item.id] = (item.width, item.height, item.sha256)
    for analysis in detail.analyses:
        _check_analysis(analysis, sizes)
    for report in detail.reports:
        at = f"case.json: report {report.id}"
        _sha256(at, report.sha256)
        _fit(f"{at} file name", report.file_name, ReportRow.file_name, empty=False)
        _fit(f"{at} created_by", report.created_by, ReportRow.created_by, empty=False)
        if report.size_bytes < 0:
            raise bad(f"{at} has a negative size")
    for event in detail.history:
        at = f"case.json: audit event {event.id}"
        _fit(f"{at} actor", event.actor, AuditEventRow.actor, empty=False)
        _fit(f"{at} action", event.action, AuditEventRow.action, empty=False)
        _fit(f"{at} subject", event.subject, AuditEventRow.subject)


def _check_analysis(analysis: AnalysisRecord, sizes: dict[int, tuple[int, int, str]]) -> None:
    at = f"case.json: analysis {analysis.id}"
    backend = analysis.backend
    for name, value, column in (("backend", backend.backend, AnalysisRow.backend),
                                ("backend_version", backend.backend_version, AnalysisRow.backend_version),
                                ("model_id", backend.model_id, AnalysisRow.model_id),
                                ("model_revision", backend.model_revision, AnalysisRow.model_revision),
                                ("quantization", backend.quantization, AnalysisRow.quantization),
                                ("started_by", analysis.started_by, AnalysisRow.started_by)):
        _fit(f"{at} {name}", value, column)
    if not backend.backend or not analysis.started_by:
        raise bad(f"{at} names no backend or no analyst")
    if analysis.verdict is not None and analysis.verdict not in VERDICTS:
        raise bad(f"analysis {analysis.id} has an unknown verdict {analysis.verdict!r}")
    if analysis.score is not None and not 0.0 <= analysis.score <= 1.0:
        raise bad(f"{at} has the score {analysis.score}, outside 0..1")
    for stage, seconds in analysis.timings.items():
        if not math.isfinite(seconds) or seconds < 0:
            raise bad(f"{at} timing {stage!r} is {seconds}, not a duration")
    if analysis.finished_at is not None and analysis.finished_at < analysis.started_at:
        raise bad(f"{at} finished before it started")
    image = sizes.get(analysis.evidence_file_id)
    if image is None:
        raise bad(f"analysis {analysis.id} names an evidence file that is not in the bundle")
    width, height, sha256 = image
    if analysis.raw_output is not None:
        _check_output(at, analysis.raw_output, sha256)
    for region in analysis.regions:
        where = f"{at} region {region.id}"
        _fit(f"{where} key", region.region_key, RegionRow.region_key)
        _fit(f"{where} label", region.label, RegionRow.label)
        _fit(f"{where} created_by", region.created_by, RegionRow.created_by, empty=False)
        if not 0.0 <= region.score <= 1.0:
            raise bad(f"{where} has the score {region.score}, outside 0..1")
        box = region.box
        if box.x1 < 0 or box.y1 < 0 or box.x2 > width + 1 or box.y2 > height + 1:
            raise bad(f"{where}'s box {box.to_list()} lies outside its {width}x{height} image")
        for question in region.questions:
            _fit(f"{where} question {question.id} backend", question.backend, RegionQuestionRow.backend)
            _fit(f"{where} question {question.id} asked_by", question.asked_by, RegionQuestionRow.asked_by,
                 empty=False)


def _check_output(at: str, raw: dict[str, Any], sha256: str) -> None:
    """The detector's recorded output must read back as an Analysis, field types included."""
    try:
        from_json(Analysis, raw, f"{at} output")
        output = Analysis.from_dict(raw)
    except StoreError as exc:
        raise bad(str(exc)) from None
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError) as exc:
        raise bad(f"{at}: its recorded output does not read back as an analysis ({exc})") from None
    if output.sha256 != sha256:
        raise bad(f"{at}'s recorded output is about another image (SHA-256 {output.sha256[:16]}...)")


def _fit(where: str, value: str, column: Any, empty: bool = True) -> None:
    length = _column(column).type.length
    if not empty and not value.strip():
        raise bad(f"{where} is empty")
    if length is not None and len(value) > length:
        raise bad(f"{where} is {len(value)} characters long (at most {length})")


def _column(attribute: Any) -> Column:
    return attribute.property.columns[0]


def _sha256(where: str, value: str) -> None:
    if not is_sha256(value):
        raise bad(f"{where} has no valid SHA-256 ({value[:70]!r})")
