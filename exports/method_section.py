"""Method (how each result was produced, precisely enough to reproduce it),
the audit log of analyst actions, and the limitations every reader must know."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from reportlab.platypus import Flowable, ListFlowable, ListItem, Paragraph

from exports.report_model import EvidenceView, ReportData
from exports.sections import when
from exports.styles import Styles, grid, key_values, para
from exports.text import compact_json, markup

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


def method_section(index: int, item: EvidenceView, styles: Styles, width: float) -> list[Flowable]:
    analysis = item.analysis
    story: list[Flowable] = [Paragraph(f"Method for evidence item {index}", styles.h1)]
    if analysis is None:
        return story + [Paragraph("No finished analysis is on record for this file.", styles.body)]
    backend = analysis.backend
    rows: list[tuple[str, object]] = [
        ("Analysis", (f"{analysis.id}, started {when(analysis.started_at)} by {analysis.started_by}, "
                     f"finished {when(analysis.finished_at)}")),
        ("Backend", f"{backend.backend} {backend.backend_version}".strip()),
        ("Model", backend.model_id or "none (no model download)"),
        ("Model revision or weights hash", backend.model_revision or "-"),
        ("Quantization", backend.quantization or "none"),
        ("Parameters", compact_json(analysis.parameters)),
        ("Software versions", ", ".join(f"{k} {v}" for k, v in sorted(analysis.software.items())) or "-"),
        ("Timings (s)", ", ".join(f"{k} {v:.3f}" for k, v in analysis.timings.items()) or "-"),
    ]
    output = item.model_output
    if output is not None and output.provenance:
        for key, value in output.provenance.items():
            rows.append((f"Recorded: {key.replace('_', ' ')}", compact_json(value, 1200)))
    if analysis.notes:
        rows.append(("Notes on the input", "; ".join(analysis.notes)))
    if output is not None and output.question:
        rows.append(("Question with the run", f"{output.question} -> {output.answer or ''}"))
    story.append(key_values(rows, styles, width, mono_keys=frozenset({"Model revision or weights hash"})))
    if output is not None and output.raw_output:
        story += [Paragraph("The model's own output, verbatim", styles.h2), para(output.raw_output, styles.mono, 4000)]
    return story


def audit_section(data: ReportData, styles: Styles, width: float) -> list[Flowable]:
    story: list[Flowable] = [
        Paragraph("Audit log", styles.h1),
        Paragraph("Every recorded action on this case, oldest first (times in UTC). Exports of reports are "
                  "logged in the case store and not repeated here.", styles.small)]
    rows: list[list[object]] = [[para(h, styles.cell_head) for h in ("When", "Who", "Action", "Change")]]
    for event in data.history:
        change = _change_text(event.before, event.after)
        rows.append([para(f"{event.at:%Y-%m-%d %H:%M:%S}", styles.cell), para(event.actor, styles.cell, 200),
                     para(f"{event.action} {event.subject}", styles.cell, 200), para(change, styles.cell, 700)])
    story.append(grid(rows, [width * 0.2, width * 0.14, width * 0.24, width * 0.42], header=True))
    return story


def _change_text(before: object, after: object) -> str:
    """What an event changed; for two snapshots, only the fields that differ."""
    if before is None and after is None:
        return ""
    if before is None:
        return compact_json(after, 600)
    if isinstance(before, dict) and isinstance(after, dict):
        keys = [k for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)]
        return "; ".join(f"{k}: {compact_json(before.get(k), 200)} -> {compact_json(after.get(k), 200)}"
                         for k in keys) or "no field changed"
    return f"{compact_json(before, 300)} -> {compact_json(after, 300)}"


def limitations_section(styles: Styles, fonts_used: str) -> list[Flowable]:
    items = [ListItem(Paragraph(markup(text), styles.body), leftIndent=12) for text in LIMITATIONS]
    try:
        renderer = f"reportlab {version('reportlab')}"
    except PackageNotFoundError:
        renderer = "reportlab"
    return [Paragraph("Limitations", styles.h1), ListFlowable(items, bulletType="bullet", start="\u2022", bulletFontName=styles.fonts.regular),
            Paragraph(f"Images in this report are re-encoded illustrations (JPEG); the evidence is the stored file "
                      f"with the SHA-256 given. Rendered with {renderer}, font {markup(fonts_used)}.", styles.small)]
