"""Analysis runs: written `running` (and committed) before the detector
starts, results and regions in one transaction when it ends, so a process
killed in between leaves a consistent record that the next start marks
`interrupted`."""

from __future__ import annotations

import json
import platform
from collections import defaultdict
from collections.abc import Callable, Sequence
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.types import Analysis
from storage import convert
from storage.audit import load_case, record
from storage.errors import StoreError
from storage.records import AnalysisRecord, BackendInfo, QuestionRecord, RegionRecord
from storage.runners import Runner
from storage.tables import (
    AnalysisRow,
    EvidenceFileRow,
    RegionQuestionRow,
    RegionRow,
    utc_now,
)

# The packages whose versions can change a result; recorded with every run.
RECORDED_PACKAGES = ("zoomin-workbench", "numpy", "pillow", "pillow-heif", "opencv-python", "c2pa-python",
                     "invisible-watermark", "torch", "torchvision", "transformers", "sqlalchemy")
MAX_ERROR = 20_000


@lru_cache(maxsize=1)
def software_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in RECORDED_PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    return versions


def start_analysis(session: Session, case_id: int, evidence_file_id: int, backend: BackendInfo, analyst: str,
                   parameters: dict[str, Any], runner: Runner,
                   is_gone: Callable[[str, int, str], bool] | None = None) -> AnalysisRow:
    case = load_case(session, case_id, for_update=True)
    evidence = session.get(EvidenceFileRow, evidence_file_id)
    if evidence is None or evidence.case_id != case_id:
        raise StoreError(f"evidence file {evidence_file_id} is not part of case {case_id}", "not-found")
    if not backend.backend:
        raise StoreError("an analysis needs the name of the backend that runs it", "invalid")
    if is_gone is not None:
        _refuse_a_second_run(session, evidence_file_id, backend.backend, is_gone)
    try:
        parameters = json.loads(json.dumps(parameters))
    except (TypeError, ValueError) as exc:
        raise StoreError(f"analysis parameters must be plain JSON values: {exc}", "invalid") from None
    now = utc_now()
    row = AnalysisRow(
        case_id=case_id, evidence_file_id=evidence_file_id, backend=backend.backend,
        backend_version=backend.backend_version, model_id=backend.model_id,
        model_revision=backend.model_revision, quantization=backend.quantization, parameters=parameters,
        software=software_versions(), status="running", error="", runner_host=runner.host,
        runner_pid=runner.pid, runner_token=runner.token, started_by=analyst, started_at=now, finished_at=None,
        timings={}, verdict=None, score=None, explanation="", evidence=[], notes=[], raw_output=None)
    session.add(row)
    session.flush()
    record(session, case, analyst, "analysis-started", f"analysis:{row.id}", None,
           {"evidence_file_id": evidence_file_id, "backend": backend.backend,
            "backend_version": backend.backend_version, "model_id": backend.model_id,
            "model_revision": backend.model_revision, "parameters": parameters}, at=now)
    return row


def _refuse_a_second_run(session: Session, evidence_file_id: int, backend: str,
                         is_gone: Callable[[str, int, str], bool]) -> None:
    """One run of a file per backend at a time, across sessions and processes:
    checked inside the write transaction that would record the second, so two
    starts cannot both pass.  A `running` row whose process is gone does not count."""
    for row in session.scalars(select(AnalysisRow).where(
            AnalysisRow.evidence_file_id == evidence_file_id, AnalysisRow.backend == backend,
            AnalysisRow.status == "running").order_by(AnalysisRow.id)):
        if not is_gone(row.runner_host, row.runner_pid, row.runner_token):
            raise StoreError(f"analysis of this file on {backend} is already running (analysis {row.id}, "
                             f"started by {row.started_by} at {row.started_at:%Y-%m-%d %H:%M:%S} UTC); "
                             "wait for it to finish", "busy")


def _running(session: Session, analysis_id: int) -> AnalysisRow:
    row = session.get(AnalysisRow, analysis_id, with_for_update=True)
    if row is None:
        raise StoreError(f"no analysis {analysis_id}", "not-found")
    if row.status != "running":
        raise StoreError(f"analysis {analysis_id} is {row.status}: results are recorded only for a running "
                         "analysis (start a new one to run it again)", "conflict")
    return row


def finish_analysis(session: Session, analysis_id: int, result: Analysis) -> AnalysisRow:
    row = _running(session, analysis_id)
    evidence = session.get(EvidenceFileRow, row.evidence_file_id)
    assert evidence is not None  # a foreign key guarantees it
    if result.sha256 != evidence.sha256:
        raise StoreError(f"the image analysed (SHA-256 {result.sha256}) is not evidence file {evidence.id} "
                         f"(SHA-256 {evidence.sha256}); nothing was recorded", "invalid")
    output = result.to_dict()
    now = utc_now()
    row.status = "done"
    row.finished_at = now
    row.timings = output["timings"]
    row.verdict = result.verdict
    row.score = result.score
    row.explanation = result.explanation
    row.evidence = output["evidence"]
    row.notes = output["notes"]
    row.raw_output = output
    drawn = _examined_by_key(row)
    for region, region_output in zip(result.regions, output["regions"]):
        # A re-run's region made from an analyst's box is still the analyst's box, with their label.
        by_analyst = drawn.get(region.id, {}).get("source") == "analyst"
        label = str(drawn[region.id].get("label") or region.label) if by_analyst else region.label
        session.add(RegionRow(
            analysis_id=row.id, parent_region_id=None, source="analyst" if by_analyst else "model",
            status="open", region_key=region.id, x1=region.box.x1, y1=region.box.y1, x2=region.box.x2,
            y2=region.box.y2, score=region.score, label=label, explanation=region.explanation,
            evidence=region_output["evidence"], created_by=row.started_by, created_at=now))
    case = load_case(session, row.case_id, for_update=True)
    case.model_verdict = result.verdict
    record(session, case, row.started_by, "analysis-finished", f"analysis:{row.id}", {"status": "running"},
           {"status": "done", "verdict": result.verdict, "score": round(result.score, 4),
            "regions": len(result.regions)}, at=now)
    return row


def examined_parameter(regions: Sequence[RegionRecord]) -> list[dict[str, Any]]:
    """What a re-run records about the boxes it examines (see convert.EXAMINED_REGIONS)."""
    return [{"key": r.region_key, "region_id": r.id, "source": r.source, "label": r.label,
             "moved_by": r.moved_by} for r in regions]


def _examined_by_key(row: AnalysisRow) -> dict[str, dict[str, Any]]:
    examined = (row.parameters or {}).get(convert.EXAMINED_REGIONS) or []
    return {str(item["key"]): item for item in examined if isinstance(item, dict) and item.get("key")}


def fail_analysis(session: Session, analysis_id: int, error: str) -> AnalysisRow:
    row = _running(session, analysis_id)
    now = utc_now()
    row.status = "failed"
    row.error = (error or "failed without a message")[:MAX_ERROR]
    row.finished_at = now
    record(session, load_case(session, row.case_id, for_update=True), row.started_by, "analysis-failed",
           f"analysis:{row.id}", {"status": "running"}, {"status": "failed", "error": row.error}, at=now)
    return row


def any_running(session: Session) -> bool:
    return session.scalar(select(AnalysisRow.id).where(AnalysisRow.status == "running").limit(1)) is not None


def mark_interrupted(session: Session, is_gone: Callable[[str, int, str], bool]) -> list[int]:
    """Runs left `running` by a process that no longer exists become
    `interrupted`; runs of live processes (another UI session, a CLI) and of
    processes nobody here can vouch for (another machine) are left alone."""
    interrupted = []
    for row in session.scalars(select(AnalysisRow).where(AnalysisRow.status == "running")
                               .with_for_update()).all():
        if not is_gone(row.runner_host, row.runner_pid, row.runner_token):
            continue
        now = utc_now()
        row.status = "interrupted"
        row.finished_at = now
        row.error = "the process running this analysis stopped before it finished; run it again"
        record(session, load_case(session, row.case_id, for_update=True), row.started_by,
               "analysis-interrupted", f"analysis:{row.id}", {"status": "running"},
               {"status": "interrupted", "runner": f"{row.runner_host}:{row.runner_pid}"}, at=now)
        interrupted.append(row.id)
    return interrupted


def analysis_record(session: Session, analysis_id: int) -> AnalysisRecord:
    """One analysis with every version of its regions and their questions."""
    row = session.get(AnalysisRow, analysis_id)
    if row is None:
        raise StoreError(f"no analysis {analysis_id}", "not-found")
    regions = session.scalars(select(RegionRow).where(RegionRow.analysis_id == analysis_id)
                              .order_by(RegionRow.id)).all()
    questions: dict[int, list[QuestionRecord]] = defaultdict(list)
    for question in session.scalars(select(RegionQuestionRow).join(RegionRow).where(
            RegionRow.analysis_id == analysis_id).order_by(RegionQuestionRow.id)):
        questions[question.region_id].append(convert.question(question))
    return convert.analysis(row, convert.regions_with_lineage(regions, questions, convert.moves_before_rerun(row)))
