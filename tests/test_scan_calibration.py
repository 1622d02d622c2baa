"""The scan's reference table: what 'more unusual than N% of real photos' rests on."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from models.evidence.scan_calibration import (GROUP_SURPRISE, CalibrationError, ScanCalibration, TailTable,
                                              calibrate, surprising_groups)
from models.sample_images import camera_like_photo, encode
from zoomin_ui.cli import main


def _table() -> ScanCalibration:
    tail = TailTable(z=np.array([1.0, 2.0, 3.0, 4.0]), surprise=np.array([0.5, 1.0, 2.0, 3.0]))
    return ScanCalibration({"0:smoother": tail}, np.array([1.0, 2.0, 3.0, 4.0]))


def test_tile_surprise_follows_the_tail_and_keeps_rising_beyond_it():
    table = _table()
    surprise = table.surprise(0, "smoother", np.array([0.0, 1.5, 3.5, 4.0, 6.0, np.nan]))
    assert surprise[:4].tolist() == pytest.approx([0.0, 0.75, 2.5, 3.0])
    assert surprise[4] > surprise[3]  # two tiles beyond the data still rank
    assert surprise[5] == 0.0
    assert np.all(np.diff(table.surprise(0, "smoother", np.linspace(-5, 20, 200))) >= 0)


def test_scores_are_the_share_of_reference_photos_below():
    table = _table()
    scores = table.score_surprise(np.array([0.0, 1.0, 2.5, 4.0, 100.0]))
    assert scores.tolist() == pytest.approx([0.0, 0.2, 0.5, 0.8, 0.8])


def test_touching_surprising_tiles_form_one_group_with_summed_surprise():
    surprise = np.zeros((6, 6))
    surprise[1:3, 1:3] = 2.5          # a coherent block: 4 tiles
    surprise[5, 5] = 6.0              # a lone outlier
    surprise[4, 0] = GROUP_SURPRISE - 0.1  # below the group threshold
    groups = sorted(surprising_groups(surprise), key=lambda g: g.surprise)
    assert [g.surprise for g in groups] == pytest.approx([6.0, 10.0])
    assert (groups[1].rows, groups[1].cols) == (slice(1, 3), slice(1, 3))


def test_coarser_scales_fall_back_to_the_finest_measured():
    table = _table()
    assert table.surprise(2, "smoother", 1.5) == pytest.approx(table.surprise(0, "smoother", 1.5))
    with pytest.raises(CalibrationError):
        table.surprise(0, "noisier", 1.0)


def test_calibrating_on_photos_round_trips_through_json(tmp_path):
    photos = [camera_like_photo(200, 260, seed=s) for s in range(3)]
    table = calibrate(photos, {"note": "test"})
    assert table.record["real_photos"] == 3 and table.record["note"] == "test"
    assert table.photo_surprise.size == 3 and np.all(np.diff(table.photo_surprise) >= 0)
    path = tmp_path / "table.json"
    path.write_text(json.dumps(table.to_json()))
    again = ScanCalibration.load(path)
    assert again.tails.keys() == table.tails.keys()
    assert np.allclose(again.photo_surprise, table.photo_surprise, atol=1e-3)


@pytest.mark.parametrize("content", [
    "not json",
    json.dumps({"tails": {}, "photo_surprise": [1.0]}),
    json.dumps({"tails": {"0:smoother": {"z": [1, "x"], "surprise": [1, 2]}}, "photo_surprise": [1.0]}),
    json.dumps({"tails": {"0:smoother": {"z": [2, 1], "surprise": [1, 2]}}, "photo_surprise": [1.0]}),
    json.dumps({"tails": {"0:smoother": {"z": [1, 2], "surprise": [1, 2]}}}),
])
def test_malformed_tables_give_a_clear_error(tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(CalibrationError, match="scan calibration"):
        ScanCalibration.load(path)


def test_missing_table_says_how_to_rebuild(tmp_path):
    with pytest.raises(CalibrationError, match="zoomin calibrate-scan"):
        ScanCalibration.load(tmp_path / "none.json")


def test_shipped_table_is_present_and_sane():
    table = ScanCalibration.load()
    assert table.record["real_photos"] >= 50 and table.reference_photos == table.record["real_photos"]
    assert all(np.all(np.diff(t.z) >= 0) and np.all(np.diff(t.surprise) > 0) for t in table.tails.values())


def test_calibrate_scan_command_uses_only_allowed_real_photos(tmp_path):
    rows = ["file,label,generator,source_repo,license,dup_group"]
    for index in range(3):
        (tmp_path / f"real{index}.png").write_bytes(encode(camera_like_photo(160, 200, seed=index), "PNG"))
        rows.append(f"real{index}.png,real,camera,somewhere/photos,MIT,g{index}")
    (tmp_path / "nc.png").write_bytes(encode(camera_like_photo(160, 200, seed=9), "PNG"))
    rows.append("nc.png,real,camera,else/where,CC-BY-NC-4.0,g9")
    (tmp_path / "fake.png").write_bytes(encode(camera_like_photo(160, 200, seed=8), "PNG"))
    rows.append("fake.png,fake,sd,somewhere/gen,MIT,g8")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")
    out = tmp_path / "table.json"
    result = CliRunner().invoke(main, ["calibrate-scan", str(manifest), "--out", str(out)])
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())["record"]
    assert record["real_photos"] == 3 and record["sources"] == {"somewhere/photos": 3}
