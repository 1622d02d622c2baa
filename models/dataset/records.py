"""The typed values of a dataset: one record per image, as one JSON Lines row.

These are what the annotator writes, the trainer turns into conversations
and the evaluator scores against; docs/dataset.md describes the row format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from models.types import Box

Label = Literal["real", "fake"]
LABELS: tuple[str, ...] = ("real", "fake")


@dataclass(frozen=True)
class AnnotatedBox:
    """One claimed artefact: where (displayed pixels) and what."""

    box: Box
    explanation: str = ""


@dataclass(frozen=True)
class Annotator:
    """Who wrote a record's boxes and explanations, precisely enough to redo it."""

    model_id: str = ""
    prompt_version: str = ""
    backend: str = ""  # "vlm", "remote", "human", or an importer such as "fakeclue"


@dataclass(frozen=True)
class DatasetRecord:
    """One image of a split.  `path` is as written in the file (absolute, or
    relative to the JSONL file's folder); `boxes` are empty for real images."""

    path: str
    sha256: str
    label: Label
    width: int = 0
    height: int = 0
    generator: str = ""
    boxes: tuple[AnnotatedBox, ...] = ()
    explanation: str = ""
    annotator: Annotator = field(default_factory=Annotator)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_fake(self) -> bool:
        return self.label == "fake"
