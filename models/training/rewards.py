"""GRPO's reward functions: pure functions of one completion and its record.

Every answer is read with the VLM backend's own parser (models/vlm/parsing.py),
so the model is rewarded for what the backend will actually understand.

format: stage 1 - 1.0 for the bare JSON list the request asks for, 0.5 when
        the parser reads it only from another form (code fence, prose, Qwen
        box tokens), 0.0 when it reads nothing.  Stage 2 - the share of the
        three required parts present: `<think>…</think>`, a `<regions>`
        finding for every region shown, a readable `<verdict>`.
label:  stage 2 - 1.0 when the verdict matches the label.  Stage 1 - 1.0
        when the model names regions on a fake and answers "none" on a real
        image (the backend treats "no region" as "nothing suspicious").
iou:    stage 1 on fakes with annotated boxes - the best-match IoU: for each
        annotated box the highest IoU of any predicted box (only the first
        max_regions predictions count, as the backend keeps no more),
        averaged over annotated boxes.  Not applicable (None) elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torchvision.ops import box_iou

from models.training.config import REWARD_NAMES
from models.vlm.parsing import parse_examine, parse_scan

Coords = Sequence[float]


def completion_text(completion: Any) -> str:
    """The text of a completion as trl hands it: a string, or assistant messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        completion = [completion]
    texts = []
    for message in completion:
        content = message.get("content", "") if isinstance(message, Mapping) else message
        if isinstance(content, str):
            texts.append(content)
        else:
            texts.extend(str(part.get("text") or "") for part in content if isinstance(part, Mapping))
    return "".join(texts)


def _is_bare_json_list(text: str) -> bool:
    try:
        value = json.loads(text.strip())
    except json.JSONDecodeError:
        return False
    return isinstance(value, list) and all(isinstance(item, dict) and "bbox_2d" in item for item in value)


def format_reward(text: str, stage: str, region_count: int = 0) -> float:
    if stage == "scan":
        parsed = parse_scan(text)
        if parsed.problem is not None:
            return 0.0
        return 1.0 if _is_bare_json_list(text) else 0.5
    parsed = parse_examine(text)
    has_think = "<think>" in text and "</think>" in text
    has_findings = "<regions>" in text and all(i in parsed.findings for i in range(1, region_count + 1))
    return (has_think + has_findings + (parsed.verdict is not None)) / 3.0


def label_reward(text: str, stage: str, label: str) -> float:
    fake = label == "fake"
    if stage == "scan":
        parsed = parse_scan(text)
        if parsed.problem is not None:
            return 0.0
        return 1.0 if bool(parsed.boxes) == fake else 0.0
    verdict = parse_examine(text).verdict
    return 1.0 if verdict == ("ai-generated" if fake else "real") else 0.0


def best_match_iou(predicted: Sequence[Coords], annotated: Sequence[Coords]) -> float:
    """Mean over annotated boxes of the best IoU any predicted box reaches (0 with no prediction)."""
    if not annotated:
        raise ValueError("best-match IoU needs at least one annotated box")
    if not predicted:
        return 0.0
    pred, truth = _boxes(predicted), _boxes(annotated)
    overlaps = box_iou(truth, pred).nan_to_num(0.0)   # (annotated, predicted); two empty boxes give 0/0
    return float(overlaps.max(dim=1).values.mean())


def _boxes(items: Sequence[Coords]) -> torch.Tensor:
    tensor = torch.tensor([list(map(float, item)) for item in items], dtype=torch.float64).reshape(-1, 4)
    # A model may write the corners in either order; the backend sorts them too (geometry.to_original).
    x1, x2 = torch.minimum(tensor[:, 0], tensor[:, 2]), torch.maximum(tensor[:, 0], tensor[:, 2])
    y1, y2 = torch.minimum(tensor[:, 1], tensor[:, 3]), torch.maximum(tensor[:, 1], tensor[:, 3])
    return torch.stack([x1, y1, x2, y2], dim=1)


def iou_reward(text: str, stage: str, label: str, boxes: Sequence[Coords], max_regions: int = 3) -> float | None:
    if stage != "scan" or label != "fake" or not boxes:
        return None
    parsed = parse_scan(text)
    return best_match_iou([box.coords for box in parsed.boxes[:max_regions]], boxes)


def rewards(text: str, stage: str, label: str, boxes: Sequence[Coords] = (), region_count: int = 0,
            max_regions: int = 3) -> dict[str, float | None]:
    """All three rewards of one completion (None: not applicable to this query)."""
    return {"format": format_reward(text, stage, region_count), "label": label_reward(text, stage, label),
            "iou": iou_reward(text, stage, label, boxes, max_regions)}


def combined_reward(scores: Mapping[str, float | None], weights: Mapping[str, float]) -> float:
    """The weighted sum GRPO optimises; a reward that does not apply adds nothing (as trl's nansum)."""
    return sum(float(weights.get(name, 0.0)) * value for name, value in scores.items() if value is not None)


def trl_reward_functions(max_regions: int = 3) -> list[Callable[..., list[float | None]]]:
    """format, label, iou as trl reward functions (batch in, one value per completion out),
    in REWARD_NAMES order so GRPOConfig.reward_weights lines up with them."""
    def batch(name: str) -> Callable[..., list[float | None]]:
        def reward(prompts: list, completions: list, stage: list[str], label: list[str], boxes: list,
                   region_count: list[int], **_: Any) -> list[float | None]:
            return [rewards(completion_text(c), s, lab, b or (), int(n), max_regions)[name]
                    for c, s, lab, b, n in zip(completions, stage, label, boxes, region_count, strict=True)]
        reward.__name__ = f"{name}_reward"
        return reward
    return [batch(name) for name in REWARD_NAMES]
