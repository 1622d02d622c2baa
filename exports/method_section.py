"""The technical appendix: how each result was produced, as tables precise
enough to reproduce it; the audit log as a table of time, who and what; the
glossary of the words the report uses; the limitations every reader must know."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import PurePath
from typing import Any

from reportlab.lib import colors
from reportlab.platypus import Flowable, ListFlowable, ListItem, Paragraph, Table, TableStyle

from exports.report_model import EvidenceView, ReportData
from exports.styles import NOTE_BACKGROUND, RULE, Styles, cell, grid, key_values, para
from exports.text import compact_json, fold_lines, markup, without_doc_references
from exports.timefmt import when
from models.glossary import TERMS, terms_for

RAW_OUTPUT_LINES = 80
AUDIT_LINES = 6  # per cell: a table row cannot continue on the next page
LIMITATIONS = (
    ("Recompression, resizing and screenshots weaken or erase the traces the signal analysis measures; a "
     "file that passed through social media may show nothing either way."),
    ("Generators the tool has never seen can produce images it does not recognise: accuracy measured on "
     "known generators does not carry over to new ones."),
    ("A real photograph edited with AI tools (inpainting, generative fill, upscaling) may be only partly "
     "synthetic: look at the regions, not only at the overall verdict."),
    ("Metadata and Content Credentials can be stripped by any re-save, and metadata can be forged; their "
     "absence proves nothing, and an unsigned or untrusted claim of authenticity is weak."),
    ("A region's score is a measurement, not a finding of fact: ordinary editing, noise reduction and "
     "compositing for legitimate purposes can look like generation."),
    ("A verdict from this tool is an aid to an examiner's judgement, not a substitute for it. Conclusions "
     "should rest on the evidence listed, its provenance and independent checks."),
)


def shown_value(key: str, value: Any) -> str:
    """A recorded value for the reader: a file path shows only the file's name
    (where this installation keeps its files means nothing to a reader)."""
    if isinstance(value, str) and (key.endswith("path") or key == "trust_anchors" or PurePath(value).is_absolute()):
        return PurePath(value).name or value
    if isinstance(value, str):
        return value
    return compact_json(value, 400)


def flat_rows(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A nested record as (dotted key, value) rows: a table, not raw JSON."""
    if isinstance(value, dict) and value:
        rows: list[tuple[str, str]] = []
        for key, inner in value.items():
            rows += flat_rows(inner, f"{prefix}{key}." if isinstance(inner, dict) and inner else f"{prefix}{key}")
        return rows
    name = prefix.rstrip(".") or "value"
    return [(name.replace("_", " "), shown_value(name, value) if value not in (None, "") else "-")]


def method_section(index: int, item: EvidenceView, styles: Styles, width: float) -> list[Flowable]:
    analysis = item.analysis
    story: list[Flowable] = [Paragraph(f"Method for evidence item {index}", styles.h2)]
    if analysis is None:
        return story + [Paragraph("No finished analysis is on record for this file.", styles.body)]
    backend = analysis.backend
    rows: list[tuple[str, object]] = [
        ("Analysis", f"{analysis.id}, started {when(analysis.started_at)} by {analysis.started_by}, "
                     f"finished {when(analysis.finished_at)}"),
        ("Backend", f"{backend.backend} {backend.backend_version}".strip()),
        ("Model", shown_value("model", backend.model_id) if backend.model_id else "none (no model download)"),
        ("Model revision or weights hash", backend.model_revision or "-"),
        ("Quantization", backend.quantization or "none"),
    ]
    if analysis.notes:
        rows.append(("Notes on the input", "; ".join(analysis.notes)))
    output = item.model_output
    if output is not None and output.question:
        rows.append(("Question with the run", f"{output.question} -> {output.answer or ''}"))
    story.append(key_values(rows, styles, width, mono_keys=frozenset({"Model revision or weights hash"})))
    story += _table("Parameters", flat_rows(analysis.parameters), styles, width)
    story += _table("Software versions", sorted((k, str(v)) for k, v in analysis.software.items()), styles, width)
    story += _table("Time per stage (seconds)", [(k, f"{v:.3f}") for k, v in analysis.timings.items()], styles,
                    width)
    if output is not None and output.provenance:
        story += _table("What the detector recorded about itself", flat_rows(output.provenance), styles, width)
    if analysis.explanation:
        story += [Paragraph("The tool's full explanation, with its measurements", styles.h2),
                  para(fold_lines(without_doc_references(analysis.explanation), RAW_OUTPUT_LINES), styles.body)]
    if output is not None and output.raw_output:
        story += [Paragraph("The model's own output, verbatim", styles.h2),
                  para(fold_lines(output.raw_output, RAW_OUTPUT_LINES), styles.mono, 4000)]
    return story


def _table(title: str, rows: list[tuple[str, str]], styles: Styles, width: float) -> list[Flowable]:
    if not rows:
        return []
    widths = [width * 0.4, width * 0.6]
    data: list[list[object]] = [[para(title, styles.cell_head), para("", styles.cell_head)]]
    data += [[cell(key, styles.cell, widths[0], 3, 300), cell(value, styles.cell_mono, widths[1], 4, 1200)]
             for key, value in rows]
    return [grid(data, widths, header=True)]


def audit_section(data: ReportData, styles: Styles, width: float) -> list[Flowable]:
    story: list[Flowable] = [
        Paragraph("Audit log", styles.h1),
        Paragraph("Every recorded action on this case, oldest first (times in UTC). Exports of reports are "
                  "logged in the case store and not repeated here.", styles.small)]
    widths = [width * 0.19, width * 0.17, width * 0.64]
    rows: list[list[object]] = [[para(h, styles.cell_head) for h in ("Time", "Who", "What")]]
    for event in data.history:
        what = f"{event.action} {event.subject}".strip()
        change = _change_text(event.before, event.after)
        rows.append([para(f"{event.at:%Y-%m-%d %H:%M:%S}", styles.cell),
                     cell(event.actor, styles.cell, widths[1], 3, 200),
                     cell(f"{what}: {change}" if change else what, styles.cell, widths[2], AUDIT_LINES, 1500)])
    story.append(grid(rows, widths, header=True))
    return story


def _change_text(before: object, after: object) -> str:
    """What an event changed; for two snapshots, only the fields that differ."""
    if before is None and after is None:
        return ""
    if before is None and isinstance(after, dict):
        return "; ".join(f"{k}: {compact_json(v, 200)}" for k, v in after.items())
    if before is None:
        return compact_json(after, 600)
    if isinstance(before, dict) and isinstance(after, dict):
        keys = [k for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)]
        return "; ".join(f"{k}: {compact_json(before.get(k), 200)} -> {compact_json(after.get(k), 200)}"
                         for k in keys) or "no field changed"
    return f"{compact_json(before, 300)} -> {compact_json(after, 300)}"


def glossary_box(data: ReportData, styles: Styles, width: float) -> list[Flowable]:
    """The words this report uses, defined (models/glossary.py: the page and the CLI use the same)."""
    wanted: set[str] = set()
    for item in data.items:
        if item.model_output is not None:
            wanted |= set(terms_for(item.model_output))
    terms = [(term, text) for term, text in TERMS.items() if term in wanted] or list(TERMS.items())[:3]
    rows = [[Paragraph(f"<b>{markup(term)}</b>: {markup(text)}", styles.cell)] for term, text in terms]
    box = Table([[Paragraph("Words used in this report", styles.cell_head)], *rows], colWidths=[width])
    box.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), NOTE_BACKGROUND), ("BOX", (0, 0), (-1, -1), 0.5, RULE),
                             ("LEFTPADDING", (0, 0), (-1, -1), 6), ("RIGHTPADDING", (0, 0), (-1, -1), 6),
                             ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                             ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.white)]))
    return [box]


def limitations_section(styles: Styles, fonts_used: str) -> list[Flowable]:
    items = [ListItem(Paragraph(markup(text), styles.body), leftIndent=12) for text in LIMITATIONS]
    try:
        renderer = f"reportlab {version('reportlab')}"
    except PackageNotFoundError:
        renderer = "reportlab"
    return [Paragraph("Limitations", styles.h1),
            ListFlowable(items, bulletType="bullet", start="\u2022", bulletFontName=styles.fonts.regular),
            Paragraph(f"Images in this report are re-encoded illustrations (JPEG); the evidence is the stored file "
                      f"with the SHA-256 given. Rendered with {renderer}, font {markup(fonts_used)}.", styles.small)]
