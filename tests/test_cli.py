"""The `zoomin` command line: readable and JSON output, folders, bad files, analyst boxes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from models.sample_images import camera_like_photo, encode, paste_resampled_patch
from models.types import Box
from zoomin_ui.cli import main

REQUIRED = {"file", "verdict", "score", "regions", "evidence", "explanation", "sha256", "width", "height",
            "backend", "timings"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    photo = camera_like_photo(384, 512, seed=5)
    (root / "good.png").write_bytes(encode(paste_resampled_patch(photo, Box(200, 100, 328, 228)), "PNG"))
    (root / "good.jpg").write_bytes(encode(photo, "JPEG", quality=93))
    (root / "broken.jpg").write_bytes(b"this is not a jpeg")
    (root / "empty.png").write_bytes(b"")
    (root / "readme.txt").write_text("ignored: not an image name")
    return root


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_json_lines_for_a_folder_with_bad_files(folder):
    result = run("analyze", str(folder), "--json")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    by_name = {r["file"].rsplit("/", 1)[-1]: r for r in records}
    assert set(by_name) == {"good.png", "good.jpg", "broken.jpg", "empty.png"}
    assert by_name["broken.jpg"]["error_code"] == "not-an-image"
    assert by_name["empty.png"]["error_code"] == "empty"
    good = by_name["good.png"]
    assert REQUIRED <= set(good)
    assert good["file"] == f"{folder}/good.png"
    assert good["verdict"] in ("ai-generated", "real", "inconclusive") and 0 <= good["score"] <= 1
    for region in good["regions"]:
        assert len(region["box"]) == 4 and 0 <= region["score"] <= 1 and region["explanation"]


def test_readable_summary(folder):
    result = run("analyze", str(folder / "good.png"))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[1].split("  (")[0].strip() in ("AI-GENERATED", "LIKELY REAL", "CAN'T TELL")  # the verdict word first
    assert "sha256" in lines[0] and "Why:" in result.stdout and "Areas to look at" in result.stdout
    assert result.stdout.index("Why:") < result.stdout.index("Measurements (expert detail)")


def test_exit_status_is_non_zero_only_when_nothing_was_analysed(folder):
    failed = run("analyze", str(folder / "broken.jpg"), str(folder / "missing.png"), "--json", "--ordered")
    assert failed.exit_code == 1
    assert [json.loads(line)["error_code"] for line in failed.stdout.splitlines()] == ["not-an-image", "not-found"]
    mixed = run("analyze", str(folder / "broken.jpg"), str(folder / "good.jpg"))
    assert mixed.exit_code == 0 and "error:" in mixed.stderr


def test_boxes_and_a_question(folder):
    result = run("analyze", str(folder / "good.png"), "--json", "--box", "200,100,328,228",
                 "--box", "0,0,64,64", "--question", "what about the noise?")
    record = json.loads(result.stdout)
    assert [r["id"] for r in record["regions"]] == ["a1", "a2"]
    assert record["regions"][0]["box"] == [200, 100, 328, 228]
    assert "noise level" in record["answer"]


@pytest.mark.parametrize("args, message", [
    (["--box", "1,2,3"], "four numbers"),
    (["--question", "why?"], "--question needs"),
])
def test_usage_errors_are_clear(folder, args, message):
    result = CliRunner().invoke(main, ["analyze", str(folder / "good.png"), *args])
    assert result.exit_code == 2 and message in result.output


def test_box_outside_the_image_is_an_error_not_a_crash(folder):
    result = run("analyze", str(folder / "good.png"), "--json", "--box", "5000,5000,6000,6000")
    assert result.exit_code == 1 and json.loads(result.stdout)["error_code"] == "bad-box"


def test_demo_makes_and_analyses_its_samples(tmp_path):
    result = run("demo", "--out", str(tmp_path), "--json")
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 2
    assert records[1]["verdict"] == "ai-generated"
    assert any(region["score"] >= 0.9 for region in records[0]["regions"])


def test_installed_entry_point_never_prints_a_traceback(folder):
    done = subprocess.run([sys.executable, "-m", "zoomin_ui.cli", "analyze", str(folder / "broken.jpg")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "not an image" in done.stderr


@pytest.mark.parametrize("option", ["calibration", "signal_model"])
def test_missing_or_broken_tables_are_a_clear_error(tmp_path, option):
    from zoomin_ui import service

    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(service.WorkbenchError) as caught:
        service.open_detector("evidence", **{option: str(broken)})
    assert caught.value.code == "config" and str(broken) in str(caught.value)
    with pytest.raises(service.WorkbenchError, match="unknown backend 'magic'; available: evidence"):
        service.open_detector("magic")
