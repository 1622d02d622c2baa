"""Dataset format: JSON Lines reading/writing, validation errors, importers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from models.dataset.importers import find_image, import_fakeclue, import_legion
from models.dataset.jsonl import DatasetError, dataset_problems, read_dataset, write_dataset
from models.dataset.labels_csv import read_labels_csv
from models.dataset.records import AnnotatedBox, Annotator, DatasetRecord
from models.types import Box
from zoomin_ui.cli import main


def make_image(path: Path, size=(64, 48), seed=0) -> str:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fake_record(path: Path, sha: str) -> DatasetRecord:
    return DatasetRecord(path=str(path), sha256=sha, label="fake", width=64, height=48, generator="sdxl",
                         boxes=(AnnotatedBox(Box(1, 2, 30, 40), "warped fingers"),),
                         explanation="smooth skin", annotator=Annotator("m", "v1", "vlm"), extra={"k": 1})


def test_roundtrip_writes_relative_paths_and_reads_them_back_resolved(tmp_path):
    sha_f = make_image(tmp_path / "img" / "a.png", seed=1)
    sha_r = make_image(tmp_path / "img" / "b.png", seed=2)
    records = [fake_record(tmp_path / "img" / "a.png", sha_f),
               DatasetRecord(path=str(tmp_path / "img" / "b.png"), sha256=sha_r, label="real")]
    out = tmp_path / "split.jsonl"
    assert write_dataset(out, records) == 2
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["path"] == "img/a.png" and rows[0]["boxes"][0] == {"box": [1, 2, 30, 40],
                                                                        "explanation": "warped fingers"}
    back = read_dataset(out)
    assert back[0] == records[0] and back[1] == records[1]


@pytest.mark.parametrize("change, message", [
    ({"label": "maybe"}, "label must be one of"),
    ({"sha256": "xyz"}, "sha256 must be 64 hex digits"),
    ({"boxes": [{"box": [10, 10, 5, 20]}]}, "x2 > x1"),
    ({"boxes": [{"box": [1, 2, 3]}]}, "four numbers"),
    ({"boxes": [{"box": [0, 0, 65, 200]}]}, "outside the 64x48 image"),
    ({"label": "real"}, "boxes mark AI artefacts"),
    ({"path": "img/missing.png"}, "image file not found"),
    ({"width": -3}, "'width' must be a whole number"),
])
def test_validation_names_the_problem_and_line(tmp_path, change, message):
    sha = make_image(tmp_path / "img" / "a.png")
    good = json.loads(json.dumps({"path": "img/a.png", "sha256": sha, "label": "fake", "width": 64, "height": 48,
                                  "boxes": [{"box": [1, 1, 20, 20], "explanation": "x"}]}))
    out = tmp_path / "bad.jsonl"
    out.write_text("\n" + json.dumps(good | change) + "\n")
    with pytest.raises(DatasetError, match=message) as caught:
        read_dataset(out)
    assert caught.value.line == 2


def test_duplicates_and_bad_json_are_all_listed_by_validate(tmp_path):
    sha = make_image(tmp_path / "a.png")
    row = json.dumps({"path": "a.png", "sha256": sha, "label": "real"})
    out = tmp_path / "d.jsonl"
    out.write_text(row + "\n" + row + "\n{not json\n")
    rows, problems = dataset_problems(out)
    assert rows == 3
    assert [p.line for p in problems] == [2, 3]
    assert "duplicate image" in problems[0].message and "not valid JSON" in problems[1].message


def test_writer_refuses_bad_records_and_writes_nothing(tmp_path):
    sha = make_image(tmp_path / "a.png")
    bad = DatasetRecord(path=str(tmp_path / "a.png"), sha256=sha, label="real",
                        boxes=(AnnotatedBox(Box(0, 0, 4, 4)),))
    with pytest.raises(DatasetError, match="'real'"):
        write_dataset(tmp_path / "o.jsonl", [bad])
    assert not (tmp_path / "o.jsonl").exists()
    ok = DatasetRecord(path=str(tmp_path / "a.png"), sha256=sha, label="real")
    with pytest.raises(DatasetError, match="duplicate"):
        write_dataset(tmp_path / "o.jsonl", [ok, ok])


def test_missing_dataset_file_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="dataset file not found"):
        read_dataset(tmp_path / "nope.jsonl")


# --------------------------------------------------------------------------- importers



def legion_fixture(tmp_path: Path) -> tuple[Path, Path]:
    images = tmp_path / "synthscars" / "images"
    make_image(images / "raw_imgs" / "cat.png", size=(64, 48), seed=3)
    make_image(images / "face.png", size=(64, 48), seed=4)
    entries = [
        {"17": {"caption": "A cat with a melted paw.",
                "img_file_name": "/mnt/cluster/richhf-18k/train/raw_imgs/cat.png",
                "refs": [{"sentence": "Cat's left paw", "explanation": "The paw melts into the floor.", "bbox": None,
                          "segmentation": [[10.5, 20.0, 30.0, 22.0, 25.0, 40.0], [8.0, 30.0, 12.0, 31.0]]},
                         {"sentence": "Whiskers", "explanation": "Whiskers float.", "bbox": [40, 5, 10, 8],
                          "segmentation": []}]}},
        {"18": {"caption": "x", "img_file_name": "/mnt/cluster/gone.png", "refs": []}},
        {"19": {"caption": "Face.", "img_file_name": "face.png",
                "refs": [{"sentence": "ear", "explanation": "far away", "segmentation": [[500, 500, 600, 600]]}]}},
    ]
    source = tmp_path / "legion.json"
    source.write_text(json.dumps(entries))
    return source, images


def test_legion_import_turns_polygons_into_boxes_and_skips_with_reasons(tmp_path):
    source, images = legion_fixture(tmp_path)
    result = import_legion(source, images)
    (cat,) = result.records
    assert cat.label == "fake" and cat.explanation == "A cat with a melted paw." and (cat.width, cat.height) == (64, 48)
    assert [b.box.to_list() for b in cat.boxes] == [[8.0, 20.0, 30.0, 40.0], [40.0, 5.0, 50.0, 13.0]]
    assert cat.boxes[0].explanation == "Cat's left paw: The paw melts into the floor."
    assert cat.annotator.backend == "legion" and cat.extra == {"source_id": "17"}
    reasons = dict(result.skipped)
    assert "not found under" in reasons["18"] and "outside the 64x48 image" in reasons["19"]


def test_fakeclue_import_reads_labels_and_answers(tmp_path):
    images = tmp_path / "fc"
    make_image(images / "doc" / "fake" / "1.png", seed=5)
    make_image(images / "doc" / "real" / "2.png", seed=6)
    source = tmp_path / "test.json"
    source.write_text(json.dumps([
        {"image": "doc/fake/1.png", "label": 0, "cate": "doc",
         "conversations": [{"from": "human", "value": "<image>\nIs this fake?"},
                           {"from": "gpt", "value": "This is a fake image. The letters are malformed."}]},
        {"image": "doc/real/2.png", "label": 1, "cate": "doc",
         "conversations": [{"from": "human", "value": "?"}, {"from": "gpt", "value": "This is a real image."}]},
        {"image": "doc/real/2.png", "label": 7, "conversations": []},
    ]))
    result = import_fakeclue(source, images)
    fake, real = result.records
    assert (fake.label, real.label) == ("fake", "real") and fake.explanation.endswith("letters are malformed.")
    assert fake.extra == {"category": "doc"} and not fake.boxes
    assert "label must be 0 (fake) or 1 (real)" in result.skipped[0][1]


def test_import_and_validate_commands(tmp_path):
    source, images = legion_fixture(tmp_path)
    out = tmp_path / "imported.jsonl"
    result = CliRunner().invoke(main, ["dataset", "import", "legion", str(source), "--images", str(images),
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 record(s) written" in result.output and "skipped 18" in result.output
    assert len(read_dataset(out)) == 1
    ok = CliRunner().invoke(main, ["dataset", "validate", str(out)])
    assert ok.exit_code == 0 and "1 row(s), no problems" in ok.output
    out.write_text(out.read_text() + out.read_text() + '{"path": "a.png"}\n')
    bad = CliRunner().invoke(main, ["dataset", "validate", str(out)])
    assert bad.exit_code == 1 and "line 2: duplicate image" in bad.output and "line 3: missing or empty 'sha256'" \
        in bad.output and "2 problem(s) in 3 row(s)" in bad.output


def test_find_image_matches_the_longest_tail(tmp_path):
    make_image(tmp_path / "a" / "x.png")
    assert find_image("/cluster/data/a/x.png", tmp_path) == tmp_path / "a" / "x.png"
    assert find_image("/cluster/data/b/y.png", tmp_path) is None


def test_labels_csv_resolves_paths_and_refuses_bad_rows(tmp_path):
    (tmp_path / "l.csv").write_text("file,label,generator,notes\nimgs/a.png,fake,sdxl,n1\n/abs/b.png,real,,\n")
    a, b = read_labels_csv(tmp_path / "l.csv")
    assert a.path == tmp_path.resolve() / "imgs" / "a.png" and a.generator == "sdxl" and a.columns["notes"] == "n1"
    assert str(b.path) == "/abs/b.png" and b.label == "real"
    assert read_labels_csv(tmp_path / "l.csv", images="/data")[0].path == Path("/data/imgs/a.png")
    (tmp_path / "d.csv").write_text("file,label\na.png,real\na.png,fake\n")
    with pytest.raises(DatasetError, match="listed twice"):
        read_labels_csv(tmp_path / "d.csv")
