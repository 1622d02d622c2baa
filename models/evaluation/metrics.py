"""Detection, localisation and explanation metrics over typed predictions.

Definitions (docs/evaluation.md): the AI class is positive; an image counts as
predicted AI when the verdict is "ai-generated" ("inconclusive" counts as not
AI, and is reported separately, with the accuracy over decided images); ROC-AUC ranks the 0..1 scores; box IoU is,
per fake image with reference boxes, the mean over its reference boxes of the
best IoU with any predicted box, averaged over images; BLEU-1 is the clipped
unigram precision times the brevity penalty, per image, averaged.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from models.types import Box


@dataclass(frozen=True)
class Prediction:
    """One image's reference and what the detector said about it."""

    path: str
    label: str                       # "real" | "fake" (reference)
    score: float                     # detector's 0..1 AI score
    verdict: str                     # "ai-generated" | "real" | "inconclusive"
    generator: str = ""
    reference_boxes: tuple[Box, ...] = ()
    predicted_boxes: tuple[Box, ...] = ()
    reference_explanation: str = ""
    explanation: str = ""
    columns: dict[str, str] = field(default_factory=dict)

    @property
    def predicted_fake(self) -> bool:
        return self.verdict == "ai-generated"


@dataclass(frozen=True)
class Metrics:
    count: int
    fakes: int
    reals: int
    accuracy: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    roc_auc: float | None
    inconclusive: int
    inconclusive_fakes: int
    inconclusive_reals: int
    decided_accuracy: float | None   # accuracy over the images given a real/AI verdict
    confusion: dict[str, int]
    recall_by_generator: dict[str, float]
    fakes_by_generator: dict[str, int]
    mean_box_iou: float | None
    box_iou_images: int
    bleu1: float | None
    bleu1_images: int

    def to_dict(self) -> dict:
        return {key: (round(value, 4) if isinstance(value, float) else value) for key, value in asdict(self).items()}


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve (None when only one class is present)."""
    if len(set(labels)) < 2:
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(list(labels), list(scores)))


def best_match_iou(reference: Sequence[Box], predicted: Sequence[Box]) -> float:
    """Mean over reference boxes of the best IoU with any predicted box (0 with no prediction)."""
    if not reference:
        raise ValueError("best-match IoU needs at least one reference box")
    if not predicted:
        return 0.0
    import torch
    from torchvision.ops import box_iou

    ious = box_iou(torch.tensor([b.to_list() for b in reference], dtype=torch.float64),
                   torch.tensor([b.to_list() for b in predicted], dtype=torch.float64))
    return float(ious.max(dim=1).values.mean())


_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def bleu1(candidate: str, reference: str) -> float:
    """Sentence BLEU-1: clipped unigram precision x brevity penalty exp(1 - r/c) when c < r."""
    cand, ref = tokens(candidate), tokens(reference)
    if not cand or not ref:
        return 0.0
    ref_counts = Counter(ref)
    clipped = sum(min(count, ref_counts[word]) for word, count in Counter(cand).items())
    precision = clipped / len(cand)
    brevity = 1.0 if len(cand) >= len(ref) else math.exp(1 - len(ref) / len(cand))
    return precision * brevity


def compute_metrics(predictions: Sequence[Prediction]) -> Metrics:
    fakes = [p for p in predictions if p.label == "fake"]
    reals = [p for p in predictions if p.label == "real"]
    tp = sum(p.predicted_fake for p in fakes)
    fp = sum(p.predicted_fake for p in reals)
    fn, tn = len(fakes) - tp, len(reals) - fp
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)  # = harmonic mean of precision and recall, defined when tp = 0
    by_generator: dict[str, list[Prediction]] = defaultdict(list)
    for p in fakes:
        by_generator[p.generator or "(unknown)"].append(p)
    decided = [p for p in predictions if p.verdict != "inconclusive"]
    ious = [best_match_iou(p.reference_boxes, p.predicted_boxes) for p in fakes if p.reference_boxes]
    bleus = [bleu1(p.explanation, p.reference_explanation) for p in predictions if p.reference_explanation]
    return Metrics(
        count=len(predictions), fakes=len(fakes), reals=len(reals),
        accuracy=_ratio(tp + tn, len(predictions)), precision=precision, recall=recall, f1=f1,
        roc_auc=roc_auc([int(p.label == "fake") for p in predictions], [p.score for p in predictions]),
        inconclusive=sum(p.verdict == "inconclusive" for p in predictions),
        inconclusive_fakes=sum(p.verdict == "inconclusive" for p in fakes),
        inconclusive_reals=sum(p.verdict == "inconclusive" for p in reals),
        decided_accuracy=_ratio(sum(p.predicted_fake == (p.label == "fake") for p in decided), len(decided)),
        confusion={"tp": tp, "fp": fp, "fn": fn, "tn": tn},
        recall_by_generator={g: sum(p.predicted_fake for p in ps) / len(ps) for g, ps in sorted(by_generator.items())},
        fakes_by_generator={g: len(ps) for g, ps in sorted(by_generator.items())},
        mean_box_iou=_ratio(sum(ious), len(ious)), box_iou_images=len(ious),
        bleu1=_ratio(sum(bleus), len(bleus)), bleu1_images=len(bleus))
