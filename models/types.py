"""Typed values that flow from detector to store to report to UI.

Every detector (the embedded evidence engine, the vision-language backends)
produces these, and everything downstream consumes only these.  They convert
to and from plain JSON-ready dicts so the CLI, the case store and the report
share one wire format (documented in docs/json-output.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

Verdict = Literal["ai-generated", "real", "inconclusive"]
EvidenceKind = Literal["provenance", "metadata", "watermark", "signal", "model"]
# Which verdict an evidence item points towards ("neither": informative only,
# e.g. a C2PA manifest that records edits but no AI source).
Supports = Literal["ai-generated", "real", "neither"]

# How firmly the tool stands behind its verdict, in words (one small fixed
# scale; models/glossary.py words each step for a reader).
Confidence = Literal["provenance", "strong", "weak", "not-enough"]

VERDICTS: tuple[str, ...] = get_args(Verdict)
CONFIDENCES: tuple[str, ...] = get_args(Confidence)
EVIDENCE_KINDS: tuple[str, ...] = get_args(EvidenceKind)
SUPPORTS: tuple[str, ...] = get_args(Supports)


def _check_unit_interval(name: str, value: float) -> float:
    value = float(value)
    if not (0.0 <= value <= 1.0) or math.isnan(value):
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
    return value


@dataclass(frozen=True)
class Box:
    """An axis-aligned box [x1, y1, x2, y2] in pixels of the image as displayed
    (after EXIF orientation), x to the right and y down, x2/y2 exclusive."""

    x1: float
    y1: float
    x2: float
    y2: float

    def __post_init__(self) -> None:
        coords = (self.x1, self.y1, self.x2, self.y2)
        if not all(math.isfinite(float(c)) for c in coords):
            raise ValueError(f"box coordinates must be finite numbers, got {list(coords)}")
        if self.x2 <= self.x1 or self.y2 <= self.y1:
            raise ValueError(f"box must have x2 > x1 and y2 > y1, got {list(coords)}")

    @classmethod
    def from_list(cls, values: Any) -> "Box":
        try:
            x1, y1, x2, y2 = (float(v) for v in values)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"a box is four numbers [x1, y1, x2, y2], got {values!r}") from exc
        return cls(x1, y1, x2, y2)

    def to_list(self) -> list[float]:
        return [round(float(c), 2) for c in (self.x1, self.y1, self.x2, self.y2)]

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return self.width * self.height

    def contains(self, x: float, y: float) -> bool:
        return self.x1 <= x < self.x2 and self.y1 <= y < self.y2

    def iou(self, other: "Box") -> float:
        ix = max(0.0, min(self.x2, other.x2) - max(self.x1, other.x1))
        iy = max(0.0, min(self.y2, other.y2) - max(self.y1, other.y1))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def clip(self, width: int, height: int) -> "Box":
        """The part of the box inside a width x height image (ValueError if none)."""
        return Box(max(0.0, self.x1), max(0.0, self.y1), min(float(width), self.x2), min(float(height), self.y2))

    def expand(self, margin: float, width: int, height: int) -> "Box":
        """Grow by `margin` times the box's own size on every side, inside the image."""
        dx, dy = self.width * margin, self.height * margin
        return Box(self.x1 - dx, self.y1 - dy, self.x2 + dx, self.y2 + dy).clip(width, height)

    def pixel_slices(self) -> tuple[slice, slice]:
        """Row and column slices covering the box (for numpy arrays)."""
        return (slice(int(math.floor(self.y1)), int(math.ceil(self.y2))),
                slice(int(math.floor(self.x1)), int(math.ceil(self.x2))))


@dataclass
class Evidence:
    """One finding, with what it points to and how strongly.

    strength: 0..1, how much the finding moves the verdict towards `supports`.
    decisive: the finding settles the verdict on its own (valid Content
    Credentials, a watermark beyond chance, generator metadata).
    details: the raw measurements behind `finding`, JSON-serialisable.
    """

    kind: EvidenceKind
    source: str
    finding: str
    supports: Supports = "neither"
    strength: float = 0.0
    decisive: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in EVIDENCE_KINDS:
            raise ValueError(f"evidence kind must be one of {EVIDENCE_KINDS}, got {self.kind!r}")
        if self.supports not in SUPPORTS:
            raise ValueError(f"evidence supports must be one of {SUPPORTS}, got {self.supports!r}")
        self.strength = _check_unit_interval("evidence strength", self.strength)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source": self.source,
            "finding": self.finding,
            "supports": self.supports,
            "strength": round(self.strength, 4),
            "decisive": self.decisive,
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Evidence":
        return cls(
            kind=data["kind"],
            source=data["source"],
            finding=data["finding"],
            supports=data.get("supports", "neither"),
            strength=data.get("strength", 0.0),
            decisive=bool(data.get("decisive", False)),
            details=dict(data.get("details") or {}),
        )


@dataclass
class Region:
    """A place in the image and what was found there.

    score: 0..1, how strongly this region's evidence says AI-generated or
    AI-composited.  id is stable within one analysis ("r1", "r2", ...).
    """

    box: Box
    score: float
    label: str
    explanation: str = ""
    evidence: list[Evidence] = field(default_factory=list)
    id: str = ""

    def __post_init__(self) -> None:
        self.score = _check_unit_interval("region score", self.score)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "box": self.box.to_list(),
            "score": round(self.score, 4),
            "label": self.label,
            "explanation": self.explanation,
            "evidence": [e.to_dict() for e in self.evidence],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Region":
        return cls(
            box=Box.from_list(data["box"]),
            score=data.get("score", 0.0),
            label=data.get("label", ""),
            explanation=data.get("explanation", ""),
            evidence=[Evidence.from_dict(e) for e in data.get("evidence", [])],
            id=data.get("id", ""),
        )


@dataclass
class Reading:
    """The analysis in plain words, for a reader who acts on one sentence.

    headline: one sentence (at most ~25 words) saying what the tool concludes
    and on what basis; it never contradicts the verdict.
    basis: the deciding or strongest evidence, in plain words.
    limits: what the tool cannot tell here, and what would settle it.
    confidence: a step of the fixed scale `Confidence`.
    figure: the one number shown beside the verdict, the one the words
    describe (None: no number is shown); figure_label says what it is.
    key_points: 3-5 plain bullets of the key evidence.
    recipe: a recovered generation recipe (prompt, model, sampler, seed ...),
    in display order; empty when the file carries none.
    """

    headline: str
    basis: str
    limits: str
    confidence: Confidence
    figure: float | None = None
    figure_label: str = ""
    key_points: list[str] = field(default_factory=list)
    recipe: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.confidence not in CONFIDENCES:
            raise ValueError(f"confidence must be one of {CONFIDENCES}, got {self.confidence!r}")
        if self.figure is not None:
            self.figure = _check_unit_interval("reading figure", self.figure)

    def to_dict(self) -> dict[str, Any]:
        return {
            "headline": self.headline,
            "basis": self.basis,
            "limits": self.limits,
            "confidence": self.confidence,
            "figure": None if self.figure is None else round(self.figure, 4),
            "figure_label": self.figure_label,
            "key_points": list(self.key_points),
            "recipe": dict(self.recipe),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Reading":
        return cls(
            headline=data["headline"],
            basis=data.get("basis", ""),
            limits=data.get("limits", ""),
            confidence=data["confidence"],
            figure=data.get("figure"),
            figure_label=data.get("figure_label", ""),
            key_points=[str(p) for p in data.get("key_points") or []],
            recipe={str(k): str(v) for k, v in (data.get("recipe") or {}).items()},
        )


@dataclass
class Analysis:
    """The result of analysing one image: verdict, score, where and why."""

    file: str
    sha256: str
    size_bytes: int
    format: str
    width: int
    height: int
    verdict: Verdict
    score: float
    regions: list[Region]
    evidence: list[Evidence]
    explanation: str
    backend: str
    backend_version: str
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    question: str | None = None
    answer: str | None = None
    # How the result was produced, for the record a report must keep: model id,
    # revision or weights hash, quantization, parameters, software versions.
    provenance: dict[str, Any] = field(default_factory=dict)
    # The backend's unparsed output (a model's generated text), kept verbatim.
    raw_output: str | None = None
    # The verdict in plain words (models/reading.py), set for every backend.
    reading: Reading | None = None

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        self.score = _check_unit_interval("analysis score", self.score)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "file": self.file,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "verdict": self.verdict,
            "score": round(self.score, 4),
            "regions": [r.to_dict() for r in self.regions],
            "evidence": [e.to_dict() for e in self.evidence],
            "explanation": self.explanation,
            "backend": self.backend,
            "backend_version": self.backend_version,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "notes": list(self.notes),
            "provenance": self.provenance,
        }
        if self.raw_output is not None:
            data["raw_output"] = self.raw_output
        if self.reading is not None:
            data["reading"] = self.reading.to_dict()
        if self.question is not None:
            data["question"] = self.question
            data["answer"] = self.answer
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Analysis":
        return cls(
            file=data["file"],
            sha256=data["sha256"],
            size_bytes=int(data["size_bytes"]),
            format=data["format"],
            width=int(data["width"]),
            height=int(data["height"]),
            verdict=data["verdict"],
            score=data["score"],
            regions=[Region.from_dict(r) for r in data.get("regions", [])],
            evidence=[Evidence.from_dict(e) for e in data.get("evidence", [])],
            explanation=data.get("explanation", ""),
            backend=data["backend"],
            backend_version=data.get("backend_version", ""),
            timings={k: float(v) for k, v in (data.get("timings") or {}).items()},
            notes=list(data.get("notes") or []),
            question=data.get("question"),
            answer=data.get("answer"),
            provenance=dict(data.get("provenance") or {}),
            raw_output=data.get("raw_output"),
            reading=Reading.from_dict(data["reading"]) if data.get("reading") else None,
        )
