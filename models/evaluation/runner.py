"""Running a detector over a labelled set, once per perturbation.

The set is a JSONL split (boxes and explanations as references) or a plain
labelled CSV (labels only).  Each image is read once; every perturbation is
made from its displayed pixels in memory.  An image that cannot be read or
analysed is counted and listed, never fatal: a 20,000-image run must not die
on image 13,000.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from models.dataset.jsonl import read_dataset
from models.dataset.labels_csv import read_labels_csv
from models.detector import Detector, DetectorUnavailable
from models.evaluation.metrics import Prediction
from models.evaluation.perturb import Perturbation
from models.image_input import ImageInputError, load_image
from models.types import Box


@dataclass(frozen=True)
class EvalItem:
    path: Path
    label: str
    generator: str = ""
    reference_boxes: tuple[Box, ...] = ()
    reference_explanation: str = ""
    columns: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    path: str
    perturbation: str
    message: str


@dataclass
class EvaluationRun:
    predictions: dict[str, list[Prediction]]  # perturbation name -> one per analysed image
    failures: list[Failure]
    source: str
    backend: str
    model_family: str | None = None   # a vision-language backend's family (its boxes' convention), else None


def load_items(source: str | Path) -> list[EvalItem]:
    """A .jsonl split or a labelled .csv -> items (DatasetError on a bad file).
    Missing images are kept: the run counts them as failures."""
    source = Path(source)
    if source.suffix.lower() == ".csv":
        return [EvalItem(path=row.path, label=row.label, generator=row.generator, columns=row.columns)
                for row in read_labels_csv(source)]
    return [EvalItem(path=Path(r.path), label=r.label, generator=r.generator,
                     reference_boxes=tuple(b.box for b in r.boxes), reference_explanation=r.explanation,
                     columns={k: str(v) for k, v in r.extra.items()})
            for r in read_dataset(source, check_files=False)]


def run_evaluation(detector: Detector, items: Sequence[EvalItem], perturbations: Sequence[Perturbation], *,
                   source: str = "", max_pixels: int | None = None, progress: bool = True,
                   on_prediction: Callable[[str, Prediction], None] | None = None) -> EvaluationRun:
    from tqdm import tqdm

    family = getattr(detector, "family", None)
    run = EvaluationRun({p.name: [] for p in perturbations}, [], source, getattr(detector, "name", ""),
                        getattr(family, "name", None))
    bar = tqdm(total=len(items) * len(perturbations), desc="evaluating", unit="run", file=sys.stderr,
               disable=not progress)
    for item in items:
        try:
            original = load_image(str(item.path), max_pixels=max_pixels)
        except ImageInputError as exc:
            run.failures.extend(Failure(str(item.path), p.name, str(exc)) for p in perturbations)
            bar.update(len(perturbations))
            continue
        for perturbation in perturbations:
            prediction = _predict(detector, item, original, perturbation, max_pixels, run.failures)
            if prediction is not None:
                run.predictions[perturbation.name].append(prediction)
                if on_prediction:
                    on_prediction(perturbation.name, prediction)
            bar.update(1)
    bar.close()
    return run


def _predict(detector: Detector, item: EvalItem, original, perturbation: Perturbation, max_pixels: int | None,
             failures: list[Failure]) -> Prediction | None:
    try:
        data = perturbation.apply(original.rgb, original.data)
        image = original if perturbation.name == "none" else load_image(data, name=item.path.name,
                                                                         max_pixels=max_pixels)
        analysis = detector.analyze(image)
    except (ImageInputError, DetectorUnavailable) as exc:
        failures.append(Failure(str(item.path), perturbation.name, str(exc)))
        return None
    except Exception as exc:  # noqa: BLE001 - a bug on one image must cost that image, not the run
        failures.append(Failure(str(item.path), perturbation.name,
                                f"internal error ({type(exc).__name__}: {exc})"))
        return None
    return Prediction(
        path=str(item.path), label=item.label, score=analysis.score, verdict=analysis.verdict,
        generator=item.generator, reference_boxes=perturbation.scale_boxes(item.reference_boxes),
        predicted_boxes=tuple(region.box for region in analysis.regions),
        reference_explanation=item.reference_explanation, explanation=analysis.explanation,
        columns=item.columns)
