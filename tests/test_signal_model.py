"""The learned signal score: shipped weights, features, normalisation, training."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.evidence.dev_manifest import training_licence
from models.evidence.signal_features import (
    FEATURE_NAMES,
    FeatureRecipe,
    extract_features,
    normalise_image,
    strip_uniform_frame,
)
from models.evidence.signal_model import (
    DEFAULT_WEIGHTS,
    MAX_STRENGTH,
    SignalModel,
    SignalModelError,
    signal_evidence,
)
from models.evidence.tile_grid import TileGrid
from models.evidence.train_signal import train_signal_model
from models.image_input import load_image
from models.sample_images import camera_like_photo, encode


@pytest.fixture(scope="module")
def model() -> SignalModel:
    return SignalModel.load()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return camera_like_photo(360, 500, seed=3)


def test_shipped_weights_are_small_and_load(model):
    assert DEFAULT_WEIGHTS.stat().st_size < 1_000_000
    assert SignalModel.load() is model  # the default instance is cached
    assert model.recipe.short_side >= 256


def test_score_is_a_probability_with_tiles_covering_the_original(model, photo):
    score = model.score(photo)
    assert 0.0 <= score.probability <= 1.0
    assert score.decision in ("ai-generated", "real", "inconclusive")
    grid = score.tiles
    assert isinstance(grid, TileGrid)
    rows, cols = grid.shape
    assert (grid.image_width, grid.image_height) == (500, 360)
    assert cols * grid.tile_width == pytest.approx(500) and rows * grid.tile_height == pytest.approx(360)
    assert grid.box(rows - 1, cols - 1).to_list()[2:] == [500.0, 360.0]
    assert ((grid.values >= 0) & (grid.values <= 1)).all()
    json.dumps(score.details)  # JSON-serialisable


def test_tiles_map_back_through_a_downscale(model):
    big = camera_like_photo(900, 1300, seed=5)
    grid = model.score(big).tiles
    rows, cols = grid.shape
    assert rows > 1 and cols > 1
    assert cols * grid.tile_width == pytest.approx(1300) and rows * grid.tile_height == pytest.approx(900)


def test_scores_are_deterministic(model, photo):
    first, second = model.score(photo), model.score(photo.copy())
    assert first.probability == second.probability
    np.testing.assert_array_equal(first.tiles.values, second.tiles.values)
    assert SignalModel.load(DEFAULT_WEIGHTS) is model  # the default path also hits the cache
    assert SignalModel.load(Path(str(DEFAULT_WEIGHTS))).score(photo).probability == first.probability


@pytest.mark.parametrize("shape", [(1, 1), (2, 9), (17, 33), (31, 300), (100, 1), (65, 65), (129, 77)])
def test_features_are_finite_on_tiny_flat_and_odd_images(shape):
    rng = np.random.default_rng(0)
    for image in (np.zeros(shape + (3,), np.uint8), np.full(shape + (3,), 255, np.uint8),
                  rng.integers(0, 256, shape + (3,), dtype=np.uint8)):
        features = extract_features(image, FeatureRecipe())
        assert features.image.shape == (len(FEATURE_NAMES),)
        assert features.tiles.shape[-1] == len(FEATURE_NAMES)
        assert np.isfinite(features.image).all() and np.isfinite(features.tiles).all()


def test_odd_inputs_are_accepted(model):
    grey = camera_like_photo(120, 90, seed=1)[:, :, 1]
    rgba = np.dstack([camera_like_photo(80, 100, seed=2), np.full((80, 100), 255, np.uint8)])
    as_float = camera_like_photo(70, 70, seed=4).astype(np.float32) / 255.0
    for image in (grey, rgba, as_float):
        assert 0.0 <= model.score(image).probability <= 1.0
    tiny = model.score(np.zeros((5, 7, 3), np.uint8))
    assert tiny.decision == "inconclusive" and tiny.details["too_small"]
    assert tiny.tiles.shape == (1, 1)


def test_normalisation_is_container_blind(model):
    # Same pixels as PNG and as a high-quality JPEG: the model must not see the container.
    pixels = camera_like_photo(700, 900, seed=7)
    from_png = load_image(encode(pixels, "PNG")).rgb
    from_jpeg = load_image(encode(pixels, "JPEG", quality=95)).rgb
    p_png, p_jpeg = model.score(from_png).probability, model.score(from_jpeg).probability
    assert abs(p_png - p_jpeg) < 0.1
    normalised = normalise_image(from_png, model.recipe)
    assert min(normalised.pixels.shape[:2]) == model.recipe.short_side


def test_evidence_is_weak_and_cites_numbers(model, photo):
    score = model.score(photo)
    evidence = signal_evidence(score, model)
    assert evidence.kind == "signal" and evidence.source == "signal-model"
    assert not evidence.decisive
    assert evidence.strength <= MAX_STRENGTH
    assert f"P(AI)={score.probability:.2f}" in evidence.finding
    expected = {"ai-generated": "ai-generated", "real": "real", "inconclusive": "neither"}[score.decision]
    assert evidence.supports == expected
    json.dumps(evidence.to_dict())


def _with_thresholds(ai: float | None, real: float | None) -> SignalModel:
    data = json.loads(DEFAULT_WEIGHTS.read_text())
    data["thresholds"].update(ai_threshold=ai, real_threshold=real,
                              ai={"precision": 0.95, "recall": 0.3}, real={"precision": 0.96, "recall": 0.2})
    return SignalModel.from_dict(data)


def test_evidence_follows_the_decision(photo):
    ai_model = _with_thresholds(0.0, None)
    ai = signal_evidence(ai_model.score(photo), ai_model)
    assert ai.supports == "ai-generated" and "precision for AI images measured 0.95" in ai.finding
    real_model = _with_thresholds(None, 1.0)
    real = signal_evidence(real_model.score(photo), real_model)
    assert real.supports == "real" and "precision for real photos measured 0.96" in real.finding
    never = _with_thresholds(None, None)
    undecided = signal_evidence(never.score(photo), never)
    assert undecided.supports == "neither" and undecided.strength == 0.0
    assert "inconclusive" in undecided.finding and "never calls AI alone" in undecided.finding
    both = _with_thresholds(0.99, 0.01)
    between = signal_evidence(both.score(photo), both)
    assert between.supports == "neither" and "between the 0.01 'real' and 0.99 'AI' thresholds" in between.finding


def test_missing_or_malformed_weights_raise_a_clear_error(tmp_path):
    with pytest.raises(SignalModelError, match="not found"):
        SignalModel.load(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SignalModelError, match="not valid JSON"):
        SignalModel.load(bad)
    bad.write_text(json.dumps({"hello": 1}))
    with pytest.raises(SignalModelError, match="not a ZoomIn signal model"):
        SignalModel.load(bad)
    data = json.loads(DEFAULT_WEIGHTS.read_text())
    data["image_model"]["coef"] = data["image_model"]["coef"][:-1]
    bad.write_text(json.dumps(data))
    with pytest.raises(SignalModelError, match="malformed"):
        SignalModel.load(bad)
    data = json.loads(DEFAULT_WEIGHTS.read_text())
    data["features"] = data["features"][::-1]
    bad.write_text(json.dumps(data))
    with pytest.raises(SignalModelError, match="different features"):
        SignalModel.load(bad)
    for key, value in (("recipe", "512px"), ("thresholds", {"ai_threshold": 2.0, "real_threshold": None}),
                       ("tile_model", None)):
        data = json.loads(DEFAULT_WEIGHTS.read_text())
        data[key] = value
        bad.write_text(json.dumps(data))
        with pytest.raises(SignalModelError):
            SignalModel.load(bad)


def test_licence_allow_list():
    assert training_licence("CreativeML OpenRAIL-M (repo LICENSE)")
    assert training_licence("MIT OR Apache-2.0 (repo)")
    assert training_licence('0BSD-style permissive (repo LICENSE covers "workflows")')
    assert training_licence("CC-BY-SA-4.0 (README: user-contributed)")
    assert training_licence("Kodak PhotoCD images: released by Eastman Kodak for unrestricted use")
    assert training_licence("CC-BY-NC-SA-4.0") is None
    assert training_licence("CC-BY-NC-4.0") is None
    assert training_licence("no license; README disclaimer (images: BSD/Corel) - research use") is None
    assert training_licence("proprietary") is None  # unknown: refused by default


def test_uniform_frames_are_stripped_but_flat_sides_kept():
    inner = camera_like_photo(120, 120, seed=9)
    framed = cv2.copyMakeBorder(inner, 20, 20, 20, 20, cv2.BORDER_CONSTANT, value=(230, 220, 20))
    assert strip_uniform_frame(framed).shape[:2] == (116, 116)  # frame and a 2 px margin
    sky = inner.copy()
    sky[:30] = 200  # one flat side is content
    assert strip_uniform_frame(sky).shape == sky.shape


def _tiny_manifest(folder: Path) -> Path:
    """Two visibly different classes: camera-like photos, and camera-like photos
    rendered at half resolution and upscaled 2x (bicubic)."""
    rows = []
    for i in range(8):
        real = camera_like_photo(192, 256, seed=i)
        half = cv2.resize(camera_like_photo(192, 256, seed=100 + i), (128, 96), interpolation=cv2.INTER_AREA)
        fake = cv2.resize(half, (256, 192), interpolation=cv2.INTER_CUBIC)
        for name, image, label in ((f"real{i}.png", real, "real"), (f"fake{i}.png", fake, "fake")):
            (folder / name).write_bytes(encode(image, "PNG"))
            rows.append({"file": name, "label": label, "source_repo": f"synthetic/{label}s",
                         "license": "MIT", "dup_group": f"{label}{i}"})
    rows.append({"file": "nc.png", "label": "fake", "source_repo": "synthetic/nc",
                 "license": "CC-BY-NC-4.0", "dup_group": "nc"})
    (folder / "nc.png").write_bytes(encode(cv2.resize(cv2.resize(
        camera_like_photo(192, 256, seed=50), (128, 96), interpolation=cv2.INTER_AREA), (256, 192),
        interpolation=cv2.INTER_CUBIC), "PNG"))
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def test_training_on_a_tiny_manifest_end_to_end(tmp_path):
    manifest = _tiny_manifest(tmp_path)
    out, report = tmp_path / "weights" / "model.json", tmp_path / "report.md"
    result = train_signal_model(manifest, out, report, seed=0, progress=False)
    assert result.n_train == 16 and result.n_eval_only == 1  # the NC image is evaluation only
    assert report.read_text().startswith("# Signal model training report")
    trained = SignalModel.load(out)
    data = json.loads(out.read_text())
    assert data["data"]["sources"]["synthetic/nc"]["use"] == "evaluation only"
    scores = {name: trained.score(load_image(tmp_path / name).rgb).probability
              for name in [f"{kind}{i}.png" for kind in ("real", "fake") for i in range(8)]}
    reals = [p for name, p in scores.items() if name.startswith("real")]
    fakes = [p for name, p in scores.items() if name.startswith("fake")]
    assert min(fakes) > max(reals)
    # Deterministic: the same manifest and seed give the same bytes.
    again = tmp_path / "again.json"
    train_signal_model(manifest, again, seed=0, progress=False)
    assert again.read_bytes() == out.read_bytes()


def test_manifest_errors_are_clear(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("file,label\nx.png,fake\n")
    with pytest.raises(ValueError, match="lacks column"):
        train_signal_model(manifest, tmp_path / "o.json", progress=False)


def test_a_uniform_frame_is_left_out_of_the_image_probability_but_not_the_tiles():
    model = SignalModel.load()
    inner = camera_like_photo(384, 512, seed=21)
    framed = cv2.copyMakeBorder(inner, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=(240, 200, 10))
    bright, dark = model.score(framed), model.score(
        cv2.copyMakeBorder(inner, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=(60, 60, 60)))
    content = model.score(strip_uniform_frame(framed))
    assert bright.probability == pytest.approx(content.probability)
    assert bright.probability == pytest.approx(dark.probability, abs=0.02), "the frame's colour changes nothing"
    assert bright.details["frame_left_out"][:2] == [framed.shape[1], framed.shape[0]]
    assert (bright.tiles.image_width, bright.tiles.image_height) == (framed.shape[1], framed.shape[0])
    assert "inside a uniform frame" in signal_evidence(bright, model).finding
    assert model.score(inner).details["frame_left_out"] is None
