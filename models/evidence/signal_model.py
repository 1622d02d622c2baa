"""The learned signal score: P(AI) for the image and for each tile, from
residual statistics, with numpy only at inference.

It is weak evidence by construction: a linear model over hand-made features,
trained on a few hundred images of a few generator families.  It names a side
only where its measured precision on held-out groups reached 0.95, and never
settles a verdict alone.  `zoomin train-signal` (models.evidence.train_signal)
rebuilds the weights; docs/signal-model.md has the evaluation.
"""

from __future__ import annotations

import functools
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.evidence.signal_features import (
    FEATURE_NAMES,
    FEATURE_VERSION,
    FeatureRecipe,
    extract_features,
    strip_uniform_frame,
)
from models.evidence.tile_grid import TileGrid
from models.types import Evidence, Verdict

WEIGHTS_FORMAT = "zoomin-signal-model"
WEIGHTS_FORMAT_VERSION = 1
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "signal_model.json"
# Ceiling on Evidence.strength: however confident, this model is one weak voice.
MAX_STRENGTH = 0.5
# Below this shorter side (in original pixels) the statistics are too few to decide on.
MIN_DECIDABLE_SIDE = 64


class SignalModelError(Exception):
    """The weights file is missing, unreadable or does not fit this code."""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40.0, 40.0)))


@dataclass(frozen=True)
class LinearScorer:
    """Standardise, logistic regression, then Platt calibration of its logit."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    platt_slope: float
    platt_offset: float

    def logit(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.scale) @ self.coef + self.intercept

    def probability(self, features: np.ndarray) -> np.ndarray:
        return _sigmoid(self.platt_slope * self.logit(features) + self.platt_offset)

    def to_dict(self) -> dict[str, Any]:
        return {"mean": _rounded(self.mean), "scale": _rounded(self.scale), "coef": _rounded(self.coef),
                "intercept": float(f"{self.intercept:.8g}"),
                "calibration": {"method": "platt", "slope": float(f"{self.platt_slope:.8g}"),
                                "offset": float(f"{self.platt_offset:.8g}")}}

    @classmethod
    def from_dict(cls, data: dict[str, Any], n_features: int) -> LinearScorer:
        arrays = [np.asarray(data[k], np.float64) for k in ("mean", "scale", "coef")]
        if any(a.shape != (n_features,) for a in arrays):
            raise ValueError(f"mean/scale/coef must each hold {n_features} numbers")
        numbers = [float(data["intercept"]), float(data["calibration"]["slope"]),
                   float(data["calibration"]["offset"])]
        if not all(np.isfinite(a).all() for a in arrays) or not all(map(math.isfinite, numbers)):
            raise ValueError("non-finite model parameters")
        if (arrays[1] <= 0).any():
            raise ValueError("feature scales must be positive")
        return cls(*arrays, *numbers)


def _rounded(values: np.ndarray) -> list[float]:
    return [float(f"{v:.8g}") for v in np.asarray(values, np.float64)]


@dataclass(frozen=True)
class Thresholds:
    """Where the calibrated P(AI) names a side, and what was measured there.

    None means no score reached the required precision: that side is never called."""

    ai_threshold: float | None
    real_threshold: float | None
    ai_measured: dict[str, Any] = field(default_factory=dict)
    real_measured: dict[str, Any] = field(default_factory=dict)
    # The same thresholds measured on sources the model never saw (left out one
    # at a time, or evaluation-only): what they are worth on a new generator or
    # camera.  Much lower than on held-out groups of seen sources.
    ai_unseen: dict[str, Any] = field(default_factory=dict)
    real_unseen: dict[str, Any] = field(default_factory=dict)

    def decide(self, probability: float) -> Verdict:
        if self.ai_threshold is not None and probability >= self.ai_threshold:
            return "ai-generated"
        if self.real_threshold is not None and probability <= self.real_threshold:
            return "real"
        return "inconclusive"


@dataclass
class SignalScore:
    """One image's learned signal score (probabilities are calibrated P(AI))."""

    probability: float
    tiles: TileGrid
    decision: Verdict
    details: dict[str, Any]


@dataclass
class SignalModel:
    """The image and tile scorers with the recipe and thresholds they were trained with."""

    recipe: FeatureRecipe
    image_scorer: LinearScorer
    tile_scorer: LinearScorer
    thresholds: Thresholds
    summary: dict[str, Any]
    path: str

    @classmethod
    def load(cls, path: Path | None = None) -> SignalModel:
        """Read weights (default: the shipped ones, loaded once per process)."""
        if path is None or Path(path).resolve() == DEFAULT_WEIGHTS:
            return _load_default()
        return cls._read(Path(path))

    @classmethod
    def _read(cls, path: Path) -> SignalModel:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SignalModelError(f"signal model weights not found at {path}; rebuild them with "
                                   "`zoomin train-signal MANIFEST --out PATH`") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SignalModelError(f"signal model weights at {path} cannot be read ({exc})") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SignalModelError(f"signal model weights at {path} are not valid JSON ({exc})") from None
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: Any, path: str = "<dict>") -> SignalModel:
        if not isinstance(data, dict) or data.get("format") != WEIGHTS_FORMAT:
            raise SignalModelError(f"{path} is not a ZoomIn signal model (missing format={WEIGHTS_FORMAT!r})")
        if data.get("format_version") != WEIGHTS_FORMAT_VERSION:
            raise SignalModelError(f"{path} has format_version {data.get('format_version')!r}; "
                                   f"this code reads {WEIGHTS_FORMAT_VERSION}: retrain with `zoomin train-signal`")
        recipe = data.get("recipe")
        if list(data.get("features") or []) != list(FEATURE_NAMES) or not isinstance(recipe, dict) or \
                recipe.get("feature_version") != FEATURE_VERSION:
            raise SignalModelError(f"{path} was trained on different features than this code computes "
                                   f"({FEATURE_VERSION}): retrain with `zoomin train-signal`")
        try:
            n = len(FEATURE_NAMES)
            thresholds = data["thresholds"]
            unseen = thresholds.get("on_unseen_sources") or {}
            model = cls(
                recipe=FeatureRecipe.from_dict(recipe),
                image_scorer=LinearScorer.from_dict(data["image_model"], n),
                tile_scorer=LinearScorer.from_dict(data["tile_model"], n),
                thresholds=Thresholds(_optional_unit(thresholds["ai_threshold"]),
                                      _optional_unit(thresholds["real_threshold"]),
                                      dict(thresholds.get("ai") or {}), dict(thresholds.get("real") or {}),
                                      dict(unseen.get("ai") or {}), dict(unseen.get("real") or {})),
                summary=dict(data.get("summary") or {}),
                path=path,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SignalModelError(f"signal model weights at {path} are malformed ({type(exc).__name__}: {exc})") \
                from None
        if model.recipe.short_side < 16 or model.recipe.tile_size < 8 or not 1 <= model.recipe.jpeg_quality <= 100:
            raise SignalModelError(f"signal model weights at {path} hold an implausible recipe")
        return model

    def score(self, rgb: np.ndarray) -> SignalScore:
        """Calibrated P(AI) for the image and its tiles, plus the thresholded decision.

        A uniform frame on all four sides is left out of the image's
        probability, as it was in training: a frame's colour says nothing about
        generation (in one public set it gave every label away).  The tiles
        still cover the whole image, so regions map back to it."""
        start = time.perf_counter()
        features = extract_features(rgb, self.recipe)
        # Decoded images arrive as 8-bit RGB; other layouts (tests, direct callers) are scored as given.
        content = strip_uniform_frame(rgb) if rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8 else rgb
        framed = content.shape[:2] != rgb.shape[:2]
        image_features = extract_features(content, self.recipe).image if framed else features.image
        probability = float(self.image_scorer.probability(image_features[None, :])[0])
        rows, cols, n_features = features.tiles.shape
        tile_probs = self.tile_scorer.probability(features.tiles.reshape(-1, n_features)).reshape(rows, cols)
        norm = features.normalised
        width, height = norm.original_width, norm.original_height
        # The normalised image is a uniform rescale of the original (padding
        # only ever makes a single tile), so tiles map back by plain scaling.
        tiles = TileGrid(values=tile_probs, tile_width=width / cols, tile_height=height / rows,
                         image_width=width, image_height=height,
                         meaning="calibrated P(AI) of the learned residual model per tile")
        too_small = min(width, height) < MIN_DECIDABLE_SIDE
        decision = "inconclusive" if too_small else self.thresholds.decide(probability)
        order = np.argsort(tile_probs, axis=None)[::-1][:3]
        top_tiles = [{"box": tiles.box(int(i // cols), int(i % cols)).to_list(),
                      "probability": round(float(tile_probs.flat[i]), 4)} for i in order]
        details = {
            "probability": round(probability, 4),
            "decision": decision,
            "ai_threshold": self.thresholds.ai_threshold,
            "real_threshold": self.thresholds.real_threshold,
            "too_small": too_small,
            "frame_left_out": ([int(rgb.shape[1]), int(rgb.shape[0]), int(content.shape[1]), int(content.shape[0])]
                               if framed else None),
            "normalised_size": [norm.resized_width, norm.resized_height],
            "tile_grid": [rows, cols],
            "tile_max": round(float(tile_probs.max()), 4),
            "tile_mean": round(float(tile_probs.mean()), 4),
            "tile_fraction_above_half": round(float((tile_probs > 0.5).mean()), 4),
            "top_tiles": top_tiles,
            "model": self.path if self.path != str(DEFAULT_WEIGHTS) else "shipped signal_model.json",
            "seconds": round(time.perf_counter() - start, 4),
        }
        return SignalScore(probability, tiles, decision, details)


def _optional_unit(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"threshold {value} outside [0, 1]")
    return value


@functools.lru_cache(maxsize=1)
def _load_default() -> SignalModel:
    return SignalModel._read(DEFAULT_WEIGHTS)


def signal_evidence(score: SignalScore, model: SignalModel) -> Evidence:
    """The score as one Evidence item: weak, never decisive, numbers in the finding."""
    p = score.probability
    thresholds = model.thresholds
    caveat = _caveat(model, score)
    details = {**score.details, "model_evaluation": model.summary}
    if score.decision in ("ai-generated", "real"):
        is_ai = score.decision == "ai-generated"
        measured = thresholds.ai_measured if is_ai else thresholds.real_measured
        unseen = thresholds.ai_unseen if is_ai else thresholds.real_unseen
        precision = float(measured.get("precision") or 0.0)
        threshold = thresholds.ai_threshold if is_ai else thresholds.real_threshold
        finding = (f"learned residual model: P(AI)={p:.2f} (calibrated); {'above' if is_ai else 'below'} the "
                   f"{threshold:.2f} threshold where precision for {'AI images' if is_ai else 'real photos'} "
                   f"measured {precision:.2f} (recall {float(measured.get('recall') or 0.0):.2f}) "
                   "on held-out groups of its training sources")
        if unseen.get("precision") is not None:
            finding += f", {float(unseen['precision']):.2f} on sources it never saw"
            precision = min(precision, float(unseen["precision"]))
        # Distance from 0.5, discounted by the lower measured precision, capped: weak evidence.
        strength = min(MAX_STRENGTH, MAX_STRENGTH * precision * abs(2.0 * p - 1.0))
        return Evidence("signal", "signal-model", finding + caveat, score.decision, strength, False, details)
    ai_t, real_t = thresholds.ai_threshold, thresholds.real_threshold
    if score.details.get("too_small"):
        why = f"the image is under {MIN_DECIDABLE_SIDE} px on a side, too small for its residual statistics"
    elif ai_t is not None and real_t is not None:
        why = (f"it lies between the {real_t:.2f} 'real' and {ai_t:.2f} 'AI' thresholds; only outside them did "
               "precision reach 0.95 on sources it never saw in training")
    else:
        parts = []
        for side, t in (("AI", ai_t), ("real", real_t)):
            if t is None:
                parts.append(f"no score reached 0.95 precision for {side} on sources it never saw in training, "
                             f"so it never calls {side} alone")
            else:
                parts.append(f"it is {'below' if side == 'AI' else 'above'} the {t:.2f} '{side}' threshold")
        why = "; ".join(parts)
    finding = f"learned residual model: P(AI)={p:.2f} (calibrated) is inconclusive: {why}{caveat}"
    return Evidence("signal", "signal-model", finding, "neither", 0.0, False, details)


def _caveat(model: SignalModel, score: SignalScore) -> str:
    frame = score.details.get("frame_left_out")
    framed = (f"; measured on the {frame[2]}x{frame[3]} picture inside a uniform frame, which was left out"
              if frame else "")
    auc = model.summary.get("unseen_generators_auc")
    if isinstance(auc, (int, float)):
        return f"{framed}; weak evidence: AUC {auc:.2f} on generator families it never saw"
    return f"{framed}; weak evidence"
