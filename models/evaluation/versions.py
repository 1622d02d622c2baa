"""Two (or more) versions of the learned signal score side by side on one split: say the
shipped weights and weights re-fitted on the newsroom's own released cases
(`zoomin dataset from-cases`, then `zoomin train-signal`).  Every version scores the same
images, each image decoded once, and the table gives per version:

- accuracy: correct calls over all images (a can't-tell is not a correct call);
- precision of its ai-generated calls (None when it made none);
- its can't-tell rate (inconclusive, or the image too small to decide);
- the counts behind them.

An image that cannot be read is counted apart and left out of every version alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from models.dataset.jsonl import read_dataset
from models.evidence.signal_model import SignalModel
from models.image_input import ImageInputError, load_image


@dataclass(frozen=True)
class LabelledImage:
    path: Path
    is_fake: bool


@dataclass
class VersionResult:
    name: str
    model: str
    images: int = 0
    correct: int = 0
    ai_calls: int = 0
    ai_calls_right: int = 0
    real_calls: int = 0
    cant_tell: int = 0

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.images if self.images else None

    @property
    def ai_precision(self) -> float | None:
        return self.ai_calls_right / self.ai_calls if self.ai_calls else None

    @property
    def cant_tell_rate(self) -> float | None:
        return self.cant_tell / self.images if self.images else None

    def as_dict(self) -> dict:
        return {"version": self.name, "model": self.model, "images": self.images, "accuracy": self.accuracy,
                "ai_precision": self.ai_precision, "cant_tell_rate": self.cant_tell_rate,
                "ai_calls": self.ai_calls, "real_calls": self.real_calls, "cant_tell": self.cant_tell}


@dataclass
class Comparison:
    versions: list[VersionResult]
    unreadable: list[str] = field(default_factory=list)


def split_images(dataset: Path, split: str | None = "test") -> list[LabelledImage]:
    """The images of a from-cases dataset (JSON Lines) in `split` (None: every record)."""
    records = read_dataset(dataset)
    chosen = [r for r in records if split is None or r.extra.get("split") == split]
    if not chosen:
        raise ValueError(f"{dataset}: no record in the {split!r} split" if split else f"{dataset}: no records")
    return [LabelledImage(Path(r.path), r.is_fake) for r in chosen]


def compare_versions(images: Sequence[LabelledImage], models: Mapping[str, SignalModel]) -> Comparison:
    """Score every image with every version; see the module's words for the figures."""
    if not models:
        raise ValueError("name at least one model version to evaluate")
    results = [VersionResult(name, model.path) for name, model in models.items()]
    unreadable = []
    for image in images:
        try:
            rgb = load_image(image.path.read_bytes(), name=image.path.name).rgb
        except (OSError, ImageInputError) as exc:
            unreadable.append(f"{image.path}: {exc}")
            continue
        for result, model in zip(results, models.values()):
            decision = model.score(rgb).decision
            result.images += 1
            if decision == "ai-generated":
                result.ai_calls += 1
                result.ai_calls_right += image.is_fake
                result.correct += image.is_fake
            elif decision == "real":
                result.real_calls += 1
                result.correct += not image.is_fake
            else:
                result.cant_tell += 1
    return Comparison(results, unreadable)


def _show(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def versions_table(comparison: Comparison) -> str:
    """The side-by-side table (Markdown)."""
    lines = ["| version | images | accuracy | precision of ai calls | can't-tell rate | ai / real / can't tell |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in comparison.versions:
        lines.append(f"| {r.name} | {r.images} | {_show(r.accuracy)} | {_show(r.ai_precision)} | "
                     f"{_show(r.cant_tell_rate)} | {r.ai_calls} / {r.real_calls} / {r.cant_tell} |")
    if comparison.unreadable:
        lines.append(f"\n{len(comparison.unreadable)} image(s) could not be read and were left out of every version.")
    return "\n".join(lines)
