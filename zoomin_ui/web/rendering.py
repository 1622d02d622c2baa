"""What the page shows, built from the workbench's typed values: the image
with numbered boxes, tables and text.  Model and analyst text only ever goes
into plain-text cells and text boxes, never into HTML or Markdown."""

from __future__ import annotations

import atexit
import io
import shutil
import tempfile
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from models.image_input import LoadedImage
from models.overlay import OverlayBox, draw_boxes
from models.types import Box, Region
from zoomin_ui.web.regions import EditedBox, NumberedRegion

if TYPE_CHECKING:
    from storage import AnalysisRecord, CaseSummary

DISPLAY_SIDE = 1600  # longest side of the image as the page shows it
REGION_COLUMNS = ["#", "label", "score", "status", "source"]
CASE_COLUMNS = ["id", "title", "verdict", "analyst", "date", "files", "SHA-256"]
COMPARE_COLUMNS = ["", "before", "after"]

_BASES: OrderedDict[str, tuple[Image.Image, float]] = OrderedDict()
_BASES_LOCK = threading.Lock()


def display_base(image: LoadedImage) -> tuple[Image.Image, float]:
    """The image shrunk for the page (kept for the last few images) and the
    scale from image pixels to display pixels."""
    with _BASES_LOCK:
        if image.sha256 in _BASES:
            _BASES.move_to_end(image.sha256)
            return _BASES[image.sha256]
    base = Image.fromarray(image.rgb)
    scale = min(1.0, DISPLAY_SIDE / max(base.size))
    if scale < 1.0:
        base = base.resize((max(1, round(base.width * scale)), max(1, round(base.height * scale))),
                           Image.Resampling.LANCZOS)
    with _BASES_LOCK:
        _BASES[image.sha256] = (base, scale)
        while len(_BASES) > 4:
            _BASES.popitem(last=False)
    return base, scale


def _scaled(box: Box, scale: float) -> Box:
    return Box(box.x1 * scale, box.y1 * scale, box.x2 * scale, box.y2 * scale)


def overlay_regions(base: Image.Image, scale: float, regions: Sequence[NumberedRegion]) -> Image.Image:
    return draw_boxes(base, [OverlayBox(_scaled(n.record.box, scale), n.number, n.record.score, drawn_by(n))
                             for n in regions])


def overlay_scan(base: Image.Image, scale: float, regions: Sequence[Region]) -> Image.Image:
    """The stage-1 boxes, before they are examined and stored."""
    return draw_boxes(base, [OverlayBox(_scaled(r.box, scale), number, r.score)
                             for number, r in enumerate(regions, 1)])


def drawn_by(region: NumberedRegion) -> str:
    """Who drew the box: a detector's box stays the detector's when an analyst
    only marks it (region keys r1.. are the detector's, a1.. the analyst's)."""
    return "model" if region.record.region_key.startswith("r") else "analyst"


def region_rows(regions: Sequence[NumberedRegion]) -> list[list[Any]]:
    def source(n: NumberedRegion) -> str:
        edited = drawn_by(n) == "model" and n.record.source == "analyst"
        return "model (edited by analyst)" if edited else drawn_by(n)

    return [[n.number, n.record.label, round(n.record.score, 3),
             n.decision.split(":")[0] if n.decision else n.record.status, source(n)] for n in regions]


def scan_rows(regions: Sequence[Region]) -> list[list[Any]]:
    return [[number, r.label, round(r.score, 3), "examining…", "model"] for number, r in enumerate(regions, 1)]


def verdict_text(analysis: AnalysisRecord | None) -> str:
    if analysis is None:
        return "Not analysed yet."
    if analysis.status != "done":
        return f"Analysis {analysis.id} {analysis.status}: {analysis.error or 'no result'}"
    heading = (f"Verdict: {analysis.verdict} (score {analysis.score:.2f}) — {analysis.backend.backend}, "
               f"analysis {analysis.id}")
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
    page's state)."""
    boxes = []
    for n in regions:
        box = _scaled(n.record.box, scale)
        boxes.append({"xmin": round(box.x1), "ymin": round(box.y1), "xmax": round(box.x2), "ymax": round(box.y2),
                      "label": str(n.number)})
    return {"image": base, "boxes": boxes}


def edited_boxes(value: dict[str, Any] | None, scale: float) -> list[EditedBox]:
    """The editor's boxes back in image pixels; a label that is not a region
    number marks a box the analyst drew."""
    if not value:
        return []
    edited = []
    for item in value.get("boxes") or []:
        label = str(item.get("label") or "").strip()
        try:
            box = Box(*(float(item[k]) / scale for k in ("xmin", "ymin", "xmax", "ymax")))
        except (KeyError, TypeError, ValueError):
            continue  # a zero-size box drawn by a slip of the mouse
        edited.append(EditedBox(int(label) if label.isdigit() else None, box))
    return edited


def file_info_text(items: Sequence[Any]) -> str:
    """Hash, size and format of each evidence item (IntakeItem or EvidenceFileRecord)."""
    return "\n".join(f"{item.original_name if hasattr(item, 'original_name') else item.name}: "
                     f"{item.format}, {item.width}x{item.height}, {item.size_bytes:,} bytes, "
                     f"SHA-256 {item.sha256}" for item in items)


# A zoom crop is shown losslessly (a JPEG would add artefacts of its own to
# the pixels being judged).  Gradio would PNG-encode it at zlib level 6, which
# costs ~150 ms for a 512 px crop; level 1 takes ~25 ms for a file ~15% larger.
# Gradio copies the file into its own cache when the event returns, so only
# the latest few are kept here.
_CROP_FILES_KEPT = 32
_crop_folder: Path | None = None
_crop_lock = threading.Lock()


def fast_png(image: Image.Image) -> str:
    """`image` as a quickly compressed PNG file that Gradio may serve."""
    global _crop_folder
    data = io.BytesIO()
    image.save(data, "PNG", compress_level=1)
    with _crop_lock:
        if _crop_folder is None:
            _crop_folder = Path(tempfile.mkdtemp(prefix="zoomin-crops-"))
            atexit.register(shutil.rmtree, _crop_folder, True)
        path = _crop_folder / f"crop-{uuid.uuid4().hex}.png"
        path.write_bytes(data.getvalue())
        kept = sorted(_crop_folder.glob("crop-*.png"), key=lambda p: p.stat().st_mtime_ns)
        for old in kept[:-_CROP_FILES_KEPT]:
            old.unlink(missing_ok=True)
    return str(path)
