"""One section per region: the zoomed crop, score and label, the explanation,
the evidence items, every question asked with its answer, and every analyst
override with who and when."""

from __future__ import annotations

from datetime import timezone

from PIL import Image as PILImage
from reportlab.platypus import Flowable, KeepTogether, Paragraph, Table, TableStyle

from exports import pictures
from exports.report_model import RegionView
from exports.styles import Styles, grid, key_values, para
from exports.text import markup
from models.types import Evidence

CROP_SHARE = 0.38  # of the text width


# How the report words an analyst's decision (the store's region statuses).
_DECISIONS = {"confirmed": "confirmed as an AI artefact", "rejected": "judged authentic",
              "not-relevant": "judged not relevant", "deleted": "deleted"}

def _at(moment) -> str:
    return f"{moment.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC"


def region_section(region: RegionView, picture: PILImage.Image, styles: Styles, width: float) -> list[Flowable]:
    latest, original = region.latest, region.original
    label = markup(latest.label or "(no label)", 300)
    title = f"Region {region.number}: " + (f"<strike>{label}</strike> (deleted)" if region.deleted else label)
    crop_width = width * CROP_SHARE
    facts = key_values([
        ("Score", f"{latest.score:.2f}" + (" (the box was moved: the tool's score described the old box)"
                                           if latest.box != original.box and original.source == "model" else "")),
        ("Label", latest.label or "-"),
        ("Status", latest.status),
        ("Box (pixels)", "[" + ", ".join(f"{v:g}" for v in latest.box.to_list()) + "] x1, y1, x2, y2"),
        ("Drawn by", "the tool" if original.source == "model" else f"analyst {original.created_by}"),
        ("Region id", f"{region.key or '-'} (record {latest.id})"),
    ], styles, width - crop_width - 6)
    head = Table([[pictures.crop(picture, region, crop_width - 6, crop_width - 6), facts]],
                 colWidths=[crop_width, width - crop_width])
    head.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story: list[Flowable] = [KeepTogether([Paragraph(title, styles.h2), head])]
    story += _explanation(region, styles)
    if latest.evidence:
        story.append(Paragraph("Evidence in this region", styles.h2))
        story.append(evidence_table(latest.evidence, styles, width))
    story += _questions(region, styles)
    story += _overrides(region, styles)
    return story


def _explanation(region: RegionView, styles: Styles) -> list[Flowable]:
    original, latest = region.original, region.latest
    if original.source == "model" and latest.explanation != original.explanation:
        return [Paragraph(f"<b>Tool's explanation:</b> {markup(original.explanation or '-')}", styles.body),
                Paragraph(f"<b>Analyst's explanation:</b> {markup(latest.explanation or '-')}", styles.body)]
    who = "Tool's explanation" if original.source == "model" else "Analyst's explanation"
    return [Paragraph(f"<b>{who}:</b> {markup(latest.explanation or '-')}", styles.body)]


def evidence_table(items: tuple[Evidence, ...] | list[Evidence], styles: Styles, width: float) -> Table:
    rows: list[list[object]] = [[para(h, styles.cell_head) for h in ("Kind / source", "Finding", "Points to")]]
    for item in items:
        weight = f"{item.supports}, strength {item.strength:.2f}" + (", decisive" if item.decisive else "")
        rows.append([para(f"{item.kind} / {item.source}", styles.cell, 200), para(item.finding, styles.cell, 2500),
                     para(weight, styles.cell)])
    return grid(rows, [width * 0.2, width * 0.6, width * 0.2], header=True)


def _questions(region: RegionView, styles: Styles) -> list[Flowable]:
    if not region.questions:
        return [Paragraph("No questions were asked about this region.", styles.small)]
    story: list[Flowable] = [Paragraph(f"Questions asked ({len(region.questions)})", styles.h2)]
    for number, question in enumerate(region.questions, 1):
        story.append(Paragraph(f"<b>Q{number}</b> ({markup(question.asked_by, 200)}, {_at(question.asked_at)}): "
                               f"{markup(question.question)}", styles.body))
        answered_by = f" (answered by {markup(question.backend, 200)})" if question.backend else ""
        story.append(Paragraph(f"<b>A{number}</b>{answered_by}: {markup(question.answer or 'no answer recorded')}",
                               styles.body))
    return story


def _overrides(region: RegionView, styles: Styles) -> list[Flowable]:
    if not region.changes:
        if region.original.source == "analyst":
            return [Paragraph(f"Added by analyst {markup(region.original.created_by, 200)} on "
                              f"{_at(region.original.created_at)}.", styles.body)]
        return [Paragraph("No analyst override: the region stands as the tool reported it.", styles.small)]
    story: list[Flowable] = [Paragraph("Analyst's override", styles.h2)]
    if region.original.source == "analyst":
        story.append(Paragraph(f"Added by analyst {markup(region.original.created_by, 200)} on "
                               f"{_at(region.original.created_at)}.", styles.body))
    for change in region.changes:
        what = "; ".join(change.changes) or "no visible change"
        line = f"{_at(change.at)}, {markup(change.by, 200)}: {markup(what)}"
        if "status" in what and change.status in _DECISIONS:
            line += f" ({_DECISIONS[change.status]})"
        if change.reason:
            line += f". Analyst's note: {markup(change.reason)}"
        story.append(Paragraph(line, styles.body))
        if change.explanation:
            story.append(Paragraph(f"New explanation: {markup(change.explanation)}", styles.body))
    return story
