"""Reports that leave the building: the PDF forensic report of one case (docs/report.md)."""

from exports.errors import ReportError
from exports.report import ExportedReport, export_case_report, render_pdf
from exports.report_model import ReportData, gather_report

__all__ = ["ExportedReport", "ReportData", "ReportError", "export_case_report", "gather_report", "render_pdf"]
