"""The workbench never records what the analyst did not do: who drew a box
survives decisions and re-runs, an editor value in another frame changes
nothing, re-run examines what the editor shows, a second run of the same
file is refused, and a batch goes on past a bad file.  Service layer against
a real SQLite case store (no Gradio)."""

from __future__ import annotations

import gc

import numpy as np
import pytest
from PIL import Image

from models.evidence.engine import EvidenceEngine
from models.sample_images import camera_like_photo, encode
from models.types import Box
from zoomin_ui import runs, workbench
from zoomin_ui.service import WorkbenchError, backend_info, open_store, rerun_analysis
from zoomin_ui.web.regions import (
    EditedBox,
    apply_box_edits,
    editor_boxes,
    editor_margin,
    numbered_regions,
    override_region,
    rerun_with_editor_boxes,
)
from tests.test_workbench import composite_png

DRAWN = Box(20, 20, 200, 160)


@pytest.fixture(scope="module")
def detector():
    return EvidenceEngine()


@pytest.fixture
def store(tmp_path):
    with open_store(str(tmp_path / "home")) as opened:
        yield opened


@pytest.fixture
def analysed(store, detector, tmp_path):
    path = tmp_path / "composite.png"
    path.write_bytes(composite_png())
    intake = workbench.take_in(store, [path], "alice")
    saved = workbench.analyse_evidence(store, detector, intake.items[0].evidence_file_id, "alice")
    return intake, store.get_analysis(saved.analysis_id)


def _editor_value(analysis, scale: float, *, orientation: int = 0, size: tuple[int, int] = (1024, 768)):
    """The box editor's value as the page's editor returns it: display pixels, rounded, labelled by number,
    on a picture with the blank band above it that keeps a top-edge box's number readable."""
    band = editor_margin(round(size[0] * scale))
    boxes = [{"xmin": round(n.record.box.x1 * scale), "ymin": round(n.record.box.y1 * scale) + band,
              "xmax": round(n.record.box.x2 * scale), "ymax": round(n.record.box.y2 * scale) + band,
              "label": str(n.number)} for n in numbered_regions(analysis)]
    picture = Image.new("RGB", (round(size[0] * scale), round(size[1] * scale) + band))
    return {"image": picture, "boxes": boxes, "orientation": orientation}


# ---------------------------------------------------------------------- failure 4: who drew a box


def test_a_decision_on_a_tool_box_keeps_it_the_tools_box(store, analysed):
    _, analysis = analysed
    tool_box = numbered_regions(analysis)[0].record
    decided = override_region(store, analysis.id, tool_box.id, "bob", "AI artefact", "pasted patch")
    assert (decided.source, decided.created_by, decided.moved) == ("model", "bob", False)
    shown = numbered_regions(store.get_analysis(analysis.id))[0].record
    assert shown.id == decided.id and shown.source == "model"


def test_a_rerun_keeps_the_analysts_box_the_analysts_and_a_moved_tool_box_moved(store, detector, analysed):
    _, analysis = analysed
    first, *_ = numbered_regions(analysis)
    moved_to = Box(first.record.box.x1 + 40, first.record.box.y1, first.record.box.x2 + 40, first.record.box.y2)
    apply_box_edits(store, analysis.id, [EditedBox(first.number, moved_to), EditedBox(None, DRAWN)], "carol")
    after = workbench.rerun_on_current_boxes(store, detector, analysis.id, "dana").after
    by_box = {r.box: r for r in after.current_regions()}
    assert (by_box[DRAWN].source, by_box[DRAWN].label) == ("analyst", "analyst box")
    assert (by_box[moved_to].source, by_box[moved_to].moved_by) == ("model", "carol")
    again = store.get_case(after.case_id).analyses[-1]  # the case view reads the same fact
    assert {r.box: (r.source, r.moved_by) for r in again.current_regions()} == {
        DRAWN: ("analyst", ""), moved_to: ("model", "carol")}


def test_running_an_interrupted_rerun_again_keeps_who_drew_each_box(store, detector, analysed):
    _, analysis = analysed
    first = numbered_regions(analysis)[0]
    apply_box_edits(store, analysis.id, [EditedBox(first.number, first.record.box), EditedBox(None, DRAWN)], "carol")
    current = store.get_analysis(analysis.id).current_regions()
    stopped = store.start_analysis(analysis.case_id, analysis.evidence_file_id, backend_info(detector), "dana",
                                   {"boxes": [r.box.to_list() for r in current], "rerun_of": analysis.id},
                                   examined=current)
    store.fail_analysis(stopped.id, "server restarted")
    again = store.get_analysis(rerun_analysis(store, detector, stopped.id, "dana").analysis_id)
    assert {r.box: (r.source, r.label if r.source == "analyst" else "") for r in again.current_regions()} == {
        first.record.box: ("model", ""), DRAWN: ("analyst", "analyst box")}


# ---------------------------------------------------------------------- failure 3: an edit never moves an unmoved box


def test_saving_an_untouched_editor_changes_nothing_at_any_scale(store, analysed):
    _, analysis = analysed
    for scale in (1.0, 0.37):
        edited = editor_boxes(_editor_value(analysis, scale), 1024, 768, scale)
        changes = apply_box_edits(store, analysis.id, edited, "bob", tolerance=1.0 / scale + 0.5)
        assert changes.describe() == "no box changed"
    assert store.get_analysis(analysis.id) == analysis


@pytest.mark.parametrize("damage, message", [
    ({"orientation": 1}, "rotated"),
    ({"size": (768, 1024)}, "not this image as shown"),
])
def test_an_editor_value_in_another_frame_is_refused_and_nothing_changes(store, analysed, damage, message):
    _, analysis = analysed
    value = _editor_value(analysis, 0.5, **damage)
    with pytest.raises(WorkbenchError, match=message) as refused:
        edited = editor_boxes(value, 1024, 768, 0.5)
        apply_box_edits(store, analysis.id, edited, "bob")
    assert "no box was changed" in str(refused.value)
    assert store.get_analysis(analysis.id) == analysis


def test_boxes_that_lost_their_numbers_but_did_not_move_change_nothing(store, analysed):
    _, analysis = analysed
    value = _editor_value(analysis, 0.5)
    for box in value["boxes"]:
        box["label"] = ""
    value["boxes"].append({"xmin": 10, "ymin": 50, "xmax": 100, "ymax": 120, "label": ""})
    changes = apply_box_edits(store, analysis.id, editor_boxes(value, 1024, 768, 0.5), "bob", tolerance=2.5)
    assert (len(changes.added), changes.moved, changes.deleted) == (1, (), ())
    after = store.get_analysis(analysis.id).current_regions()
    assert [r.id for r in after[:-1]] == [r.id for r in analysis.current_regions()] and after[-1].source == "analyst"


def test_editor_pictures_as_arrays_boxes_outside_and_slips_of_the_mouse(analysed):
    _, analysis = analysed
    band = editor_margin(512)
    value = {"image": np.zeros((384 + band, 512, 3), np.uint8), "boxes": [
        {"xmin": 10, "ymin": 10 + band, "xmax": 10, "ymax": 40 + band, "label": ""},  # no width: a slip, left out
        {"xmin": 5, "ymin": 5 + band, "xmax": 60, "ymax": 40 + band, "label": "analyst box"},
        {"xmin": 100, "ymin": band - 20, "xmax": 160, "ymax": band + 30, "label": ""}]}  # reaching into the band
    assert editor_boxes(value, 1024, 768, 0.5) == [EditedBox(None, Box(10, 10, 120, 80)),
                                                   EditedBox(None, Box(200, 0, 320, 60))]
    outside = {"image": None, "boxes": [{"xmin": 900, "ymin": 10, "xmax": 990, "ymax": 40, "label": "1"}]}
    with pytest.raises(WorkbenchError, match="outside"):
        editor_boxes(outside, 1024, 768, 0.5)
    assert editor_boxes(None, 1024, 768, 0.5) is None


def test_a_box_twice_in_the_editor_is_refused_before_anything_is_saved(store, analysed):
    _, analysis = analysed
    first = numbered_regions(analysis)[0]
    twice = [EditedBox(first.number, first.record.box), EditedBox(first.number, DRAWN)]
    with pytest.raises(WorkbenchError, match="more than once"):
        apply_box_edits(store, analysis.id, twice, "bob")
    assert store.get_analysis(analysis.id) == analysis


# ---------------------------------------------------------------------- failure 5: re-run on what the editor shows


def test_rerun_examines_the_editors_boxes_saving_them_first(store, detector, analysed):
    intake, analysis = analysed
    first = numbered_regions(analysis)[0]
    shown = [EditedBox(first.number, first.record.box), EditedBox(None, DRAWN)]  # drawn, never saved
    rerun = rerun_with_editor_boxes(store, detector, analysis.id, shown, "dana")
    assert len(rerun.changes.added) == 1 and len(rerun.changes.deleted) == len(numbered_regions(analysis)) - 1
    assert sorted(r.box.to_list() for r in rerun.comparison.after.current_regions()) == sorted(
        [first.record.box.to_list(), DRAWN.to_list()])
    actions = [e.action for e in store.get_case(intake.case_id).history]
    assert actions.index("region-added") < actions.index("analysis-started", actions.index("region-added"))


def test_rerun_with_an_empty_editor_is_refused_and_deletes_nothing(store, detector, analysed):
    _, analysis = analysed
    with pytest.raises(WorkbenchError, match="no boxes") as refused:
        rerun_with_editor_boxes(store, detector, analysis.id, [], "dana")
    assert refused.value.code == "no-boxes"
    assert store.get_analysis(analysis.id) == analysis
    unopened = rerun_with_editor_boxes(store, detector, analysis.id, None, "dana")  # editor never opened
    assert len(unopened.comparison.after.current_regions()) == len(analysis.current_regions())


# ---------------------------------------------------------------------- failure 6: one run of a file per backend


def test_a_second_run_of_the_same_file_is_refused_and_not_recorded(store, detector, analysed):
    intake, _ = analysed
    evidence_id = intake.items[0].evidence_file_id
    steps = runs.analyse_in_steps(store, detector, evidence_id, "alice")
    scanned = next(steps)  # stage 1 done, the run is `running`
    with pytest.raises(WorkbenchError, match="already running") as refused:
        workbench.scan_evidence(store, detector, evidence_id, "bob")
    assert refused.value.code == "busy" and "started by alice" in str(refused.value)
    assert [a.status for a in store.get_case(intake.case_id).analyses] == ["done", "running"]
    steps.close()  # the page went away between the stages
    assert store.get_analysis(scanned.run_id).status == "failed"
    assert "stopped before stage 2" in store.get_analysis(scanned.run_id).error
    assert workbench.analyse_evidence(store, detector, evidence_id, "bob").analysis.verdict


def test_a_scan_dropped_between_the_stages_does_not_block_the_file(store, detector, analysed):
    intake, _ = analysed
    evidence_id = intake.items[0].evidence_file_id
    run_id = workbench.scan_evidence(store, detector, evidence_id, "alice").run_id  # the ScannedRun is dropped
    gc.collect()
    assert (store.get_analysis(run_id).status, store.get_analysis(run_id).error) == ("failed", workbench.ABANDONED)
    scanned = workbench.scan_evidence(store, detector, evidence_id, "bob")
    assert workbench.examine_scanned(store, detector, scanned).analysis_id == scanned.run_id
    del scanned
    gc.collect()
    assert store.get_case(intake.case_id).analyses[-1].status == "done"  # a finished run is left as it is


# ---------------------------------------------------------------------- analyse all


def test_analyse_all_goes_past_a_bad_file_and_reports_each_item(store, tmp_path):
    class FailsOnSmallImages(EvidenceEngine):
        def scan(self, image):
            if image.width < 500:
                raise RuntimeError("scanner fell over")
            return super().scan(image)

    files = []
    for name, (height, width) in (("big.png", (480, 640)), ("small.jpg", (300, 400)), ("last.png", (512, 512))):
        path = tmp_path / name
        path.write_bytes(encode(camera_like_photo(height, width, seed=len(files) + 3),
                                "JPEG" if name.endswith("jpg") else "PNG"))
        files.append(path)
    case_id = workbench.take_in(store, files, "alice").case_id
    seen = []
    outcomes = runs.analyse_all(store, FailsOnSmallImages(), case_id, "alice", on_item=seen.append)
    assert seen == outcomes and [(o.index, o.total, o.name, o.ok) for o in outcomes] == [
        (1, 3, "big.png", True), (2, 3, "small.jpg", False), (3, 3, "last.png", True)]
    assert "scanner fell over" in outcomes[1].error and outcomes[0].verdict
    statuses = {a.evidence_file_id: a.status for a in store.get_case(case_id).analyses}
    assert list(statuses.values()) == ["done", "failed", "done"]
    again = runs.analyse_all(store, EvidenceEngine(), case_id, "alice", only_unanalysed=True)
    assert [o.name for o in again] == ["small.jpg"] and again[0].ok
    with pytest.raises(WorkbenchError, match="Analyst"):
        runs.analyse_all(store, EvidenceEngine(), case_id, " ")
