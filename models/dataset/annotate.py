"""Automated annotation, MagniFake-style: the label is known, the model explains and grounds.

Per labelled image, query 1 shows the image, states its known label and asks
for the forensic explanation (and, for AI images, the list of artefacts it
rests on); query 2 (AI images only) asks for one box per artefact.  Boxes are
checked (inside the image, not degenerate, not the whole frame); a failed
query or a bad box is asked again up to `retries` times, then dropped with its
reason.  An AI image left with no valid box is not written.  Each kept record
is appended at once, so a stopped run resumes where it was: images whose
SHA-256 is already in the output are skipped.  The model is reached through
the VLM backends' transports (a local checkpoint or an OpenAI-compatible
server); boxes are asked for and read in the model family's own convention
(pixels of the resized input for Qwen2.5-VL, 0-1000 for Qwen3-VL and Qwen3.5).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from models.dataset.jsonl import append_records, read_dataset
from models.dataset.labels_csv import LabelledImage
from models.dataset.records import AnnotatedBox, Annotator, DatasetRecord
from models.image_input import ImageInputError, LoadedImage, load_image
from models.types import Box
from models.vlm import prompts as backend_prompts
from models.vlm.conversation import GenerationRequest, ImagePart, TextPart, Transport, TransportError, Turn
from models.vlm.families import DEFAULT_FAMILY, ModelFamily
from models.vlm.geometry import ModelGrid, resize_for_model
from models.vlm.parsing import parse_scan

PROMPT_VERSION = "annotate-v1"
log = logging.getLogger(__name__)

MIN_BOX_SIDE_PX = 4.0          # smaller cannot show an artefact and cannot be zoomed usefully
MAX_BOX_AREA_SHARE = 0.9       # a box over ~the whole frame localises nothing
EDGE_SLACK = 0.02              # corners this far (share of a side) past the edge are clamped, further is "outside"


def explain_request(label: str) -> str:
    if label == "fake":
        return ("This image is known to be AI-generated. As a forensic analyst, explain which visible artefacts "
                "give it away. Answer with JSON only: {\"explanation\": \"two to four sentences\", "
                "\"artefacts\": [\"one short description per visible artefact, naming where it is\"]}")
    return ("This image is known to be a real photograph. As a forensic analyst, explain which visible cues "
            "support that it is authentic (sensor noise, optics, consistent lighting, text, anatomy). Answer "
            "with JSON only: {\"explanation\": \"two to four sentences\"}")


def ground_request(artefacts: Sequence[str], width: int, height: int, problem: str = "",
                   family: ModelFamily = DEFAULT_FAMILY) -> str:
    listed = "\n".join(f"{i}. {text}" for i, text in enumerate(artefacts, 1))
    again = f"\nYour previous answer could not be used: {problem}. Try again." if problem else ""
    return (f"Give a bounding box {family.box_words(width, height)} for each artefact below: tight "
            "around the artefact, not the whole image. Answer with JSON only:\n"
            '[{"artifact": 1, "bbox_2d": [x1, y1, x2, y2]}]\n' + listed + again)


@dataclass(frozen=True)
class AnnotationSettings:
    retries: int = 2
    max_new_tokens: int = 512
    max_image_pixels: int = 1280 * 28 * 28
    box_units: str = "auto"


@dataclass
class AnnotationSummary:
    total: int = 0
    already_done: int = 0
    kept: int = 0
    boxes_kept: int = 0
    dropped_images: list[tuple[str, str]] = field(default_factory=list)   # (path, reason)
    dropped_boxes: list[tuple[str, str]] = field(default_factory=list)    # (path, reason)

    def lines(self) -> list[str]:
        return [(f"{self.total} image(s): {self.kept} annotated ({self.boxes_kept} box(es)), "
                 f"{self.already_done} already done, {len(self.dropped_images)} dropped, "
                 f"{len(self.dropped_boxes)} box(es) dropped"),
                *(f"dropped image {path}: {reason}" for path, reason in self.dropped_images),
                *(f"dropped box in {path}: {reason}" for path, reason in self.dropped_boxes)]


class Dropped(Exception):
    """This image cannot be annotated; the message says why."""


def check_box(coords: Sequence[float], grid: ModelGrid, units: str) -> tuple[Box | None, str]:
    """A box as the model wrote it -> (box in displayed pixels, "") or (None, why it is unusable)."""
    x1, y1, x2, y2 = grid.scaled_corners(coords, units)
    w, h = grid.original_width, grid.original_height
    shown = [round(c) for c in coords]
    if x1 < -EDGE_SLACK * w or y1 < -EDGE_SLACK * h or x2 > (1 + EDGE_SLACK) * w or y2 > (1 + EDGE_SLACK) * h:
        return None, f"box {shown} lies outside the image"
    x1, y1, x2, y2 = max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2)
    if x2 - x1 < MIN_BOX_SIDE_PX or y2 - y1 < MIN_BOX_SIDE_PX:
        return None, f"box {shown} is degenerate (a side under {MIN_BOX_SIDE_PX:.0f} px)"
    if (x2 - x1) * (y2 - y1) >= MAX_BOX_AREA_SHARE * w * h:
        return None, f"box {shown} covers the whole frame"
    return Box(x1, y1, x2, y2), ""


def parse_explanation(text: str, label: str) -> tuple[str, list[str]]:
    """(explanation, artefacts) from query 1's answer, or Dropped-worthy ValueError."""
    start = text.find("{")
    try:
        value, _ = json.JSONDecoder().raw_decode(text[start:]) if start >= 0 else (None, 0)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict) or not isinstance(value.get("explanation"), str) \
            or not value["explanation"].strip():
        raise ValueError(f"no JSON explanation in the answer ({' '.join(text.split())[:60]!r})")
    artefacts = [a.strip() for a in value.get("artefacts") or [] if isinstance(a, str) and a.strip()]
    if label == "fake" and not artefacts:
        raise ValueError("the explanation names no artefact to ground")
    return value["explanation"].strip(), artefacts


class TwoStepAnnotator:
    """Drives one transport through the two queries for each image."""

    def __init__(self, transport: Transport, settings: AnnotationSettings, backend: str):
        self.transport, self.settings, self.backend = transport, settings, backend
        self.model_id = str(transport.describe().get("model_id") or "")
        self.family: ModelFamily = getattr(transport, "family", DEFAULT_FAMILY)

    def _ask(self, image: LoadedImage, grid: ModelGrid, text: str, stage: str) -> str:
        parts = (TextPart(backend_prompts.IMAGE_INTRO.format(width=grid.model_width, height=grid.model_height) + "\n"),
                 ImagePart(resize_for_model(image.rgb, grid)), TextPart("\n" + text))
        request = GenerationRequest(turns=(Turn("system", (TextPart(backend_prompts.SYSTEM),)), Turn("user", parts)),
                                    stage=stage, max_new_tokens=self.settings.max_new_tokens,  # type: ignore[arg-type]
                                    prefix_key=f"annotate|{image.sha256}")
        try:
            return self.transport.generate(request).text
        except TransportError as exc:
            raise Dropped(f"the model did not answer ({exc})") from None

    def annotate(self, item: LabelledImage, image: LoadedImage, dropped_boxes: list[tuple[str, str]]) -> DatasetRecord:
        grid = ModelGrid.for_image(image.width, image.height, self.settings.max_image_pixels, self.family)
        problem = ""
        for _ in range(self.settings.retries + 1):
            try:
                explanation, artefacts = parse_explanation(self._ask(image, grid, explain_request(item.label), "scan"),
                                                           item.label)
                break
            except ValueError as exc:
                problem = str(exc)
        else:
            raise Dropped(f"explanation: {problem} (after {self.settings.retries + 1} tries)")
        boxes = self._ground(image, grid, artefacts, str(item.path), dropped_boxes) if item.label == "fake" else ()
        if item.label == "fake" and not boxes:
            raise Dropped("no artefact could be grounded in a valid box")
        return DatasetRecord(path=str(item.path), sha256=image.sha256, label=item.label,  # type: ignore[arg-type]
                             width=image.width, height=image.height, generator=item.generator, boxes=boxes,
                             explanation=explanation,
                             annotator=Annotator(self.model_id, PROMPT_VERSION, self.backend))

    def _ground(self, image: LoadedImage, grid: ModelGrid, artefacts: list[str], path: str,
                dropped: list[tuple[str, str]]) -> tuple[AnnotatedBox, ...]:
        found: dict[int, Box] = {}
        reasons: dict[int, str] = {}
        problem = ""
        for _ in range(self.settings.retries + 1):
            missing = [i for i in range(len(artefacts)) if i not in found]
            if not missing:
                break
            answer = self._ask(image, grid, ground_request([artefacts[i] for i in missing], grid.model_width,
                                                           grid.model_height, problem, self.family), "examine")
            parsed = parse_scan(answer)
            units = grid.answer_units([b.coords for b in parsed.boxes], self.settings.box_units)
            problems = []
            for order, proposal in enumerate(parsed.boxes):
                index = _artefact_index(proposal, order, missing)
                if index is None or index in found:
                    continue
                box, why = check_box(proposal.coords, grid, units)
                if box is None:
                    reasons[index] = why
                    problems.append(why)
                else:
                    found[index] = box
            problem = "; ".join(problems) or (parsed.problem or "")
            for i in missing:
                reasons.setdefault(i, problem or "no box given for it")
        for i, text in enumerate(artefacts):
            if i not in found:
                dropped.append((path, f"artefact {text!r}: {reasons.get(i, 'no box given for it')}"))
                log.info("dropped box in %s: %s", path, reasons.get(i))
        return tuple(AnnotatedBox(found[i], artefacts[i]) for i in sorted(found))


def _artefact_index(proposal, order: int, missing: list[int]) -> int | None:
    """Which artefact a box is for: its "artifact" number (1-based in the asked list), else its position."""
    asked = proposal.label if proposal.label.isdigit() else ""
    position = int(asked) - 1 if asked else order
    return missing[position] if 0 <= position < len(missing) else None


def annotate_images(items: Sequence[LabelledImage], out: Path, annotator: TwoStepAnnotator,
                    max_pixels: int | None = None, progress: bool = True) -> AnnotationSummary:
    """Annotate every image not yet in `out` (resumable), appending records as they are made."""
    from tqdm import tqdm

    done = {r.sha256 for r in read_dataset(out, check_files=False)} if out.exists() else set()
    summary = AnnotationSummary(total=len(items))
    for item in tqdm(items, desc="annotating", unit="image", file=sys.stderr, disable=not progress):
        try:
            image = load_image(str(item.path), max_pixels=max_pixels)
        except ImageInputError as exc:
            summary.dropped_images.append((str(item.path), str(exc)))
            continue
        if image.sha256 in done:
            summary.already_done += 1
            continue
        try:
            record = annotator.annotate(item, image, summary.dropped_boxes)
        except Dropped as exc:
            summary.dropped_images.append((str(item.path), str(exc)))
            log.info("dropped %s: %s", item.path, exc)
            continue
        append_records(out, [record])
        done.add(image.sha256)
        summary.kept += 1
        summary.boxes_kept += len(record.boxes)
    return summary
