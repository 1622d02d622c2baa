"""Issue 12, inputs: each failure in the form that reproduced it.

A lone surrogate in a ComfyUI prompt, NaN in generation JSON, EXIF
orientation as text or rational, sides past JPEG's limit, a 1 x 100,000,000
strip, a TIFF page pointer past the end, bytes that are not UTF-8 in --title
and in a file name, and terminal escapes in titles."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from models.image_input import ImageInputError, load_image
from tests import hostile_files as hostile
from tests.hostile_files import strict_json, strict_lines, zoomin
from zoomin_ui.cli import main


def run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("batch")
    files = {
        "ok": hostile.png_text(hostile.photo(seed=1)),
        "surrogate": hostile.png_text(hostile.photo(seed=2), prompt=hostile.SURROGATE_PROMPT),
        "nan": hostile.png_text(hostile.photo(seed=3), prompt=hostile.NAN_PROMPT),
        "parameters-nan": hostile.png_text(hostile.photo(seed=4), parameters=hostile.NAN_PARAMETERS),
    }
    paths = {}
    for name, data in files.items():
        paths[name] = folder / f"{name}.png"
        paths[name].write_bytes(data)
    return paths


@pytest.fixture
def home(tmp_path, monkeypatch):
    folder = tmp_path / "zoomin-home"
    monkeypatch.setenv("ZOOMIN_HOME", str(folder))
    monkeypatch.setenv("ZOOMIN_ANALYST", "alice")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return folder


# ------------------------------------------------------------- 1. text from outside, 4. strict JSON


def test_a_lone_surrogate_in_a_comfyui_prompt_costs_no_file_of_the_batch(batch):
    done = zoomin("analyze", "--json", *(str(p) for p in batch.values()))
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr.decode(errors="replace")
    records = strict_lines(done.stdout.decode("utf-8"))  # strict UTF-8: no surrogate reached stdout
    assert [Path(r["file"]).stem for r in records] == list(batch)
    assert all(r["verdict"] == "ai-generated" for r in records[1:])
    surrogate = records[1]
    comfy = next(e for e in surrogate["evidence"] if e["source"] == "text:comfyui")
    assert "KSampler\ufffd" in comfy["details"]["node_types"]
    assert any("invalid character" in note and "\ufffd" in note for note in surrogate["notes"])


def test_the_surrogate_file_is_saved_with_the_others(batch, tmp_path):
    home = tmp_path / "home"
    done = zoomin("analyze", "--json", "--save", *(str(p) for p in batch.values()), home=home)
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr.decode(errors="replace")
    records = strict_lines(done.stdout.decode("utf-8"))
    assert len(records) == len(batch) and all("case_id" in r for r in records)
    shown = zoomin("cases", "show", str(records[1]["case_id"]), "--json", home=home)
    assert shown.returncode == 0, shown.stderr.decode(errors="replace")
    case = strict_json(shown.stdout.decode("utf-8"))
    assert case["analyses"][0]["status"] == "done" and "\ufffd" in json.dumps(case, ensure_ascii=False)
    readable = zoomin("cases", "show", str(records[1]["case_id"]), home=home)
    assert readable.returncode == 0 and b"Traceback" not in readable.stderr


def test_the_page_analyses_and_stores_the_surrogate_file(batch, tmp_path):
    from zoomin_ui import workbench
    from zoomin_ui.service import open_detector, open_store

    with open_store(str(tmp_path / "home")) as store:
        intake = workbench.take_in(store, [batch["surrogate"]], "alice")
        saved = workbench.analyse_evidence(store, open_detector("evidence"), intake.items[0].evidence_file_id,
                                           "alice")
        stored = workbench.get_analysis(store, saved.analysis_id)
    assert stored.status == "done" and stored.verdict == "ai-generated"
    assert any("KSampler\ufffd" in e.finding for e in stored.evidence)


def test_nan_and_infinity_in_generation_json_come_out_as_strict_json(batch):
    result = run("analyze", "--json", str(batch["nan"]), str(batch["parameters-nan"]))
    assert result.exit_code == 0, result.output
    comfy, parameters = strict_lines(result.stdout)
    sampler = next(e for e in comfy["evidence"] if e["source"] == "text:comfyui")["details"]["samplers"][0]
    assert sampler["seed"] == "NaN" and sampler["steps"] == "Infinity"  # what the file says, as text
    details = next(e for e in parameters["evidence"] if e["source"] == "text:parameters")["details"]
    assert details["seed"] == "NaN" and details["steps"] == "Infinity" and details["model"] == "sdxl"


# ------------------------------------------------------------------------------ 3. odd images


@pytest.mark.parametrize("kind", ["ascii", "rational"])
def test_exif_orientation_stored_as_text_or_rational_is_applied(kind):
    rgb = hostile.photo(96, 72)
    plain = load_image(hostile.jpeg(rgb))
    image = load_image(hostile.jpeg(rgb, exif=hostile.orientation_exif(kind)))
    assert image.orientation == 6 and (image.width, image.height) == (72, 96)
    assert np.array_equal(image.pixels_as_stored(), plain.rgb)
    assert any("read as 6" in note for note in image.notes)


@pytest.mark.parametrize("entry", [(2, 4, b"abc\0"), (5, 1, (13).to_bytes(4, "little") + (2).to_bytes(4, "little")),
                                   (5, 1, (6).to_bytes(4, "little") + bytes(4)), (3, 1, (99).to_bytes(2, "little"))])
def test_an_unusable_exif_orientation_is_ignored_and_noted(entry, tmp_path):
    kind, count, value = entry
    path = tmp_path / "odd.jpg"
    path.write_bytes(hostile.jpeg(hostile.photo(96, 72), exif=hostile.exif_block([(0x0112, kind, count, value)])))
    image = load_image(path)
    assert image.orientation == 1 and (image.width, image.height) == (96, 72)
    assert any("invalid EXIF orientation" in note for note in image.notes)
    record = strict_lines(run("analyze", "--json", str(path)).stdout)[0]
    assert "verdict" in record


def test_sides_past_jpegs_limit_get_every_map_and_nothing_on_stderr(tmp_path, capfd):
    wide = tmp_path / "wide.png"
    rgb = np.random.default_rng(0).normal(128, 12, (66, 65_600, 3)).clip(0, 255).astype(np.uint8)
    Image.fromarray(rgb).save(wide, compress_level=1)
    tall = tmp_path / "tall.png"
    Image.fromarray(np.ascontiguousarray(rgb.transpose(1, 0, 2))).save(tall, compress_level=1)
    result = run("analyze", "--json", str(wide), str(tall))
    captured = capfd.readouterr()
    assert "Maximum supported image dimension" not in captured.err + captured.out
    records = strict_lines(result.stdout)
    assert [r.get("error_code") for r in records] == [None, None] and all("verdict" in r for r in records)


def test_jpeg_round_trips_in_tiles_equal_one_encode():
    """The tiling that lets a 66,000 px side through changes no pixel (grey and 4:4:4)."""
    import cv2

    from models.evidence.signal_features import jpeg_round_trip

    rgb = hostile.photo(300, 200, seed=9)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    assert np.array_equal(jpeg_round_trip(gray, 90), jpeg_round_trip(gray, 90, tile=64))
    assert np.array_equal(jpeg_round_trip(rgb, 90), jpeg_round_trip(rgb, 90, tile=64))


def test_a_one_by_hundred_million_strip_is_refused_before_decoding(tmp_path):
    strip = tmp_path / "strip.png"
    strip.write_bytes(hostile.long_strip_png(1, 100_000_000))
    with pytest.raises(ImageInputError) as caught:
        load_image(strip)
    assert caught.value.code == "too-large" and "1x100000000" in str(caught.value) and "\n" not in str(caught.value)
    record = strict_lines(run("analyze", "--json", str(strip)).stdout)[0]
    assert record["error_code"] == "too-large"


def test_running_out_of_memory_costs_one_file_not_the_batch(batch, monkeypatch):
    from models.evidence.engine import EvidenceEngine

    analyze = EvidenceEngine.analyze

    def exhausted(self, image):
        if image.name.endswith("ok.png"):
            raise MemoryError
        return analyze(self, image)

    monkeypatch.setattr(EvidenceEngine, "analyze", exhausted)
    # In this process (--jobs 1): the patched engine does not reach spawned workers.
    records = strict_lines(run("analyze", "--json", "--jobs", "1", str(batch["ok"]), str(batch["nan"])).stdout)
    assert records[0]["error_code"] == "too-large" and "memory" in records[0]["error"]
    assert records[1]["verdict"] == "ai-generated"


def test_a_tiff_whose_next_page_pointer_runs_past_the_end_gets_a_verdict(tmp_path):
    path = tmp_path / "pages.tif"
    path.write_bytes(hostile.tiff_with_next_ifd_past_end(hostile.photo(64, 48)))
    image = load_image(path)
    assert (image.width, image.height) == (64, 48) and any("only the first page" in n for n in image.notes)
    record = strict_lines(run("analyze", "--json", str(path)).stdout)[0]
    assert "verdict" in record and record["width"] == 64


def test_a_text_chunk_past_pillows_inflate_limit_costs_that_chunk_not_the_image(tmp_path):
    path = tmp_path / "big-workflow.png"
    path.write_bytes(hostile.png_with_chunks(hostile.photo(seed=8), [
        hostile.text_chunk("parameters", "a cat\nSteps: 20, Sampler: Euler a, Seed: 1"),
        hostile.ztxt_chunk("workflow", b"{" * 3_000_000)]))
    image = load_image(path)
    assert image.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()  # the file as given
    assert list(image.text_chunks) == ["parameters"] and any("'workflow' were not read" in n for n in image.notes)
    record = strict_lines(run("analyze", "--json", str(path)).stdout)[0]
    assert record["verdict"] == "ai-generated"  # the other chunk still speaks


def test_bytes_that_are_not_utf8_in_the_title_and_the_file_name_are_saved(tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    name = b"scan-\xff\xfe-1.png"
    (Path(os.fsdecode(os.fsencode(folder) + b"/" + name))).write_bytes(hostile.png_text(hostile.photo(seed=6)))
    home = tmp_path / "home"
    done = zoomin("analyze", "--json", "--save", "--title", b"Hafen \xe9 brand",
                  os.fsencode(folder) + b"/" + name, home=home)
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr.decode(errors="replace")
    assert b"--title held bytes that are not UTF-8" in done.stderr
    record = strict_lines(done.stdout.decode("utf-8"))[0]
    assert record["file"].endswith("scan-\ufffd\ufffd-1.png") and "verdict" in record
    listed = strict_json(zoomin("cases", "list", "--json", home=home).stdout.decode("utf-8"))[0]
    assert listed["title"] == "Hafen \ufffd brand" and listed["files"] == ["scan-\ufffd\ufffd-1.png"]


# ------------------------------------------------------------------------- 7. terminal escapes

HOSTILE_TITLE = "Harbour\x1b]0;owned\x07 fire\rHIDDEN \u202egnp.exe\x9b31m"


def test_cases_list_and_show_print_control_characters_escaped(home, batch):
    saved = run("analyze", "--save", "--title", HOSTILE_TITLE, str(batch["ok"]))
    assert saved.exit_code == 0, saved.output
    for shown in (run("cases", "list").stdout, run("cases", "show", "1").stdout):
        assert not any(ch in shown for ch in "\x1b\x07\r\u202e\x9b")
        assert "Harbour\\x1b]0;owned\\x07 fire\\rHIDDEN \\u202egnp.exe\\x9b31m" in shown
    listed = json.loads(run("cases", "list", "--json").stdout)
    assert listed[0]["title"] == HOSTILE_TITLE  # the record keeps what was typed; only the screen escapes it


def test_a_title_cannot_fake_a_line_of_the_case_listing(home, batch):
    assert run("analyze", "--save", "--title", "quiet\n     2  2026-01-01 00:00  real  forged row",
               str(batch["ok"])).exit_code == 0
    rows = run("cases", "list").stdout.splitlines()
    assert len(rows) == 2 and "quiet\\n     2" in rows[1]


def test_json_output_escapes_the_controls_json_leaves_raw(home, batch):
    assert run("analyze", "--save", "--title", HOSTILE_TITLE, str(batch["ok"])).exit_code == 0
    listed, shown = run("cases", "list", "--json").stdout, run("cases", "show", "1", "--json").stdout
    for output in (listed, shown):
        assert not any(ch in output for ch in "\x1b\x07\r\u202e\x9b") and "\\u202egnp.exe\\u009b31m" in output
    assert strict_json(listed)[0]["title"] == strict_json(shown)["summary"]["title"] == HOSTILE_TITLE


def test_file_names_in_the_summary_and_in_errors_are_escaped(tmp_path):
    sneaky = tmp_path / "photo\x1b[2J.png"
    sneaky.write_bytes(hostile.png_text(hostile.photo(seed=7)))
    missing = tmp_path / "gone\x1b]0;x\x07.png"
    result = run("analyze", str(sneaky), str(missing))
    assert "\x1b" not in result.stdout and "photo\\x1b[2J.png" in result.stdout
    assert "\x1b" not in result.stderr and "gone\\x1b]0;x\\x07.png: no such file" in result.stderr
    usage = run("analyze", str(sneaky), "--box", "1,2,\x1b[31m")
    assert usage.exit_code == 2 and "\x1b" not in usage.stderr and "\\x1b[31m" in usage.stderr
