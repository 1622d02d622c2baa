"""Files the workbench hands out and takes in: the PDF report and case
bundles.  Service layer (no Gradio); everything is written inside the data
folder, the only folder the web app serves files from."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from zoomin_ui.download_names import export_destination, unused_folder_removed
from zoomin_ui.service import WorkbenchError
from zoomin_ui.web.security import discard_refused_upload
from zoomin_ui.workbench import exports_folder, store_errors

if TYPE_CHECKING:
    from storage import CaseStore, CaseSummary

MAX_BUNDLE_BYTES = 2 * 1024**3


def export_pdf(store: CaseStore, case_id: int, analyst: str, analysis_id: int | None = None) -> Path:
    """The case report as a PDF in the data folder's exports (also kept,
    hashed, with the case by the report module)."""
    try:
        from zoomin_ui.reports import export_report
    except ImportError as exc:
        raise WorkbenchError(f"the PDF report is not available in this installation ({exc})", "config") from None
    with store_errors():
        destination = export_destination(exports_folder(store), case_id, _title(store, case_id), ".pdf")
        with unused_folder_removed(destination):
            written = export_report(store, case_id, destination, analyst, analysis_id=analysis_id)
    return Path(written.path)


def export_case_bundle(store: CaseStore, case_id: int, analyst: str) -> Path:
    """The case bundle (.zip) in the data folder's exports, named after the case."""
    with store_errors():
        destination = export_destination(exports_folder(store), case_id, _title(store, case_id), ".zip")
        with unused_folder_removed(destination):
            return Path(store.export_bundle(case_id, destination, analyst).path)


def _title(store: CaseStore, case_id: int) -> str:
    return store.get_case(case_id).summary.title


def import_case_bundle(store: CaseStore, bundle: str | Path, analyst: str) -> CaseSummary:
    """A bundle (as uploaded) becomes a new case; every hash is checked and
    on any problem nothing is imported."""
    source = Path(bundle)
    if not source.is_file():
        raise WorkbenchError("choose a case bundle (.zip) to import", "empty")
    try:
        if source.stat().st_size > MAX_BUNDLE_BYTES:
            raise WorkbenchError(f"{source.name} is larger than a case bundle may be", "too-large")
        with store_errors(f"{source.name}: "):
            return store.import_bundle(source, analyst)
    except WorkbenchError:
        discard_refused_upload(source)  # a refused bundle is not kept in the data folder
        raise
