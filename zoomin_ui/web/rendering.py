"""What the page shows, built from the workbench's typed values: the image
with numbered boxes, tables and text.  Model and analyst text only ever goes
into plain-text cells and text boxes, never into HTML or Markdown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
from PIL import Image

from models.glossary import ranking_score_words, verdict_word
from models.overlay import OverlayBox, box_colour
from models.types import Box, Region
from models.region_words import region_line
from zoomin_ui.summary import FOLDED_FIELDS, fold
from zoomin_ui.web.pictures import thumbnail_file
from zoomin_ui.web.regions import DECISION_NAMES, NumberedRegion, editor_margin, region_as_detected

if TYPE_CHECKING:
    from storage import AnalysisRecord, CaseSummary

REGION_COLUMNS = ["#", "what stood out", "score", "decision", "drawn by"]
CASE_COLUMNS = ["id", "title", "verdict", "analyst", "date", "files", "SHA-256"]
COMPARE_COLUMNS = ["", "before", "after"]

def _scaled(box: Box, scale: float) -> Box:
    return Box(box.x1 * scale, box.y1 * scale, box.x2 * scale, box.y2 * scale)


def region_boxes(scale: float, regions: Sequence[NumberedRegion], chosen: int | None = None) -> list[OverlayBox]:
    """The current boxes as drawn, numbered; the chosen region's box highlighted."""
    return [OverlayBox(_scaled(n.record.box, scale), n.number, n.record.score, box_style(n),
                       highlighted=n.record.id == chosen) for n in regions]


def scan_boxes(scale: float, regions: Sequence[Region]) -> list[OverlayBox]:
    """The stage-1 boxes, before they are examined and stored."""
    return [OverlayBox(_scaled(r.box, scale), number, r.score) for number, r in enumerate(regions, 1)]


def drawn_by(region: NumberedRegion) -> Literal["model", "analyst"]:
    """Who drew the box, as the store records it (kept through moves, decisions and re-runs)."""
    return "analyst" if region.record.source == "analyst" else "model"


def box_style(region: NumberedRegion) -> Literal["model", "analyst"]:
    """How the box is drawn: in the analyst's style once an analyst drew or moved it (as
    the legend and the report say); who drew it stays `drawn_by`."""
    return "analyst" if drawn_by(region) == "analyst" or region.record.moved_by else "model"


def source_words(region: NumberedRegion) -> str:
    """Who drew the box, and who moved it when an analyst moved it."""
    moved = f", moved by {region.record.moved_by}" if region.record.moved_by else ""
    return drawn_by(region) + moved


_CHOSEN_ROW = "background-color: #fff3c4; font-weight: 600"


def region_rows(regions: Sequence[NumberedRegion], chosen: int | None = None) -> Any:
    """The regions, highest score first, each with its plain line; the chosen one's row highlighted."""
    if not regions:
        return empty_rows("nothing stood out: no region was proposed")
    ordered = sorted(regions, key=lambda n: (-n.record.score, n.number))
    rows = [[n.number, plain_line(n.record), round(n.record.score, 2),
             DECISION_NAMES.get(n.record.status, "undecided"), source_words(n)] for n in ordered]
    marks = [n.record.id == chosen for n in ordered]
    table = pd.DataFrame(rows, columns=REGION_COLUMNS)
    return table.style.format({"score": "{:.2f}"}).apply(
        lambda row: [_CHOSEN_ROW if marks[row.name] else ""] * len(row), axis=1)


def plain_line(record: Any) -> str:
    """The region's one plain line (the same words the CLI and the report use)."""
    return region_line(region_as_detected(record))


def scan_rows(regions: Sequence[Region]) -> list[list[Any]]:
    if not regions:
        return empty_rows("nothing stood out: no region was proposed")
    ordered = sorted(enumerate(regions, 1), key=lambda item: -item[1].score)
    return [[number, r.label, round(r.score, 2), "examining…", "model"] for number, r in ordered]


def empty_rows(message: str) -> list[list[Any]]:
    """A regions table with no region says why, in its one row ("" for no image at all)."""
    return [["", message, "", "", ""]] if message else []


@dataclass(frozen=True)
class VerdictCard:
    word: str
    css_class: str  # verdict-ai, verdict-real, verdict-unsure or verdict-none
    headline: str
    figure: float | None
    figure_label: str


_CARD_CLASSES = {"ai-generated": "verdict-ai", "real": "verdict-real", "inconclusive": "verdict-unsure"}


def verdict_card(analysis: AnalysisRecord | None, running: bool = False) -> VerdictCard:
    """The large word, the one-sentence headline and the one figure (or none)."""
    if running:
        return VerdictCard("Analysing…", "verdict-none", "The image is being examined; the verdict follows.",
                           None, "")
    if analysis is None:
        return VerdictCard(verdict_word(None), "verdict-none",
                           "Drop an image and press Analyse, or open a case.", None, "")
    if analysis.status != "done" or analysis.verdict is None:
        return VerdictCard("No result", "verdict-none",
                           f"Analysis {analysis.id} {analysis.status}: {analysis.error or 'no result'}", None, "")
    reading = analysis.reading
    headline = reading.headline if reading else analysis.explanation
    figure = reading.figure if reading else None
    return VerdictCard(verdict_word(analysis.verdict), _CARD_CLASSES.get(analysis.verdict, "verdict-unsure"),
                       headline, figure, reading.figure_label if reading else "")


def reading_text(analysis: AnalysisRecord | None) -> str:
    """Under the card, in plain words: why, what the tool cannot tell (and what would
    settle it), the key evidence and a recovered generation recipe (long prompts folded,
    as the CLI folds them; the case file keeps them whole)."""
    reading = analysis.reading if analysis is not None and analysis.status == "done" else None
    if reading is None:
        return ""
    lines = [f"Why: {reading.basis}", f"What it cannot tell: {reading.limits}"]
    points = [point for point in reading.key_points if point != reading.basis]
    if points:
        lines += ["", "Key evidence:", *[f"• {point}" for point in points]]
    if reading.recipe:
        lines += ["", "Generation recipe recovered from the file:"]
        lines += [f"{name}: {fold(value) if name in FOLDED_FIELDS else value}" for name, value in reading.recipe.items()]
    return "\n".join(lines)


def verdict_text(analysis: AnalysisRecord | None) -> str:
    """The technical detail folded under the card: backend, score, the expert explanation and notes."""
    if analysis is None:
        return "Not analysed yet."
    if analysis.status != "done":
        return f"Analysis {analysis.id} {analysis.status}: {analysis.error or 'no result'}"
    heading = (f"Verdict: {analysis.verdict}, {ranking_score_words(analysis.score)} — "
               f"{analysis.backend.backend}, analysis {analysis.id}")
    lines = [heading, "", analysis.explanation]
    if analysis.notes:
        lines += ["", "Notes:", *[f"- {note}" for note in analysis.notes]]
    return "\n".join(lines)


def case_rows(cases: Sequence[CaseSummary]) -> list[list[Any]]:
    # A hash prefix is how an examiner matches a file to its case; 12 hex digits are unique in practice.
    return [[c.id, c.title, c.verdict or "—", c.created_by, f"{c.updated_at:%Y-%m-%d %H:%M}", ", ".join(c.files),
             ", ".join(h[:12] for h in c.file_hashes)] for c in cases]


def compare_rows(before: AnalysisRecord, after: AnalysisRecord) -> list[list[Any]]:
    def regions(a: AnalysisRecord) -> str:
        return "; ".join(f"{r.region_key} {r.label} {r.score:.2f}" for r in a.current_regions()) or "none"

    return [["analysis", before.id, after.id],
            ["verdict", before.verdict or "—", after.verdict or "—"],
            ["score", _score(before.score), _score(after.score)],
            ["boxes examined", len(before.current_regions()), len(after.current_regions())],
            ["regions", regions(before), regions(after)]]


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def editor_value(base: Image.Image, scale: float, regions: Sequence[NumberedRegion]) -> dict[str, Any]:
    """The box editor's value: its boxes carry only coordinates, a label and a
    colour, so the region's number is the label (ids and scores stay in the
    store) and the colour is the viewer's for the same box.  The picture has a
    blank band above it (regions.editor_margin), so the number the editor draws
    above a box at the image's top edge stays readable."""
    margin = editor_margin(base.width)
    picture = Image.new("RGB", (base.width, base.height + margin), (236, 236, 236))
    picture.paste(base.convert("RGB"), (0, margin))
    boxes = []
    for n in regions:
        box = _scaled(n.record.box, scale)
        colour = box_colour(OverlayBox(box, n.number, n.record.score, box_style(n)))
        boxes.append({"xmin": round(box.x1), "ymin": round(box.y1) + margin, "xmax": round(box.x2),
                      "ymax": round(box.y2) + margin, "label": str(n.number), "color": colour})
    return {"image": picture, "boxes": boxes}


def seen_before_text(name: str, sightings: Sequence[Any]) -> list[str]:
    """'photo.jpg: also in case 3 (title), analysed 2026-11-03: ai-generated', one line per case
    that already holds the exact file (storage.Sighting)."""
    lines = []
    for seen in sightings:
        when = f"analysed {seen.analysed_at:%Y-%m-%d}: {seen.latest_verdict}" if seen.analysed_at else "not analysed"
        concluded = f"; concluded {seen.final_verdict} by {seen.concluded_by}" if seen.final_verdict else ""
        lines.append(f"{name}: also in case {seen.case_id} ({seen.case_title}), {when}{concluded}")
    return lines


def waiting_text(paths: Sequence[str]) -> str:
    names = ", ".join(Path(p).name for p in paths)
    return f"Waiting for your name: {names} (not taken in yet)"


def last_answer(record: Any) -> str:
    """The region's latest question and its answer ('' when none was asked)."""
    if not record.questions:
        return ""
    last = record.questions[-1]
    return f"Q: {last.question}\nA: {last.answer}"


def evidence_strip(store: Any, case: Any) -> list[tuple[str, str]]:
    """A thumbnail of each evidence item of the case, captioned with its latest verdict."""
    from zoomin_ui.workbench import evidence_image, latest_analysis

    strip = []
    for item in case.evidence_files:
        thumb = thumbnail_file(item.sha256, lambda item=item: evidence_image(store, item.id))
        latest = latest_analysis(case, item.id)
        strip.append((thumb, f"{item.original_name}: {verdict_word(latest.verdict) if latest else 'not analysed'}"))
    return strip


def file_info_text(items: Sequence[Any]) -> str:
    """Hash, size and format of each evidence item (IntakeItem or EvidenceFileRecord)."""
    return "\n".join(f"{item.original_name if hasattr(item, 'original_name') else item.name}: "
                     f"{item.format}, {item.width}x{item.height}, {item.size_bytes:,} bytes, "
                     f"SHA-256 {item.sha256}" for item in items)


