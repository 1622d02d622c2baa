"""The summary and the evidence-item sections of the report."""

from __future__ import annotations

from datetime import datetime, timezone

from PIL import Image as PILImage
from reportlab.platypus import Flowable, Paragraph, Spacer

from exports import pictures
from exports.region_section import evidence_table, region_section
from exports.report_model import TOOL_NAME, EvidenceView, ReportData
from exports.styles import Styles, grid, key_values, para
from exports.text import markup

SCORE_MEANING = "0 to 1: how strongly the evidence says AI-generated or AI-composited"


def when(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC"


def summary_section(data: ReportData, styles: Styles, width: float) -> list[Flowable]:
    case = data.case
    story: list[Flowable] = [
        Paragraph("Forensic image report", styles.title),
        para(case.title, styles.h1),
        key_values([("Case", f"{case.id} (uid {case.uid})"), ("Status", case.status),
                    ("Opened", f"{when(case.created_at)} by {case.created_by}"),
                    ("Evidence items", str(len(data.items))),
                    ("Produced by", f"{TOOL_NAME} {data.tool_version}")], styles, width),
        Paragraph("Summary", styles.h1),
    ]
    if case.final_verdict:
        story.append(Paragraph(f"Analyst's final verdict: <b>{markup(case.final_verdict)}</b>", styles.body))
        if data.final_note:
            story.append(Paragraph(f"Analyst's note: {markup(data.final_note)}", styles.body))
    else:
        story.append(Paragraph("No analyst has given a final verdict: the verdicts below are the tool's, "
                               "not an examiner's conclusion.", styles.warning))
    for item in data.items:
        story += _tool_verdict(item, styles, case.final_verdict)
    if data.notes:
        story.append(Paragraph(f"Case notes: {markup(data.notes)}", styles.body))
    return story


def _tool_verdict(item: EvidenceView, styles: Styles, final_verdict: str | None) -> list[Flowable]:
    name = markup(item.file.original_name, 300)
    analysis = item.analysis
    if analysis is None or analysis.verdict is None:
        return [Paragraph(f"{name}: no finished analysis; the tool gives no verdict on this file.", styles.body)]
    story: list[Flowable] = [
        Paragraph(f"Tool's verdict on {name}: <b>{markup(analysis.verdict)}</b>, score {analysis.score:.2f} "
                  f"({SCORE_MEANING}); analysis {analysis.id}, {markup(analysis.backend.backend)} backend.",
                  styles.body),
        para(analysis.explanation or "The tool gave no explanation.", styles.body),
    ]
    if final_verdict and final_verdict != analysis.verdict:
        story.append(Paragraph(
            f"The analyst and the tool disagree on {name}: the analyst's final verdict is "
            f"{markup(final_verdict)}, the tool's is {markup(analysis.verdict)}. The analyst's verdict is the "
            "conclusion of this report; the tool's is kept for the record.", styles.warning))
    overridden = _override_counts(item)
    if overridden:
        story.append(para(f"Of the tool's regions, the analyst {overridden}; see each region below.", styles.body))
    return story


def _override_counts(item: EvidenceView) -> str:
    counts = {"confirmed": 0, "rejected": 0, "not-relevant": 0, "deleted": 0}
    for region in item.regions:
        if region.original.source == "model" and region.changes and region.latest.status in counts:
            counts[region.latest.status] += 1
    added = sum(1 for region in item.regions if region.original.source == "analyst")
    wording = {"confirmed": "confirmed {n}", "rejected": "judged {n} authentic",
               "not-relevant": "judged {n} not relevant", "deleted": "deleted {n}"}
    parts = [wording[status].format(n=n) for status, n in counts.items() if n]
    if added:
        parts.append(f"added {added} region(s) of their own")
    return ", ".join(parts)


def evidence_section(index: int, item: EvidenceView, styles: Styles, width: float) -> list[Flowable]:
    record = item.file
    rows = [
        ("Original file name", record.original_name),
        ("SHA-256", record.sha256),
        ("SHA-256 check", ("re-computed from the stored file when this report was generated: it matches the "
                          "hash recorded at intake")),
        ("Size", f"{record.size_bytes:,} bytes"),
        ("Format", f"{record.format} ({record.mime})" if record.mime else record.format),
        ("Dimensions", f"{record.width} x {record.height} pixels as displayed"),
        ("Intake", f"{when(record.intake_at)} by {record.intake_by}"),
        ("Evidence id", str(record.id)),
    ]
    if item.image.notes:
        rows.append(("Decoding notes", "; ".join(item.image.notes)))
    story: list[Flowable] = [Paragraph(f"Evidence item {index}: {markup(record.original_name, 300)}", styles.h1),
                             key_values(rows, styles, width, mono_keys=frozenset({"SHA-256"}))]
    if item.analysis is None:
        story.append(Paragraph("No finished analysis of this file is on record.", styles.body))
        return story
    picture = PILImage.fromarray(item.image.rgb)
    story += [Spacer(1, 6), pictures.overview(picture, item.regions, width, width * 0.8),
              Paragraph("Numbers match the region sections below. Solid boxes: the tool's regions, coloured by "
                        "score (green low, amber middle, red high). Dashed blue: drawn or moved by an analyst. "
                        "Dashed grey, crossed out: deleted by an analyst (still listed below).", styles.small)]
    deleted = [r for r in item.regions if r.deleted]
    if deleted:
        story.append(grid([[para(f"Deleted region {r.number}", styles.cell_head),
                            Paragraph(f"<strike>{markup(r.latest.label or r.key, 300)}</strike>", styles.cell)]
                           for r in deleted], [width * 0.27, width * 0.73]))
    if item.analysis.evidence:
        story += [Paragraph("Image-level evidence", styles.h2),
                  evidence_table(item.analysis.evidence, styles, width)]
    if not item.regions:
        story.append(Paragraph("The tool marked no regions in this image.", styles.body))
    for region in item.regions:
        story += region_section(region, picture, styles, width)
    return story
