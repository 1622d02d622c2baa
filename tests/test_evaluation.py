"""Evaluation: metrics against hand-computed values, perturbations, the CSV and JSONL paths, the report."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from models.dataset.jsonl import write_dataset
from models.dataset.records import AnnotatedBox, DatasetRecord
from models.detector import Detector
from models.evaluation.metrics import Prediction, best_match_iou, bleu1, compute_metrics, roc_auc
from models.evaluation.perturb import PERTURBATIONS, parse_perturbations
from models.evaluation.runner import load_items, run_evaluation
from models.image_input import load_image
from models.sample_images import camera_like_photo, encode
from models.types import Analysis, Box, Region
from zoomin_ui.cli import main


def pred(label, score, verdict, generator="", ref=(), boxes=()):
    return Prediction(path="x", label=label, score=score, verdict=verdict, generator=generator,
                      reference_boxes=tuple(Box(*b) for b in ref), predicted_boxes=tuple(Box(*b) for b in boxes))


FIXED = [
    pred("fake", 0.9, "ai-generated", "sd", ref=[(0, 0, 10, 10)], boxes=[(0, 0, 10, 20)]),     # IoU 0.5
    pred("fake", 0.6, "real", "sd", ref=[(0, 0, 10, 10), (20, 20, 30, 30)], boxes=[(20, 20, 30, 30)]),  # (0+1)/2
    pred("fake", 0.4, "inconclusive", "gan"),
    pred("real", 0.7, "ai-generated"),
    pred("real", 0.2, "real"),
    pred("real", 0.1, "real"),
]


def test_metrics_match_hand_computed_values():
    m = compute_metrics(FIXED)
    assert m.confusion == {"tp": 1, "fp": 1, "fn": 2, "tn": 2}
    assert m.accuracy == pytest.approx(0.5) and m.precision == pytest.approx(0.5)
    assert m.recall == pytest.approx(1 / 3) and m.f1 == pytest.approx(0.4)
    assert m.roc_auc == pytest.approx(7 / 9)   # 7 of the 9 (fake, real) pairs ranked right
    assert m.recall_by_generator == {"gan": 0.0, "sd": 0.5} and m.fakes_by_generator == {"gan": 1, "sd": 2}
    assert m.mean_box_iou == pytest.approx(0.5) and m.box_iou_images == 2
    assert m.inconclusive == 1 and m.inconclusive_fakes == 1 and m.inconclusive_reals == 0 and m.bleu1 is None
    assert m.decided_accuracy == pytest.approx(3 / 5)   # P1 and P5, P6 right; P2 and P4 wrong


def test_roc_auc_agrees_with_a_pairwise_count_and_needs_both_classes():
    rng = np.random.default_rng(0)
    labels, scores = rng.integers(0, 2, 50).tolist(), rng.random(50).tolist()
    pairs = [(s1 > s0) + 0.5 * (s1 == s0) for s1, l1 in zip(scores, labels) if l1
             for s0, l0 in zip(scores, labels) if not l0]
    assert roc_auc(labels, scores) == pytest.approx(sum(pairs) / len(pairs))
    assert roc_auc([1, 1], [0.2, 0.3]) is None


def test_bleu1_clips_counts_and_penalises_brevity():
    assert bleu1("The cat sat on the mat.", "the cat is on the mat") == pytest.approx(5 / 6)
    assert bleu1("the the the", "the cat sat on the mat") == pytest.approx(2 / 3 * math.exp(1 - 6 / 3))
    assert bleu1("", "anything") == 0.0
    with_ref = [Prediction("x", "fake", 0.9, "ai-generated", reference_explanation="the cat is on the mat",
                           explanation="the cat sat on the mat"), pred("real", 0.1, "real")]
    m = compute_metrics(with_ref)
    assert m.bleu1 == pytest.approx(5 / 6) and m.bleu1_images == 1


def test_best_match_iou_takes_the_best_prediction_per_reference():
    assert best_match_iou([Box(0, 0, 10, 10)], [Box(50, 50, 60, 60), Box(0, 0, 10, 10)]) == pytest.approx(1.0)
    assert best_match_iou([Box(0, 0, 10, 10)], []) == 0.0


def _exif_rotated_jpeg() -> tuple[bytes, np.ndarray]:
    rgb = camera_like_photo(30, 40, seed=3)
    image = Image.fromarray(rgb)
    exif = image.getexif()
    exif[0x0112] = 6          # rotate 90 degrees on display
    exif[0x010F] = "TestCam"  # camera make: metadata a perturbation must drop
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95, exif=exif)
    return out.getvalue(), rgb


@pytest.mark.parametrize("name, size, fmt", [("strip", (30, 40), "PNG"), ("jpeg80", (30, 40), "JPEG"),
                                             ("half", (15, 20), "PNG"), ("both", (15, 20), "JPEG")])
def test_perturbations_work_on_displayed_pixels_and_drop_metadata(name, size, fmt):
    data, _ = _exif_rotated_jpeg()
    original = load_image(data, name="r.jpg")
    assert (original.width, original.height) == (30, 40)
    changed = load_image(PERTURBATIONS[name].apply(original.rgb, original.data), name="p")
    assert (changed.width, changed.height) == size and changed.format == fmt
    assert changed.orientation == 1 and not Image.open(io.BytesIO(changed.data)).getexif()
    if name == "strip":
        assert np.array_equal(changed.rgb, original.rgb)
    if name == "jpeg80":
        assert 0 < np.abs(changed.rgb.astype(int) - original.rgb).mean() < 10
    scaled = PERTURBATIONS[name].scale_boxes([Box(2, 4, 10, 20)])[0]
    assert scaled.to_list() == ([1, 2, 5, 10] if name in ("half", "both") else [2, 4, 10, 20])
    assert PERTURBATIONS["none"].apply(original.rgb, original.data) == data


def test_unknown_perturbation_is_refused():
    assert [p.name for p in parse_perturbations("none, both,none")] == ["none", "both"]
    with pytest.raises(ValueError, match="unknown perturbation"):
        parse_perturbations("none,blur")


class QuarterBox(Detector):
    """Says AI with score 0.8 and points at the image's top-left quarter, whatever its size."""

    name, version = "quarter", "1"

    def scan(self, image):
        return [Region(Box(0, 0, image.width / 2, image.height / 2), 0.8, "quarter", id="r1")]

    def examine(self, image, regions, question=None, on_region=None):
        return Analysis(file=image.name, sha256=image.sha256, size_bytes=len(image.data), format=image.format,
                        width=image.width, height=image.height, verdict="ai-generated", score=0.8,
                        regions=list(regions), evidence=[], explanation="smooth skin", backend=self.name,
                        backend_version="1")


def test_reference_boxes_follow_the_downscale(tmp_path):
    path = tmp_path / "f.png"
    path.write_bytes(encode(camera_like_photo(60, 80, seed=1), "PNG"))
    record = DatasetRecord(path=str(path), sha256=load_image(str(path)).sha256, label="fake", width=80, height=60,
                           boxes=(AnnotatedBox(Box(0, 0, 40, 30), "x"),), explanation="smooth skin")
    write_dataset(tmp_path / "s.jsonl", [record])
    run = run_evaluation(QuarterBox(), load_items(tmp_path / "s.jsonl"), parse_perturbations("none,half,both"),
                         progress=False)
    for name in ("none", "half", "both"):
        m = compute_metrics(run.predictions[name])
        assert m.mean_box_iou == pytest.approx(1.0) and m.bleu1 == pytest.approx(1.0) and m.recall == 1.0


def test_eval_command_on_a_labelled_csv_writes_metrics_and_report(tmp_path):
    images = tmp_path / "imgs"
    images.mkdir()
    for i in range(2):
        (images / f"real{i}.jpg").write_bytes(encode(camera_like_photo(64, 96, seed=i), "JPEG"))
    (images / "fake0.png").write_bytes(encode(camera_like_photo(64, 96, seed=9), "PNG"))
    (tmp_path / "labels.csv").write_text("file,label,generator,group\nimgs/real0.jpg,real,,a\nimgs/real1.jpg,real,,b\n"
                                         f"{images / 'fake0.png'},fake,sdxl,a\nimgs/missing.png,fake,sdxl,b\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["eval", str(tmp_path / "labels.csv"), "--out", str(out),
                                       "--perturb", "none,jpeg80", "--group-by", "group"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["perturbations"]) == {"none", "jpeg80"} and metrics["backend"] == "evidence"
    overall = metrics["perturbations"]["none"]["overall"]
    assert overall["count"] == 3 and overall["fakes"] == 1 and overall["reals"] == 2
    assert set(metrics["perturbations"]["jpeg80"]["groups"]["group"]) == {"a", "b"}
    assert metrics["failure_count"] == 2 and "missing.png" in metrics["failures"][0]["path"]
    report = (out / "report.md").read_text()
    assert "| none |" in report and "| sdxl |" in report and "![roc.png](roc.png)" in report
    for plot in ("roc.png", "scores.png", "generators.png"):
        assert (out / plot).read_bytes()[:4] == b"\x89PNG"
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 6
    limited = CliRunner().invoke(main, ["eval", str(tmp_path / "labels.csv"), "--out", str(tmp_path / "one"),
                                        "--limit", "1"])
    assert limited.exit_code == 0 and "none    n=1 " in limited.output


def test_eval_command_rejects_a_bad_csv_in_one_line(tmp_path):
    (tmp_path / "l.csv").write_text("path,label\nx.png,real\n")
    result = CliRunner().invoke(main, ["eval", str(tmp_path / "l.csv"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "needs the columns file and label" in result.output
    result = CliRunner().invoke(main, ["eval", str(tmp_path / "l.csv"), "--out", str(tmp_path / "o"),
                                       "--perturb", "blur"])
    assert result.exit_code == 2 and "unknown perturbation" in result.output


def test_eval_command_drives_the_remote_backend_and_scores_its_boxes(tmp_path):
    from models.vlm.geometry import ModelGrid
    from models.vlm.settings import VLMSettings
    from tests.test_vlm_remote import EXAMINE_ANSWER, SCAN_ANSWER, ChatServer, completion

    path = tmp_path / "f.png"
    path.write_bytes(encode(camera_like_photo(480, 640, seed=9), "PNG"))
    grid = ModelGrid.for_image(640, 480, VLMSettings().max_image_pixels)
    answered = Box(280 * grid.scale_x, 112 * grid.scale_y, 420 * grid.scale_x, 252 * grid.scale_y)  # SCAN_ANSWER's box
    reference = Box(answered.x1, answered.y1, answered.x1 + answered.width / 2, answered.y2)       # IoU 0.5
    write_dataset(tmp_path / "s.jsonl", [DatasetRecord(path=str(path), sha256=load_image(str(path)).sha256,
                                                       label="fake", width=640, height=480,
                                                       boxes=(AnnotatedBox(reference, "patch"),))])
    server = ChatServer()
    server.script = [("json", completion(SCAN_ANSWER)), ("json", completion(EXAMINE_ANSWER))]
    try:
        result = CliRunner().invoke(main, ["eval", str(tmp_path / "s.jsonl"), "--out", str(tmp_path / "o"),
                                           "--backend", "remote", "--base-url", server.url, "--model", "m"])
    finally:
        server.close()
    assert result.exit_code == 0, result.output
    overall = json.loads((tmp_path / "o" / "metrics.json").read_text())["perturbations"]["none"]["overall"]
    assert overall["recall"] == 1.0 and overall["mean_box_iou"] == pytest.approx(0.5, abs=0.01)
    assert len(server.requests) == 2
