"""Can the pixels of this image, as delivered, carry a pixel-only verdict?

Journalists get what a messenger, a social network or a screenshot made of a
picture.  A pixel-only call (the learned signal score naming a side with no
file record behind it) is made only where it would survive that.  This module
says when it would not, in plain words the verdict and the reading quote:

- the image is far too small (short side under MIN_JUDGEABLE_SIDE px);
- the file is a heavily compressed JPEG (quality estimated from its
  quantisation tables under MIN_JPEG_QUALITY);
- the image is a screen capture (models.evidence.screen_capture);
- the call does not hold up: re-scored after representative delivery
  transforms (STABILITY_CHECKS, from models.evidence.delivery_transforms:
  re-compression, resizing, cropping, letterbox bars, a screenshot) it flips
  to the other side or falls back between the thresholds.

The stability check costs a few re-scores of the signal model, so the engine
runs it only when the score names a side, on a copy at most
WORKING_SHORT_SIDE px on its short side: twice the 512 px the model reads, so
the transforms' traces still reach it.  A re-compression at that size is, if
anything, harsher than at full size (a larger downscale afterwards averages
its artefacts away), so a call that holds here holds for the full image.
The screenshot starts from the image as received: a screen's size is fixed,
and from the working copy it would upscale what was just downscaled.

The result is one Evidence item (kind "signal", source DELIVERY_SOURCE,
supports "neither", strength 0): it weighs on no side, it only keeps fusion
from making a pixel-only call (details["blocks_pixel_call"]).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.evidence.delivery_transforms import DELIVERIES, DESCRIPTIONS
from models.evidence.signal_features import downscale
from models.evidence.screen_capture import recognise_screen_capture
from models.evidence.signal_model import SignalModel, SignalScore
from models.types import Evidence

DELIVERY_SOURCE = "delivery"
MIN_JUDGEABLE_SIDE = 256
MIN_JPEG_QUALITY = 50
WORKING_SHORT_SIDE = 1024
# Six transforms that stand for the delivery family (docs/signal-model.md
# gives the stability of each of the ten under the benchmark): the heaviest
# re-compression, a messenger's resize + re-compression, a reframing crop,
# letterbox bars (the transform that moved the most calls in
# bench_delivery.py), the smaller downscale, and a screenshot of the image
# shown on a screen.  q95-q75 and the 1080 px downscale are milder cases of
# q60 and 720 px.
STABILITY_CHECKS = ("jpeg60", "messenger", "crop5", "letterbox", "long720", "screen_png")
# Transforms whose result has a fixed size (a screen) start from the image as
# received: from the working copy they would upscale a downscale.
FROM_RECEIVED = frozenset({"screen_png"})

# The IJG (libjpeg) luminance table at quality 50, which encoders scale by quality.
_IJG_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], np.float64)


def estimate_jpeg_quality(tables: dict[int, list[int]] | None) -> int | None:
    """The IJG quality (1-100) whose scaled luminance table best matches the
    file's; None without tables.  Pillow hands tables over in natural (row) order."""
    if not tables or 0 not in tables or len(tables[0]) != 64:
        return None
    luma = np.asarray(tables[0], np.float64)

    def error(quality: int) -> float:
        scale = 5000 / quality if quality < 50 else 200 - 2 * quality
        expected = np.clip(np.floor((_IJG_LUMA * scale + 50) / 100), 1, 255)
        return float(np.abs(expected - luma).sum())

    return min(range(1, 101), key=error)


@dataclass(frozen=True)
class Stability:
    holds: bool
    decisions: dict[str, dict]   # transform -> {"probability", "decision"}
    broken_by: list[str]         # the transforms under which the call flipped or fell back

    def to_dict(self) -> dict:
        return {"holds": self.holds, "checked": list(self.decisions), "decisions": self.decisions,
                "broken_by": self.broken_by}


def check_stability(model: SignalModel, rgb: np.ndarray, score: SignalScore,
                    transforms: tuple[str, ...] = STABILITY_CHECKS) -> Stability:
    """Re-score the image after each transform; the call holds where every
    transformed copy gets the same decision."""
    received = np.ascontiguousarray(rgb)
    working = _working_copy(received)
    decisions, broken = {}, []
    for name in transforms:
        again = model.score(DELIVERIES[name].pixels(received if name in FROM_RECEIVED else working))
        decisions[name] = {"probability": round(again.probability, 4), "decision": again.decision}
        if again.decision != score.decision:
            broken.append(name)
    return Stability(not broken, decisions, broken)


def _working_copy(rgb: np.ndarray) -> np.ndarray:
    height, width = rgb.shape[:2]
    scale = WORKING_SHORT_SIDE / min(height, width)
    if scale >= 1.0:
        return rgb
    return downscale(rgb, (max(1, round(width * scale)), max(1, round(height * scale))))


def assess_delivery(rgb: np.ndarray, file_format: str, jpeg_quantization: dict[int, list[int]] | None,
                    evidence: list[Evidence], score: SignalScore | None, model: SignalModel | None) -> Evidence | None:
    """The delivery finding for one image, or None when there is nothing to say
    (the score names no side and the image is fit to judge)."""
    height, width = rgb.shape[:2]
    reasons: list[str] = []
    limits: list[str] = []  # one SHORT_WORDS key per reason, in the same order
    details: dict = {"size": [width, height]}
    if min(width, height) < MIN_JUDGEABLE_SIDE:
        limits.append("too-small")
        reasons.append(f"the image is only {width}x{height} px: under {MIN_JUDGEABLE_SIDE} px on its short side "
                       "the pixel statistics are too few to judge")
    quality = estimate_jpeg_quality(jpeg_quantization)
    details["jpeg_quality"] = quality
    if quality is not None and quality < MIN_JPEG_QUALITY:
        limits.append("too-compressed")
        reasons.append(f"the file is a heavily compressed JPEG (quality about {quality}), which wipes out the fine "
                       "pixel traces the model reads")
    camera = any(e.source == "exif:camera" and e.supports == "real" for e in evidence)
    screen = recognise_screen_capture(rgb, file_format, camera)
    details["screen_capture"] = screen.to_dict()
    if screen.recognised:
        limits.append("screen-capture")
        reasons.append("the image looks like a screen capture (" + ", ".join(screen.cues) + "): its pixels "
                       "describe the screen and its scaling, not the camera or the generator")
    calls = score is not None and model is not None and score.decision in ("ai-generated", "real")
    if calls and not reasons:
        stability = check_stability(model, rgb, score)
        details["stability"] = stability.to_dict()
        if not stability.holds:
            changed = ", ".join(f"{DESCRIPTIONS[n]} gives P(AI)={stability.decisions[n]['probability']:.2f} "
                                f"({stability.decisions[n]['decision']})" for n in stability.broken_by)
            limits.append("unstable")
            reasons.append(f"the pixel call does not hold up under ordinary delivery: {changed}, against "
                           f"P(AI)={score.probability:.2f} as received")
    if not reasons and "stability" not in details:
        return None
    details["blocks_pixel_call"] = bool(reasons)
    details["reasons"] = reasons
    details["limits"] = limits
    if reasons:
        finding = "delivery check: " + "; ".join(reasons)
    else:
        checked = ", ".join(DESCRIPTIONS[n] for n in details["stability"]["checked"])
        finding = f"delivery check: the pixel call holds up under {checked}"
    return Evidence("signal", DELIVERY_SOURCE, finding, "neither", 0.0, False, details)


def delivery_limit(evidence: list[Evidence]) -> Evidence | None:
    """The delivery finding that keeps a pixel-only call from being made, if any."""
    return next((e for e in evidence if e.source == DELIVERY_SOURCE and e.details.get("blocks_pixel_call")), None)


SHORT_WORDS = {"too-small": "the image is too small", "too-compressed": "the file is too heavily compressed",
               "screen-capture": "it looks like a screen capture",
               "unstable": "the lean does not survive re-compression, resizing or reframing"}


def delivery_short(item: Evidence) -> str:
    """The first reason in a few words, for a short headline."""
    limits = item.details.get("limits") or []
    return SHORT_WORDS.get(str(limits[0]), "the image as delivered cannot be judged") if limits else \
        "the image as delivered cannot be judged"


def delivery_reason(item: Evidence) -> str:
    """Every reason, as one clause for a verdict."""
    reasons = [str(r) for r in item.details.get("reasons") or []]
    return "; ".join(reasons) if reasons else "the image as delivered cannot carry a pixel-only call"
