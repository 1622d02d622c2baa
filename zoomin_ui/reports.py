"""The report in the service layer: what the CLI and the Gradio app call to
write a case's PDF report, with its failures as WorkbenchError."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from zoomin_ui.service import WorkbenchError

if TYPE_CHECKING:
    from exports import ExportedReport
    from storage import CaseStore


def export_report(store: CaseStore, case_id: int, destination: str | os.PathLike, analyst: str,
                  analysis_id: int | None = None) -> ExportedReport:
    """Write case `case_id`'s PDF report to `destination` and record it (its SHA-256) in the case store.
    Codes: not-found, hash-mismatch, no-analysis, destination, font, layout, or a case-store code."""
    from exports import ReportError, export_case_report

    try:
        return export_case_report(store, case_id, destination, analyst, analysis_id=analysis_id)
    except ReportError as exc:
        raise WorkbenchError(str(exc), exc.code) from None
