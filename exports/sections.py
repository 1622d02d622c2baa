"""The sections after the first page: the notes in full, and one section per
evidence item (the file, the image with its boxes, the recipe, the regions)."""

from __future__ import annotations

from PIL import Image as PILImage
from reportlab.platypus import Flowable, Paragraph, Spacer

from exports.pictures import Overviews
from exports.region_section import evidence_table, region_section
from exports.first_page import NOTE_LINES
from exports.report_model import EvidenceView, ReportData
from exports.styles import Styles, grid, key_values, para
from exports.text import fold_lines, markup
from exports.timefmt import when

# A long text laid out across pages stops here; the case store keeps the rest.
BODY_LINES = 300
RECIPE_LINES = 6  # of each recipe field (a prompt can run to pages)


def notes_section(data: ReportData, styles: Styles) -> list[Flowable]:
    """The analyst's whole final note (page 1 shows its start) and the case notes."""
    story: list[Flowable] = []
    if data.final_note and fold_lines(data.final_note, NOTE_LINES) != data.final_note:
        story += [Paragraph("The analyst's note in full", styles.h1),
                  para(fold_lines(data.final_note, BODY_LINES), styles.body)]
    if data.notes:
        story += [Paragraph("Case notes", styles.h1), para(fold_lines(data.notes, BODY_LINES), styles.body)]
    return story


def recipe_table(item: EvidenceView, styles: Styles, width: float) -> list[Flowable]:
    """The generation recipe recovered from the file (prompt, model, sampler, seed ...)."""
    recipe = item.reading.recipe if item.reading is not None else {}
    if not recipe:
        return []
    rows = [(name.replace("_", " ").capitalize(), value) for name, value in recipe.items()]
    return [Paragraph("How the image was made, as the file records it", styles.h2),
            key_values(rows, styles, width, max_lines=RECIPE_LINES)]


def evidence_section(index: int, item: EvidenceView, styles: Styles, width: float,
                     overviews: Overviews) -> list[Flowable]:
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
    story: list[Flowable] = [Paragraph(f"Evidence item {index}: {markup(fold_lines(record.original_name, 1), 300)}",
                                       styles.h1),
                             key_values(rows, styles, width, mono_keys=frozenset({"SHA-256"}))]
    if item.analysis is None:
        story.append(Paragraph("No finished analysis of this file is on record.", styles.body))
        return story
    picture = PILImage.fromarray(item.image.rgb)
    story += [Spacer(1, 6), overviews.flowable(item, width, width * 0.8),
              Paragraph("Numbers match the region sections below. Solid boxes: the tool's regions, coloured by "
                        "score (green low, amber middle, red high). Dashed blue: drawn or moved by an analyst. "
                        "Dashed grey, crossed out: deleted by an analyst (still listed below).", styles.small)]
    deleted = [r for r in item.regions if r.deleted]
    if deleted:
        story.append(grid([[para(f"Deleted region {r.number}", styles.cell_head),
                            Paragraph(f"<strike>{markup(fold_lines(r.latest.label or r.key, 2), 300)}</strike>",
                                      styles.cell)]
                           for r in deleted], [width * 0.27, width * 0.73]))
    story += recipe_table(item, styles, width)
    if item.analysis.evidence:
        story += [Paragraph("Image-level evidence", styles.h2),
                  evidence_table(item.analysis.evidence, styles, width)]
    if not item.regions:
        story.append(Paragraph("The tool marked no regions in this image.", styles.body))
    for region in item.regions:
        story += region_section(region, picture, styles, width)
    return story
