"""Stage 2 of the evidence engine: zoom into a region and compare it with the rest.

For each box (found by the scan or drawn by an analyst) the region is measured
at full resolution and set against the same image: its noise against the
noise the image shows at that brightness, and its surrounding context ring;
its periodic residual traces against the image's typical tile; its error
level against the image median; the learned model's tile probabilities
against the whole image's.  Each measurement becomes an Evidence item whose
finding cites the numbers, and the region's explanation is built from those
findings only.
"""

from __future__ import annotations

import numpy as np

from models.evidence.cues import CUE_BY_NAME
from models.evidence.image_signals import ImageSignals, tiles_inside
from models.evidence.maps import region_findings
from models.evidence.signal_maps import PixelEvidence
from models.types import Box, Evidence, Region

NOTABLE_SCORE = 0.9  # beyond the most unusual region of 90% of the real photos measured
CONTEXT_MARGIN = 0.25


def period_meaning(frequency: float) -> str:
    period = 1.0 / frequency if frequency > 0 else float("inf")
    if abs(period - 2.0) < 0.05:
        return "a 2-pixel period: camera demosaicing, or 2x resampling"
    if abs(period - 8.0) < 0.2:
        return "an 8-pixel grid: JPEG blocks, or an 8x-upsampling image decoder"
    if abs(period - 4.0) < 0.1:
        return "a 4-pixel period: 4x upsampling or a 4x4 block grid"
    return f"a {period:.1f}-pixel period: resampling by a non-integer factor or a repeating texture"


def _context_ring(pixels: PixelEvidence, box: Box) -> np.ndarray:
    """Block-level mask of the context margin around the box."""
    outer = box.expand(CONTEXT_MARGIN, pixels.width, pixels.height)
    mask = np.zeros(pixels.block_sigma.shape, bool)
    rows, cols = pixels.region_blocks(*outer.pixel_slices())
    mask[rows, cols] = True
    rows, cols = pixels.region_blocks(*box.pixel_slices())
    mask[rows, cols] = False
    return mask


def measure_region(box: Box, signals: ImageSignals) -> list[Evidence]:
    """Every measurement of one region, as findings that cite their numbers."""
    pixels = signals.pixels
    box = box.clip(pixels.width, pixels.height)
    rows, cols = box.pixel_slices()
    scale = signals.scale_for(box)
    stats = signals.tiles[scale] if signals.tiles else None
    findings: list[Evidence] = []

    sigma, ratio = pixels.region_noise(rows, cols)
    if np.isfinite(ratio) and stats is not None:
        ring = _context_ring(pixels, box)
        ring_sigma = pixels.block_sigma[ring & np.isfinite(pixels.block_sigma)]
        ring_text = f"; context ring {np.quantile(ring_sigma, 0.25):.2f}" if ring_sigma.size >= 4 else ""
        expected = sigma / 2.0 ** ratio
        cue = "smoother" if ratio < 0 else "noisier"
        direction = "lower" if ratio < 0 else "higher"
        findings.append(_finding(signals, box, cue,
                                 f"noise level {sigma:.2f} grey levels, {2 ** abs(ratio):.1f}x {direction} than the "
                                 f"{expected:.2f} this image shows elsewhere at the same brightness{ring_text}",
                                 {"noise_sigma": sigma, "expected_sigma": expected, "log2_ratio": ratio}))

    if stats is not None:
        tile_rows, tile_cols = tiles_inside(stats, box)
        peak = pixels.region_periodicity(rows, cols)
        excess = _finite_median(stats.periodic_excess.values[tile_rows, tile_cols])
        findings.append(_finding(signals, box, "periodic",
                                 f"strongest periodic residual peak {peak.ratio:.1f}x the spectral median at "
                                 f"{peak.frequency:.3f} cycles/pixel ({peak.axis}; {period_meaning(peak.frequency)})",
                                 {"peak_ratio": peak.ratio, "frequency": peak.frequency, "axis": peak.axis,
                                  "log2_excess": excess}))
        deficit = _finite_median(stats.periodic_deficit.values[tile_rows, tile_cols])
        if deficit is not None and deficit > 0:
            findings.append(_finding(signals, box, "trace-missing",
                                     f"the image's periodic trace at {stats.dominant_frequency:.3f} cycles/pixel "
                                     f"({period_meaning(stats.dominant_frequency)}) is {2 ** deficit:.1f}x weaker "
                                     f"here than in its typical tile",
                                     {"frequency": stats.dominant_frequency, "log2_deficit": deficit}))
        error_level = pixels.region_error_level(rows, cols)
        typical = stats.median_error_level
        findings.append(_finding(signals, box, "error-level",
                                 f"error level {error_level:.2f} grey levels after re-saving at JPEG quality 90, "
                                 f"against {typical:.2f} for the image's typical tile",
                                 {"error_level": error_level, "typical_error_level": typical}))

    if signals.local_calibration is not None:
        findings += region_findings(box, signals.local_maps, signals.local_calibration)
    model = _model_finding(box, signals)
    if model is not None:
        findings.append(model)
    return sorted(findings, key=lambda e: e.details.get("score", 0.0), reverse=True)


def _finding(signals: ImageSignals, box: Box, cue_name: str, text: str, details: dict) -> Evidence:
    cue = CUE_BY_NAME[cue_name]
    surprise, tile = signals.region_surprise(box, cue.name)
    score = float(signals.calibration.score_surprise(surprise))
    reference = signals.calibration.reference_photos
    notable = score >= NOTABLE_SCORE
    verdict = (f"more unusual than anything in {score:.0%} of {reference} real photos measured" if notable
               else f"within what real photos show (beyond only {score:.0%} of {reference} measured)")
    return Evidence(kind="signal", source=cue.name, finding=f"{text} — {verdict}",
                    supports="ai-generated" if notable else "neither", strength=score,
                    details={**{k: _plain(v) for k, v in details.items()}, "surprise": round(surprise, 3),
                             "tile": tile, "score": round(score, 4), "reference_photos": int(reference),
                             "label": cue.label})


def _model_finding(box: Box, signals: ImageSignals) -> Evidence | None:
    grid = signals.model_tiles
    if grid is None or signals.model_probability is None:
        return None
    rows = np.arange(grid.shape[0])
    cols = np.arange(grid.shape[1])
    centres_y = (rows + 0.5) * grid.tile_height
    centres_x = (cols + 0.5) * grid.tile_width
    inside_r = rows[(centres_y >= box.y1) & (centres_y < box.y2)]
    inside_c = cols[(centres_x >= box.x1) & (centres_x < box.x2)]
    if inside_r.size == 0 or inside_c.size == 0:  # smaller than a model tile: take the one under its centre
        inside_r = np.array([min(int((box.y1 + box.y2) / 2 / grid.tile_height), grid.shape[0] - 1)])
        inside_c = np.array([min(int((box.x1 + box.x2) / 2 / grid.tile_width), grid.shape[1] - 1)])
    probability = float(np.mean(grid.values[np.ix_(inside_r, inside_c)]))
    whole = signals.model_probability
    return Evidence(kind="signal", source="signal-model",
                    finding=f"learned residual model: P(AI) {probability:.2f} in this region against {whole:.2f} "
                            f"for the whole image (weak evidence on its own: the model is often wrong on generators it never saw)",
                    supports="ai-generated" if probability >= 0.5 else "real", strength=abs(probability - 0.5) * 2,
                    details={"probability": round(probability, 4), "image_probability": round(whole, 4),
                             "score": round(probability, 4), "label": "generator-like residuals (learned model)"})


def _plain(value):
    return round(float(value), 4) if isinstance(value, (float, np.floating)) else value


def _finite_median(values: np.ndarray) -> float | None:
    """The median of the measured tiles, or None where none was measurable
    (a NaN would make the analysis' JSON invalid, and numpy warns about it)."""
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else None


def examine_region(region: Region, signals: ImageSignals) -> Region:
    """The region, re-scored and explained from its own measurements."""
    findings = measure_region(region.box, signals)
    # A local map's finding carries its own bar (it competes with more keys than a tile cue).
    notable = [f for f in findings if f.source != "signal-model"
               and f.details["score"] >= f.details.get("notable_at", NOTABLE_SCORE)]
    model = next((f for f in findings if f.source == "signal-model"), None)
    cue_score = max((f.details["score"] for f in findings if f.source != "signal-model"), default=0.0)
    model_score = model.details["probability"] if model else 0.0
    score = max(cue_score, model_score)
    if notable:
        label, used = notable[0].details["label"], notable
        lead = "Stands out: " + "; ".join(f.finding for f in notable) + "."
    elif model is not None and model_score >= 0.5 and model_score >= cue_score:
        label, used = model.details["label"], [model]
        lead = model.finding[0].upper() + model.finding[1:] + "."
    else:
        label, used = "no clear anomaly", []
        lead = "No measurement stands out from the rest of the image."
    details = "; ".join(f.finding for f in findings if f not in used)
    explanation = lead + (f" Also measured: {details}." if details else "")
    return Region(box=region.box, score=float(np.clip(score, 0.0, 1.0)), label=label,
                  explanation=explanation, evidence=findings, id=region.id)
