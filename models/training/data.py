"""From a dataset file to trl's rows: read and validate the split, decode each
image as the backend would (EXIF orientation applied, the displayed pixels the
boxes refer to), check it is the image the record names, build both queries.

The embedded evidence engine supplies what the backend adds at inference: its
file findings as context text (unless evidence_context is off) and its region
proposals, which the backend examines when the model names no region.

Rows are streamed into an Arrow file on disk (datasets' generator builder),
so a 20,000-image split is not held in memory: only one image at a time is.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from models.dataset.jsonl import DatasetError, read_dataset
from models.dataset.records import DatasetRecord
from models.detector import DetectorUnavailable
from models.image_input import ImageInputError, load_image
from models.training.base import TrainingError, base_family
from models.training.config import TrainConfig
from models.training.conversations import ConversationSettings, ShownRegion, TrainingExample, record_examples
from models.vlm import prompts
from models.vlm.families import ModelFamily


def conversation_settings(config: TrainConfig, family: ModelFamily | None = None) -> ConversationSettings:
    """The backend settings the examples follow; the family is the base checkpoint's unless given."""
    return ConversationSettings(max_image_pixels=config.max_image_pixels, max_regions=config.max_regions,
                                crop_margin=config.crop_margin, zoom_size=config.zoom_size,
                                family=family or base_family(config))


def read_records(dataset: Path) -> list[DatasetRecord]:
    """The split's records (validated, image files present), or TrainingError."""
    if not Path(dataset).is_file():
        raise TrainingError(f"dataset file not found: {dataset}")
    try:
        records = read_dataset(dataset)
    except DatasetError as exc:
        raise TrainingError(f"dataset {dataset}: {exc}") from None
    if not records:
        raise TrainingError(f"dataset {dataset} holds no records")
    return records


def iter_examples(records: list[DatasetRecord], config: TrainConfig, family: ModelFamily | None = None
                  ) -> Iterator[TrainingExample]:
    """Both examples of every record, in order; a changed or unreadable image stops the run."""
    settings = conversation_settings(config, family)
    engine = _evidence_engine(config)
    for record in records:
        try:
            image = load_image(record.path)
        except ImageInputError as exc:
            raise TrainingError(f"{record.path}: {exc}") from None
        if image.sha256 != record.sha256:
            raise TrainingError(f"{record.path} has changed since it was annotated: its SHA-256 is {image.sha256}, "
                                f"the dataset says {record.sha256}")
        try:
            context = prompts.evidence_context(engine.image_evidence(image)) if config.evidence_context else ""
            proposals = [] if record.is_fake and record.boxes else [
                ShownRegion(region.box, region.label, region.explanation)
                for region in engine.scan(image)[: config.max_regions]]
            yield from record_examples(record, image, settings, context, proposals)
        except ValueError as exc:  # e.g. an aspect ratio beyond the model's limit
            raise TrainingError(f"{record.path}: {exc}") from None


def load_examples(dataset: Path, config: TrainConfig, family: ModelFamily | None = None) -> list[TrainingExample]:
    """All examples in memory (for inspection and tests; training streams them)."""
    return list(iter_examples(read_records(dataset), config, family))


def _evidence_engine(config: TrainConfig):
    from models.evidence.engine import EvidenceEngine

    try:
        return EvidenceEngine(max_regions=config.max_regions)
    except DetectorUnavailable as exc:
        raise TrainingError(f"the evidence engine (context and region proposals) is unavailable: {exc}") from None


def _features(columns: tuple[str, ...], template_options: tuple[tuple[str, object], ...] = ()):
    from datasets import Features, Image, List, Value

    message = List({"role": Value("string"), "content": List({"type": Value("string"), "text": Value("string")})})
    every = {"prompt": message, "completion": message, "images": List(Image()), "stage": Value("string"),
             "label": Value("string"), "boxes": List(List(Value("float64"))), "region_count": Value("int64"),
             "chat_template_kwargs": {name: Value("bool") for name, _ in template_options}}
    return Features({name: every[name] for name in columns})


def _rows(dataset: str, config: dict[str, Any], columns: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    for example in iter_examples(read_records(Path(dataset)), TrainConfig.from_dict(config)):
        yield {k: v for k, v in example.trl_row().items() if k in columns}


def training_rows(dataset: Path, config: TrainConfig, columns: tuple[str, ...], cache: Path):
    """A datasets.Dataset of the trl rows, written under `cache` (images as lossless PNG)."""
    from datasets import Dataset
    from datasets.exceptions import DatasetGenerationError

    read_records(dataset)  # the whole file is checked before any image is decoded
    options = base_family(config).chat_template_options
    if options:  # the family's template switches travel with every row (trl applies them)
        columns = (*columns, "chat_template_kwargs")
    try:
        return Dataset.from_generator(_rows, features=_features(columns, options), cache_dir=str(cache),
                                      gen_kwargs={"dataset": str(Path(dataset).resolve()),
                                                  "config": config.to_dict(), "columns": columns})
    except DatasetGenerationError as exc:  # datasets wraps the generator's own error; surface ours
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, TrainingError):
            cause = cause.__cause__ or cause.__context__
        raise (cause or TrainingError(f"building the training rows failed: {exc}")) from None
