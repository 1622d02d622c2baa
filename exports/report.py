"""export_case_report: one case as a PDF that stands on its own.

Gather (and re-verify) everything first, render into a temporary file beside
the destination, record the file in the case store, and only then move it
into place, so a failed export leaves neither a half-written file nor a
record of one.  Rendering is deterministic (reportlab's invariant mode: an ID
derived from the content, and the generation time as the document's dates),
so an unchanged case exported twice differs only in the generated time."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from reportlab import rl_config
from reportlab.platypus import Flowable, PageBreak, Paragraph, SimpleDocTemplate
from reportlab.platypus.doctemplate import LayoutError

from exports import page_template
from exports.errors import ReportError
from exports.fonts import font_files, register_fonts
from exports.first_page import first_page
from exports.method_section import audit_section, glossary_box, limitations_section, method_section
from exports.pictures import Overviews
from exports.provenance_section import provenance_section
from exports.report_model import TOOL_NAME, ReportData, gather_report
from exports.sections import evidence_section, notes_section
from exports.styles import make_styles
from exports.text import clean

if TYPE_CHECKING:
    from storage import CaseStore, ReportRecord

# Binary streams instead of ASCII85: without reportlab's optional C accelerator, ASCII85-encoding the
# pictures in Python took half of an export's time, and the file comes out a fifth smaller.
rl_config.useA85 = 0


@dataclass(frozen=True)
class ExportedReport:
    path: Path
    sha256: str
    size_bytes: int
    pages: int
    record: ReportRecord


def export_case_report(store: CaseStore, case_id: int, destination: str | os.PathLike, analyst: str, *,
                       analysis_id: int | None = None, now: datetime | None = None) -> ExportedReport:
    """Write the report of case `case_id` to `destination` and record it in the store."""
    from storage import StoreError

    target = Path(destination).expanduser()
    if target.is_dir():
        raise ReportError(f"{target} is a folder; give the report's file name", "destination")
    if not target.parent.is_dir():
        raise ReportError(f"{target.parent}: no such folder", "destination")
    data = gather_report(store, case_id, analysis_id, now, exported_by=analyst)
    try:
        staging = Path(tempfile.mkdtemp(prefix=".zoomin-report-", dir=target.parent))
    except OSError as exc:
        raise ReportError(f"cannot write in {target.parent}: {exc.strerror or exc}", "destination") from None
    try:
        # Written under its final name (the store records the name) inside a private folder.
        staged = staging / target.name
        pages = render_pdf(data, staged)
        digest = hashlib.sha256(staged.read_bytes()).hexdigest()
        recorded_analysis = analysis_id if analysis_id is not None else (
            data.analysis_ids[0] if len(data.analysis_ids) == 1 else None)
        try:
            record = store.record_report(case_id, staged, analyst, recorded_analysis)
        except StoreError as exc:
            raise ReportError(f"report not recorded, nothing written: {exc}", exc.code) from None
        try:
            os.replace(staged, target)
        except OSError as exc:
            raise ReportError(f"cannot write {target}: {exc.strerror or exc} (the report is kept in the case "
                              f"store as SHA-256 {digest})", "destination") from None
    except OSError as exc:
        raise ReportError(f"cannot write the report in {target.parent}: {exc.strerror or exc}", "destination") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportedReport(path=target, sha256=digest, size_bytes=target.stat().st_size, pages=pages, record=record)


def render_pdf(data: ReportData, path: Path) -> int:
    """Render the report to `path`; returns the number of pages."""
    fonts = register_fonts()
    styles = make_styles(fonts)
    case = data.case
    title_line = clean(case.title, 300).split("\n")[0]  # the header is one drawn line
    frame = page_template.PageFrame(case_line=f"Case {case.id}: {title_line}",
                                    generated=page_template.generated_line(data.generated_at),
                                    tool=f"{TOOL_NAME} {data.tool_version}")
    margin = page_template.MARGIN
    document = SimpleDocTemplate(
        str(path), pagesize=page_template.PAGE_SIZE, leftMargin=margin, rightMargin=margin,
        topMargin=margin + page_template.HEADER_SPACE / 2, bottomMargin=margin,
        title=clean(f"Case {case.id}: {case.title}", 300), author=TOOL_NAME, subject="Forensic image report",
        creator=f"{TOOL_NAME} {data.tool_version}", invariant=1)
    width = document.width - 12  # the frame's own padding, 6 pt a side
    overviews = Overviews()
    story: list[Flowable] = [*first_page(data, styles, width, overviews), PageBreak(), *notes_section(data, styles)]
    for index, item in enumerate(data.items, 1):
        story += [*evidence_section(index, item, styles, width, overviews), PageBreak(),
                  *provenance_section(index, item, styles, width), PageBreak()]
    story.append(Paragraph("Technical appendix", styles.title))
    for index, item in enumerate(data.items, 1):
        story += method_section(index, item, styles, width)
    story += [*audit_section(data, styles, width), *glossary_box(data, styles, width),
              *limitations_section(styles, ", ".join(sorted({p.name for p in font_files().values()})))]
    page_count: list[int] = []
    try:
        document.build(story, canvasmaker=page_template.numbered_canvas(frame, fonts, page_count,
                                                                         data.generated_at))
    except LayoutError as exc:  # a flowable larger than a page; text is capped so this should not happen
        raise ReportError(f"the report could not be laid out: {exc}", "layout") from None
    return page_count[-1]
