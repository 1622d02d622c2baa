"""Two signal-score versions side by side on one split (models/evaluation/versions.py): the
same images scored by each, and the table's accuracy, precision of ai calls and can't-tell
rate counted the way the module says."""

from __future__ import annotations

import hashlib
import json

import pytest

from models.dataset.jsonl import write_dataset
from models.dataset.records import DatasetRecord
from models.evaluation.versions import LabelledImage, compare_versions, split_images, versions_table
from models.evidence.signal_model import DEFAULT_WEIGHTS, SignalModel
from models.sample_images import camera_like_photo, encode


def _version(ai: float | None, real: float | None, name: str) -> SignalModel:
    data = json.loads(DEFAULT_WEIGHTS.read_text())
    data["thresholds"].update(ai_threshold=ai, real_threshold=real)
    return SignalModel.from_dict(data, name)


@pytest.fixture
def images(tmp_path):
    out = []
    for n, fake in enumerate([True, True, False, True, False]):
        path = tmp_path / f"img{n}.png"
        path.write_bytes(encode(camera_like_photo(320, 320, seed=n), "PNG"))
        out.append(LabelledImage(path, fake))
    return out


def test_versions_are_counted_side_by_side_on_the_same_images(images, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    comparison = compare_versions([*images, LabelledImage(broken, True)], {
        "calls everything ai": _version(0.0, None, "all-ai.json"),
        "calls everything real": _version(None, 1.0, "all-real.json"),
        "never calls": _version(None, None, "never.json"),
    })
    every_ai, every_real, never = comparison.versions
    assert len(comparison.unreadable) == 1 and "broken.png" in comparison.unreadable[0]
    assert [r.images for r in comparison.versions] == [5, 5, 5]
    assert (every_ai.ai_calls, every_ai.accuracy, every_ai.ai_precision, every_ai.cant_tell_rate) == (5, 0.6, 0.6, 0.0)
    assert (every_real.real_calls, every_real.accuracy, every_real.ai_precision) == (5, 0.4, None)
    assert (never.cant_tell, never.accuracy, never.cant_tell_rate) == (5, 0.0, 1.0)
    table = versions_table(comparison)
    assert "| calls everything ai | 5 | 0.600 | 0.600 | 0.000 | 5 / 0 / 0 |" in table
    assert "| never calls | 5 | 0.000 | – | 1.000 | 0 / 0 / 5 |" in table
    assert "1 image(s) could not be read" in table


def test_a_case_split_is_read_from_a_from_cases_dataset(images, tmp_path):
    records = [DatasetRecord(str(image.path), hashlib.sha256(image.path.read_bytes()).hexdigest(), "fake" if image.is_fake else "real",
                             extra={"split": "test" if n % 2 else "train"}) for n, image in enumerate(images)]
    dataset = tmp_path / "cases.jsonl"
    write_dataset(dataset, records)
    chosen = split_images(dataset, "test")
    assert [i.path.name for i in chosen] == ["img1.png", "img3.png"] and all(i.is_fake for i in chosen)
    assert len(split_images(dataset, None)) == 5
    with pytest.raises(ValueError, match="no record in the 'holdout' split"):
        split_images(dataset, "holdout")
    with pytest.raises(ValueError, match="at least one model version"):
        compare_versions(chosen, {})


def test_the_command_prints_the_table_and_refuses_bad_versions_in_one_line(images, tmp_path):
    from click.testing import CliRunner

    from zoomin_ui.cli import main

    records = [DatasetRecord(str(image.path), hashlib.sha256(image.path.read_bytes()).hexdigest(),
                             "fake" if image.is_fake else "real", extra={"split": "test"}) for image in images]
    dataset = tmp_path / "cases.jsonl"
    write_dataset(dataset, records)
    refit = tmp_path / "refit.json"
    data = json.loads(DEFAULT_WEIGHTS.read_text())
    data["thresholds"].update(ai_threshold=0.0)
    refit.write_text(json.dumps(data))
    runner = CliRunner()
    shown = runner.invoke(main, ["dataset", "compare-versions", str(dataset), "--model", "shipped",
                                 "--model", f"refit={refit}"])
    assert shown.exit_code == 0, shown.output
    assert "| shipped | 5 |" in shown.output and "| refit | 5 | 0.600 | 0.600 | 0.000 | 5 / 0 / 0 |" in shown.output
    for bad, said in ((["--model", "refit"], "give NAME=WEIGHTS"),
                      (["--model", f"x={tmp_path / 'missing.json'}"], "not found"),
                      (["--split", "holdout"], "no record in the 'holdout' split")):
        refused = runner.invoke(main, ["dataset", "compare-versions", str(dataset), *bad])
        assert refused.exit_code != 0 and said in refused.output and "Traceback" not in refused.output
