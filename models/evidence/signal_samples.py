"""Training samples for the signal model: the features of one manifest image.

For every image: its whole-image and per-tile features (after stripping uniform
frames).  For a training image also those of its augmented JPEG copy (seeded
quality in AUGMENT_QUALITIES, so JPEG history carries no label) and, for an AI
training image, the image features of the container probe's JPEG re-save at
LAUNDER_QUALITY.  Optionally cached per image, keyed by file hash and recipe.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.evidence.dev_manifest import ManifestEntry
from models.evidence.signal_features import (
    FEATURE_NAMES,
    FeatureRecipe,
    extract_features,
    jpeg_round_trip,
    strip_uniform_frame,
)
from models.image_input import load_image

LAUNDER_QUALITY = 80  # the container probe: AI images re-saved as a typical web JPEG
# Every training image also enters once re-saved as JPEG at a seeded quality in
# this range, so "has JPEG history" carries no label (most reals are camera
# JPEGs, most fakes PNG).  Measured: it halves the container probe's drop and
# raises leave-one-source-out AUC (docs/signal-model.md).
AUGMENT_QUALITIES = (70, 95)


@dataclass
class Sample:
    entry: ManifestEntry
    sha1: str
    image: np.ndarray                    # (F,)
    tiles: np.ndarray                    # (n_tiles, F)
    laundered: np.ndarray | None = None  # (F,) after a JPEG re-save, AI training images only
    blank: bool = False                  # no pixel variation: nothing to measure, skipped
    aug_image: np.ndarray | None = None  # the same for the augmented JPEG copy (training images)
    aug_tiles: np.ndarray | None = None


def augment_quality(sha1: str, seed: int) -> int:
    """The JPEG quality of an image's augmented copy: seeded, independent of order."""
    return AUGMENT_QUALITIES[0] + (int(sha1[:8], 16) + seed) % (AUGMENT_QUALITIES[1] - AUGMENT_QUALITIES[0] + 1)


def sample_features(entry: ManifestEntry, recipe: FeatureRecipe, seed: int, cache_dir: Path | None) -> Sample:
    """Features of one image; for a training image also of its augmented JPEG
    copy and (AI only) of the container probe's q80 re-save."""
    data = entry.path.read_bytes()
    sha1 = hashlib.sha1(data).hexdigest()
    train, quality = entry.trainable, augment_quality(sha1, seed)
    key = hashlib.sha1(json.dumps([sha1, recipe.to_dict(), train, quality, LAUNDER_QUALITY, "frame-v1"])
                       .encode()).hexdigest()
    cached = cache_dir / f"{key}.npz" if cache_dir else None
    if cached and cached.exists():
        stored = dict(np.load(cached))
    else:
        rgb = strip_uniform_frame(load_image(data, name=str(entry.path)).rgb)
        features = extract_features(rgb, recipe)
        stored = {"image": features.image, "tiles": features.tiles.reshape(-1, len(FEATURE_NAMES)),
                  "blank": np.array(float(rgb.std()) < 1.0)}
        if train:
            augmented = extract_features(jpeg_round_trip(rgb, quality, chroma_444=False), recipe)
            stored["aug_image"] = augmented.image
            stored["aug_tiles"] = augmented.tiles.reshape(-1, len(FEATURE_NAMES))
        if train and entry.label == 1:
            laundered = jpeg_round_trip(rgb, LAUNDER_QUALITY, chroma_444=False)
            stored["laundered"] = extract_features(laundered, recipe).image
        if cached:
            cached.parent.mkdir(parents=True, exist_ok=True)
            np.savez(cached, **stored)
    return Sample(entry, sha1, stored["image"], stored["tiles"], stored.get("laundered"), bool(stored["blank"]),
                  stored.get("aug_image"), stored.get("aug_tiles"))
