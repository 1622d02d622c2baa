"""Automated annotation: the local tiny model (garbage answers are dropped with reasons),
a scripted OpenAI-protocol server (answers kept, bad boxes retried), resume by hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from models.dataset.annotate import PROMPT_VERSION, AnnotationSettings, TwoStepAnnotator, annotate_images, check_box
from models.dataset.jsonl import read_dataset, write_dataset
from models.dataset.labels_csv import read_labels_csv
from models.dataset.records import DatasetRecord
from models.image_input import load_image
from models.sample_images import camera_like_photo, encode
from models.vlm.geometry import ModelGrid
from models.vlm.settings import VLMSettings
from tests.test_vlm_remote import ChatServer, completion
from zoomin_ui.cli import main

WIDTH, HEIGHT = 200, 160


@pytest.fixture
def folder(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for seed, name in enumerate(("a.png", "b.png", "c.png")):
        (images / name).write_bytes(encode(camera_like_photo(HEIGHT, WIDTH, seed=seed), "PNG"))
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label,generator\na.png,fake,sdxl\nb.png,fake,sdxl\nc.png,real,\n")
    return images, labels


@pytest.fixture
def server():
    chat = ChatServer()
    yield chat
    chat.close()


def model_box(x1, y1, x2, y2) -> list[int]:
    grid = ModelGrid.for_image(WIDTH, HEIGHT, VLMSettings().max_image_pixels)
    return [round(x1 / grid.scale_x), round(y1 / grid.scale_y), round(x2 / grid.scale_x), round(y2 / grid.scale_y)]


def reply(value) -> tuple:
    return ("json", completion(value if isinstance(value, str) else json.dumps(value)))


def test_check_box_rejects_outside_degenerate_and_whole_frame():
    grid = ModelGrid(100, 100, 100, 100)
    assert check_box((10, 10, 40, 50), grid, "pixels") == (check_box((10, 10, 40, 50), grid, "pixels")[0], "")
    assert "outside" in check_box((50, 50, 180, 90), grid, "pixels")[1]
    assert "degenerate" in check_box((10, 10, 12, 60), grid, "pixels")[1]
    assert "whole frame" in check_box((0, 0, 100, 99), grid, "pixels")[1]
    box, _ = check_box((100, 100, 500, 500), grid, "normalized-1000")
    assert box.to_list() == [10, 10, 50, 50]


def test_remote_annotation_keeps_good_answers_retries_bad_boxes_and_resumes(folder, server, tmp_path):
    images, labels = folder
    out = tmp_path / "train.jsonl"
    server.script = [
        # a.png (fake): explanation, then one good and one whole-frame box; the retry grounds artefact 2.
        reply({"explanation": "Waxy skin and melted text.", "artefacts": ["melted sign text", "fused fingers"]}),
        reply([{"artifact": 1, "bbox_2d": model_box(20, 20, 80, 60)},
               {"artifact": 2, "bbox_2d": model_box(0, 0, WIDTH, HEIGHT)}]),
        reply([{"artifact": 1, "bbox_2d": model_box(100, 90, 160, 150)}]),
        # b.png (fake): no usable explanation twice -> dropped.
        reply("I cannot tell."), reply("Still nothing."),
        # c.png (real): explanation only.
        reply({"explanation": "Consistent sensor noise and lighting."}),
    ]
    args = ["dataset", "annotate", str(images), "--labels", str(labels), "--backend", "remote", "--out", str(out),
            "--base-url", server.url, "--model", "served-qwen", "--retries", "1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "3 image(s): 2 annotated (2 box(es)), 0 already done, 1 dropped" in result.output
    assert "no JSON explanation" in result.output and "covers the whole frame" not in result.output.split("\n")[0]

    fake, real = read_dataset(out)
    assert fake.label == "fake" and fake.generator == "sdxl" and real.label == "real" and not real.boxes
    assert [b.explanation for b in fake.boxes] == ["melted sign text", "fused fingers"]
    assert fake.boxes[0].box.to_list() == pytest.approx([20, 20, 80, 60], abs=1.5)
    assert fake.boxes[1].box.to_list() == pytest.approx([100, 90, 160, 150], abs=1.5)
    assert fake.annotator.model_id == "served-qwen" and fake.annotator.prompt_version == PROMPT_VERSION
    assert fake.sha256 == load_image(str(images / "a.png")).sha256
    retry_text = server.requests[2]["body"]["messages"][-1]["content"][-1]["text"]
    assert "covers the whole frame" in retry_text and "1. fused fingers" in retry_text
    assert len(server.requests) == 6

    # Resume: the two annotated images are skipped by hash; only b.png is asked again.
    server.script = [reply("no"), reply("no")]
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert "0 annotated (0 box(es)), 2 already done, 1 dropped" in again.output
    assert len(server.requests) == 8 and len(read_dataset(out)) == 2


def test_local_tiny_model_end_to_end_drops_garbage_with_reasons_and_resumes(folder, tiny_qwen, tmp_path):
    images, labels = folder
    out = tmp_path / "local.jsonl"
    # c.png was annotated earlier: resume must skip it without asking the model.
    done = load_image(str(images / "c.png"))
    write_dataset(out, [DatasetRecord(path=str(images / "c.png"), sha256=done.sha256, label="real",
                                      explanation="earlier run")])
    result = CliRunner().invoke(main, ["dataset", "annotate", str(images), "--labels", str(labels), "--backend", "vlm",
                                       "--model", str(tiny_qwen), "--quant", "none", "--max-new-tokens", "8",
                                       "--retries", "0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "3 image(s): 0 annotated (0 box(es)), 1 already done, 2 dropped" in result.output
    assert f"dropped image {images / 'a.png'}: explanation:" in result.output
    assert f"dropped image {images / 'b.png'}: explanation:" in result.output
    assert [r.explanation for r in read_dataset(out)] == ["earlier run"]


def test_annotator_reports_dropped_artefacts_through_the_python_api(server, folder, tmp_path):
    from models.vlm.backends import RemoteVLM

    images, labels = folder
    server.script = [reply({"explanation": "Odd.", "artefacts": ["warped window", "extra finger"]}),
                     reply([{"artifact": 1, "bbox_2d": model_box(10, 10, 60, 50)},
                            {"artifact": 2, "bbox_2d": model_box(150, 150, 152, 152)}])]
    detector = RemoteVLM(base_url=server.url, model="m", evidence_context=False)
    annotator = TwoStepAnnotator(detector.transport, AnnotationSettings(retries=0), "remote")
    summary = annotate_images(read_labels_csv(labels, images=images)[:1], tmp_path / "o.jsonl", annotator,
                              progress=False)
    assert summary.kept == 1 and summary.boxes_kept == 1
    assert len(summary.dropped_boxes) == 1 and "'extra finger'" in summary.dropped_boxes[0][1]
    assert "degenerate" in summary.dropped_boxes[0][1]


def test_bad_labels_and_unreachable_server_are_one_line_errors(folder, tmp_path):
    images, _ = folder
    bad = tmp_path / "bad.csv"
    bad.write_text("file,label\na.png,maybe\n")
    result = CliRunner().invoke(main, ["dataset", "annotate", str(images), "--labels", str(bad), "--backend",
                                       "remote", "--out", str(tmp_path / "o.jsonl"), "--base-url", "http://x/v1"])
    assert result.exit_code == 1 and "line 2: label must be real or fake" in result.output
    assert "Traceback" not in result.output
