"""The words both stages send, in one place so the local and the remote backend
ask exactly the same questions.

The wording follows the locate-then-examine protocol (ZoomIn, arXiv
2510.04225): query 1 asks for suspicious regions as structured boxes in the
model family's own convention (pixels of the image it sees for Qwen2.5-VL,
0-1000 for Qwen3-VL and Qwen3.5: families.py); query 2 shows each region zoomed in next
to the full image and asks for `<think>…</think>` reasoning, a finding per
region and `<verdict>real|generated</verdict>`.  The system text and the full
image come first and are identical in both queries, so a backend that keeps
the first query's prefix (local: its KV cache) does not pay for it twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from models.types import Evidence
from models.vlm.families import DEFAULT_FAMILY, ModelFamily

SYSTEM = ("You are a forensic image analyst. You decide whether a photograph was generated or edited by AI, "
          "and you point to the visual evidence: anatomy, text and symbols, geometry and perspective, lighting "
          "and shadows, reflections, textures and edges, and anything that is physically implausible.")

IMAGE_INTRO = "Image under examination ({width}x{height} pixels as you see it)."


def evidence_context(items: Sequence[Evidence]) -> str:
    """The evidence engine's file-level findings, as context the model may weigh."""
    lines = []
    for item in items:
        weight = "decisive" if item.decisive else f"strength {item.strength:.2f}"
        lines.append(f"- [{item.kind}] {item.finding} (points to: {item.supports}; {weight})")
    if not lines:
        return ""
    return ("Findings from the file itself (Content Credentials, metadata, watermark and signal checks), "
            "for context; judge the pixels yourself:\n" + "\n".join(lines))


def scan_request(width: int, height: int, max_regions: int, family: ModelFamily = DEFAULT_FAMILY) -> str:
    return (f"Stage 1 (locate). Scan the whole image for regions that show signs of AI generation or AI editing. "
            f"Name at most {max_regions} regions, most suspicious first. Give each as a bounding box "
            f"{family.box_words(width, height)}, with a short label and the reason. Answer with JSON only:\n"
            '[{"bbox_2d": [x1, y1, x2, y2], "label": "short label", "reason": "what looks wrong"}]\n'
            "If nothing looks suspicious, answer [].")


def region_caption(index: int, model_box: Sequence[int], label: str, reason: str,
                   family: ModelFamily = DEFAULT_FAMILY) -> str:
    # Said once per region, so kept short: that boxes are in the full image is said once, in the request
    # (stage 2 prefills every one of these tokens; the crops' own tokens it cannot avoid).
    flagged = f" flagged as '{label}'" if label else ""
    why = f" ({reason})" if reason else ""
    return f"Region {index}{flagged}{why}: box {list(model_box)}{family.caption_units()}, zoomed:"


def examine_request(region_count: int, question: str | None = None) -> str:
    asked = (f"\nThe analyst asks about the region(s) above: {question.strip()}\n"
             "Answer that question inside <answer>...</answer> before the verdict.") if question else ""
    return (f"Stage 2 (examine). Compare each of the {region_count} zoomed region(s) (boxes in the full image) "
            "with the full image: real photograph, or generation or editing artifacts? "
            "Reason step by step inside <think>...</think>, give one finding per region as JSON inside "
            '<regions>[{"region": 1, "artifact": true, "finding": "what you see"}]</regions>, '
            "then your verdict on the whole image: <verdict>real</verdict> or "
            f"<verdict>generated</verdict>.{asked}")
