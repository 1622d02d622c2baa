"""Training conversations from dataset records, in exactly the words, layout
and image sizes the VLM backend uses at inference.

Each record gives two examples, one per query of the locate-then-examine
protocol (models/vlm/protocol.py):

1. scan: system text, the full image resized to the model's grid, the stage-1
   request -> the annotated boxes as the JSON list stage 1 asks for, in the
   model family's convention (Qwen2.5-VL: input pixels; Qwen3-VL, Qwen3.5:
   0-1000) (real images: `[]`).
2. examine: the same prefix, each region zoomed as the backend crops it with
   its caption, the stage-2 request -> `<think>` (the image-level
   explanation), one finding per region in `<regions>`, and the verdict.
   Fakes are examined on their annotated boxes; real images on what the
   backend examines when the model names nothing: the evidence engine's
   region proposals, or failing those the coarse grid.

With `context` (the evidence engine's file findings, as the backend adds them
by default) the prefix carries the same text block the backend sends.

The backend's parser reads these answers back to the same boxes and verdict;
tests/test_training.py runs them through the protocol to prove it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from models.dataset.records import DatasetRecord
from models.image_input import LoadedImage
from models.types import Box
from models.vlm import prompts
from models.vlm.conversation import GenerationRequest, ImagePart, TextPart, Turn
from models.vlm.families import DEFAULT_FAMILY, ModelFamily
from models.vlm.geometry import ModelGrid, coarse_grid, resize_for_model, zoom_crop
from models.vlm.local import chat_messages  # the local transport's own message layout

GRID_LABEL = "grid cell (nothing proposed a region)"   # the protocol's label for fallback regions
REAL_FINDING = "consistent with a real photograph: no generation or editing artifact"
REAL_REASONING = "No region shows generation or editing artifacts; the image is consistent with a real photograph."


@dataclass(frozen=True)
class ShownRegion:
    """A region as the protocol shows it: displayed-pixel box, label, reason."""

    box: Box
    label: str
    reason: str


@dataclass(frozen=True)
class TrainingExample:
    """One query and the answer the model should give, with what the rewards need."""

    stage: Literal["scan", "examine"]
    turns: tuple[Turn, ...]
    answer: str
    label: str                                          # "real" | "fake"
    model_boxes: tuple[tuple[float, float, float, float], ...]   # annotated boxes, in the family's convention
    region_count: int                                   # regions shown in the examine query (0 for scan)
    sha256: str
    template_options: tuple[tuple[str, object], ...] = ()   # the family's chat-template switches (Qwen3.5: no thinking)

    @property
    def images(self) -> list:
        return [image for turn in self.turns for image in turn.images]

    def messages(self) -> list[dict[str, Any]]:
        """The prompt as chat messages with image placeholders, as the local transport writes it."""
        request = GenerationRequest(turns=self.turns, stage=self.stage, max_new_tokens=1)
        return chat_messages(request)

    def trl_row(self) -> dict[str, Any]:
        """A prompt-completion row for trl (SFT trains on the completion only; GRPO
        generates its own and hands the other columns to the reward functions)."""
        row = {"prompt": self.messages(), "images": self.images,
               "completion": [{"role": "assistant", "content": [{"type": "text", "text": self.answer}]}],
               "stage": self.stage, "label": self.label, "boxes": [list(b) for b in self.model_boxes],
               "region_count": self.region_count}
        if self.template_options:  # trl passes a row's chat_template_kwargs to apply_chat_template
            row["chat_template_kwargs"] = dict(self.template_options)
        return row


@dataclass(frozen=True)
class ConversationSettings:
    """The backend settings the examples must match (VLMSettings' names and meaning)."""

    max_image_pixels: int
    max_regions: int = 3
    crop_margin: float = 0.25
    zoom_size: int = 336
    family: ModelFamily = DEFAULT_FAMILY   # the base checkpoint's (models/vlm/families.py)


def record_examples(record: DatasetRecord, image: LoadedImage, settings: ConversationSettings, context: str = "",
                    proposals: Sequence[ShownRegion] = ()) -> list[TrainingExample]:
    """The scan and the examine example for one record and its decoded image; `context` is the
    evidence text the backend would add, `proposals` the evidence engine's regions (used, as by the
    backend, when no region is named)."""
    family = settings.family
    grid = ModelGrid.for_image(image.width, image.height, settings.max_image_pixels, family)
    prefix = [TextPart(prompts.IMAGE_INTRO.format(width=grid.model_width, height=grid.model_height) + "\n"),
              ImagePart(resize_for_model(image.rgb, grid))]
    if context:
        prefix.append(TextPart("\n" + context + "\n"))
    system = Turn("system", (TextPart(prompts.SYSTEM),))
    regions = annotated_regions(record, settings.max_regions)
    model_boxes = tuple(grid.to_model(region.box) for region in regions)

    scan_turns = (system, Turn("user", (*prefix, TextPart(prompts.scan_request(
        grid.model_width, grid.model_height, settings.max_regions, family)))))
    scan = TrainingExample("scan", scan_turns, scan_answer(regions, grid), record.label, model_boxes, 0,
                           record.sha256, family.chat_template_options)

    shown = regions or list(proposals[: settings.max_regions]) or [
        ShownRegion(box, GRID_LABEL, "") for box in coarse_grid(image.width, image.height, settings.max_regions)]
    extra: list[TextPart | ImagePart] = []
    for index, region in enumerate(shown, 1):
        crop, _ = zoom_crop(image.rgb, region.box, settings.crop_margin, settings.zoom_size, family)
        extra += [TextPart(prompts.region_caption(index, grid.to_model_ints(region.box), region.label,
                                                  region.reason, family) + "\n"), ImagePart(crop), TextPart("\n")]
    extra.append(TextPart(prompts.examine_request(len(shown))))
    examine = TrainingExample("examine", (system, Turn("user", (*prefix, *extra))),
                              examine_answer(record, len(shown)), record.label, model_boxes, len(shown),
                              record.sha256, family.chat_template_options)
    return [scan, examine]


def annotated_regions(record: DatasetRecord, max_regions: int) -> list[ShownRegion]:
    """A fake's first `max_regions` annotated boxes (the backend keeps no more); none for a real image."""
    if not record.is_fake:
        return []
    return [ShownRegion(item.box, short_label(item.explanation), " ".join(item.explanation.split()))
            for item in record.boxes[:max_regions]]


def short_label(explanation: str, words: int = 4) -> str:
    """A region's label for the stage-1 answer: the first words of its explanation."""
    head = explanation.split(".")[0].split(";")[0].split(",")[0].split()
    return " ".join(head[:words]) if head else "artifact"


def scan_answer(regions: list[ShownRegion], grid: ModelGrid) -> str:
    """Stage 1's answer: the JSON list the scan request asks for ("[]" when nothing is suspicious)."""
    items = [{"bbox_2d": grid.to_model_ints(region.box), "label": region.label, "reason": region.reason}
             for region in regions]
    return json.dumps(items, ensure_ascii=False)


def examine_answer(record: DatasetRecord, region_count: int) -> str:
    """Stage 2's answer: reasoning, one finding per region shown, the verdict."""
    if record.is_fake:
        findings = [{"region": i, "artifact": True, "finding": " ".join(item.explanation.split())
                     or "generation artifact"} for i, item in enumerate(record.boxes[:region_count], 1)]
        reasoning = record.explanation or " ".join(f["finding"] for f in findings)
        verdict = "generated"
    else:
        findings = [{"region": i, "artifact": False, "finding": REAL_FINDING} for i in range(1, region_count + 1)]
        reasoning = record.explanation or REAL_REASONING
        verdict = "real"
    return (f"<think>{' '.join(reasoning.split())}</think>\n"
            f"<regions>{json.dumps(findings, ensure_ascii=False)}</regions>\n"
            f"<verdict>{verdict}</verdict>")
