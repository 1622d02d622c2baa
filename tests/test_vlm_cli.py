"""`zoomin analyze --backend vlm|remote` and `zoomin models pull` from the command line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from models.sample_images import camera_like_photo, encode
from zoomin_ui.cli import main


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("vlm-cli") / "photo.png"
    path.write_bytes(encode(camera_like_photo(200, 300, seed=2), "PNG"))
    return path


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_json_from_the_local_backend(tiny_qwen, photo):
    result = run("analyze", str(photo), "--backend", "vlm", "--model", str(tiny_qwen), "--quant", "none",
                 "--max-new-tokens", "6", "--max-regions", "2", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.splitlines()[-1])
    assert record["backend"] == "vlm" and record["verdict"] == "inconclusive"
    assert "stage 2: examine" in record["raw_output"]
    assert record["provenance"]["model_id"] == str(tiny_qwen) and record["provenance"]["parameters"]["max_regions"] == 2
    assert {"scan", "examine", "total"} <= set(record["timings"])
    for region in record["regions"]:
        x1, y1, x2, y2 = region["box"]
        assert 0 <= x1 < x2 <= 300 and 0 <= y1 < y2 <= 200


def test_analyst_box_and_question_without_evidence_context(tiny_qwen, photo):
    result = run("analyze", str(photo), "--backend", "vlm", "--model", str(tiny_qwen), "--quant", "none",
                 "--max-new-tokens", "6", "--box", "10,20,110,120", "--question", "is this region upscaled?",
                 "--no-evidence-context", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.splitlines()[-1])
    assert [r["box"] for r in record["regions"]] == [[10, 20, 110, 120]]
    assert record["question"] == "is this region upscaled?" and record["answer"]
    assert [e["kind"] for e in record["evidence"]] == ["model"]


def test_missing_model_offline_is_a_clear_error(photo, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = CliRunner().invoke(main, ["analyze", str(photo), "--backend", "vlm", "--model",
                                       "zoomin-tests/absent-model"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "zoomin models pull zoomin-tests/absent-model" in result.output


def test_model_options_belong_to_model_backends(photo):
    result = CliRunner().invoke(main, ["analyze", str(photo), "--quant", "4bit"])
    assert result.exit_code == 2 and "--quant cannot be used with --backend evidence" in result.output
    result = CliRunner().invoke(main, ["analyze", str(photo), "--backend", "remote", "--model", "m",
                                       "--quant", "4bit"])
    assert result.exit_code == 2


def test_an_unreachable_server_costs_the_file_not_a_traceback(photo, monkeypatch):
    monkeypatch.setenv("ZOOMIN_REMOTE_RETRIES", "0")
    result = CliRunner().invoke(main, ["analyze", str(photo), "--backend", "remote", "--model", "m",
                                       "--base-url", "http://127.0.0.1:9/v1", "--json"])
    assert result.exit_code == 1
    record = json.loads(result.stdout.splitlines()[-1])
    assert record["error_code"] == "backend" and "cannot connect" in record["error"]


def test_pull_offline_says_so(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = CliRunner().invoke(main, ["models", "pull", "Qwen/Qwen2.5-VL-3B-Instruct"])
    assert result.exit_code == 1 and "HF_HUB_OFFLINE" in result.output


def test_saved_vlm_run_records_the_model_it_used(tiny_qwen, photo, tmp_path, monkeypatch):
    from storage import CaseStore

    monkeypatch.setenv("ZOOMIN_HOME", str(tmp_path / "home"))
    result = run("analyze", str(photo), "--backend", "vlm", "--model", str(tiny_qwen), "--quant", "none",
                 "--max-new-tokens", "6", "--save", "--json")
    assert result.exit_code == 0, result.output
    case_id = json.loads(result.stdout.splitlines()[-1])["case_id"]
    store = CaseStore.open(tmp_path / "home")
    (analysis,) = store.get_case(case_id).analyses
    assert analysis.status == "done" and analysis.backend.backend == "vlm"
    assert analysis.backend.model_id == str(tiny_qwen) and analysis.backend.quantization == "float32"
    assert len(analysis.backend.model_revision) == 64  # the weights' SHA-256 for a local folder
    assert analysis.model_output().raw_output  # the model's own text kept verbatim
