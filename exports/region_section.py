"""One section per region: a plain line saying what the region shows, the
zoomed crop with its box outlined, score and label and who drew it; beneath,
the measurements (explanation, evidence items), every question asked with its
answer, and every analyst override with who and when."""

from __future__ import annotations

from datetime import timezone

from PIL import Image as PILImage
from reportlab.platypus import Flowable, KeepTogether, Paragraph, Table, TableStyle

from exports import pictures
from exports.report_model import RegionView
from exports.styles import Styles, cell, grid, key_values, para
from exports.text import fold_lines, markup, without_doc_references
from models.types import Evidence

CROP_SHARE = 0.38  # of the text width
FACT_LINES = 5  # each fact beside the crop; the crop and facts share one row, which cannot break
TEXT_LINES = 300  # a note, question or answer laid out across pages stops here


# How the report words an analyst's decision (the store's region statuses).
_DECISIONS = {"confirmed": "confirmed as an AI artefact", "rejected": "judged authentic",
              "not-relevant": "judged not relevant", "deleted": "deleted"}

def _at(moment) -> str:
    return f"{moment.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC"


def region_section(region: RegionView, picture: PILImage.Image, styles: Styles, width: float) -> list[Flowable]:
    latest = region.latest
    label = markup(fold_lines(latest.label or "(no label)", 1), 200)
    title = f"Region {region.number}: " + (f"<strike>{label}</strike> (deleted)" if region.deleted else label)
    crop_width = width * CROP_SHARE
    drawn = "the tool" if region.drawn_by == "model" else f"analyst {region.original.created_by}"
    rows: list[tuple[str, object]] = [
        ("Score", f"{latest.score:.2f}" + (" (the box was moved: the tool's score described the old box)"
                                           if region.moved and region.drawn_by == "model" else "")),
        ("Label", latest.label or "-"),
        ("Status", latest.status),
        ("Box (pixels)", "[" + ", ".join(f"{v:g}" for v in latest.box.to_list()) + "] x1, y1, x2, y2"),
        ("Drawn by", drawn),
    ]
    if region.changes:
        rows.append(("Last changed by", f"analyst {latest.created_by}, {_at(latest.created_at)}"))
    rows.append(("Region id", f"{region.key or '-'} (record {latest.id})"))
    facts = key_values(rows, styles, width - crop_width - 6, max_lines=FACT_LINES)
    head = Table([[pictures.crop(picture, region, crop_width - 6, crop_width - 6), facts]],
                 colWidths=[crop_width, width - crop_width])
    head.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story: list[Flowable] = [KeepTogether([Paragraph(title, styles.h2), para(region.line, styles.body), head])]
    story += [Paragraph("Measurements", styles.h2), *_explanation(region, styles)]
    if latest.evidence:
        story.append(evidence_table(latest.evidence, styles, width))
    story += _questions(region, styles)
    story += _overrides(region, styles)
    return story


def _explanation(region: RegionView, styles: Styles) -> list[Flowable]:
    original, latest = region.original, region.latest
    if region.drawn_by == "analyst":
        return [Paragraph(f"<b>Analyst's explanation:</b> {_text(latest.explanation or '-')}", styles.body)]
    story = [Paragraph(f"<b>Tool's explanation:</b> {_text(without_doc_references(original.explanation) or '-')}",
                       styles.body)]
    if latest.explanation != original.explanation:
        story.append(Paragraph(f"<b>Analyst's explanation:</b> {_text(latest.explanation or '-')}", styles.body))
    return story


def _text(value: object) -> str:
    return markup(fold_lines(value, TEXT_LINES))


def evidence_table(items: tuple[Evidence, ...] | list[Evidence], styles: Styles, width: float) -> Table:
    widths = [width * 0.2, width * 0.6, width * 0.2]
    rows: list[list[object]] = [[para(h, styles.cell_head) for h in ("Kind / source", "Finding", "Points to")]]
    for item in items:
        weight = f"{item.supports}, strength {item.strength:.2f}" + (", decisive" if item.decisive else "")
        rows.append([cell(f"{item.kind} / {item.source}", styles.cell, widths[0], 4, 200),
                     cell(without_doc_references(item.finding), styles.cell, widths[1], 12, 2500), para(weight, styles.cell)])
    return grid(rows, widths, header=True)


def _questions(region: RegionView, styles: Styles) -> list[Flowable]:
    if not region.questions:
        return [Paragraph("No questions were asked about this region.", styles.small)]
    story: list[Flowable] = [Paragraph(f"Questions asked ({len(region.questions)})", styles.h2)]
    for number, question in enumerate(region.questions, 1):
        asked_by = markup(fold_lines(question.asked_by, 2), 200)
        story.append(Paragraph(f"<b>Q{number}</b> ({asked_by}, {_at(question.asked_at)}): {_text(question.question)}",
                               styles.body))
        answered_by = f" (answered by {markup(question.backend, 200)})" if question.backend else ""
        story.append(Paragraph(f"<b>A{number}</b>{answered_by}: {_text(question.answer or 'no answer recorded')}",
                               styles.body))
    return story


def _overrides(region: RegionView, styles: Styles) -> list[Flowable]:
    if not region.changes:
        if region.drawn_by == "analyst":
            return [Paragraph(f"Added by analyst {markup(region.original.created_by, 200)} on "
                              f"{_at(region.original.created_at)}.", styles.body)]
        return [Paragraph("No analyst override: the region stands as the tool reported it.", styles.small)]
    story: list[Flowable] = [Paragraph("Analyst's override", styles.h2)]
    if region.drawn_by == "analyst":
        story.append(Paragraph(f"Added by analyst {markup(region.original.created_by, 200)} on "
                               f"{_at(region.original.created_at)}.", styles.body))
    for change in region.changes:
        what = "; ".join(change.changes) or "no visible change"
        line = f"{_at(change.at)}, {markup(fold_lines(change.by, 2), 200)}: {_text(what)}"
        if "status" in what and change.status in _DECISIONS:
            line += f" ({_DECISIONS[change.status]})"
        if change.reason:
            line += f". Analyst's note: {_text(change.reason)}"
        story.append(Paragraph(line, styles.body))
        if change.explanation:
            story.append(Paragraph(f"New explanation: {_text(change.explanation)}", styles.body))
    return story
