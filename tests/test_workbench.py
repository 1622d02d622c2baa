"""The workbench's service layer (zoomin_ui/workbench.py and the non-Gradio
modules under zoomin_ui/web/) against a real SQLite case store."""

from __future__ import annotations

import hashlib

import pytest
from PIL import PngImagePlugin

from models.evidence.engine import EvidenceEngine
from models.sample_images import camera_like_photo, encode, paste_resampled_patch
from models.types import Box
from zoomin_ui import workbench
from zoomin_ui.service import WorkbenchError, open_store
from zoomin_ui.web import exports
from zoomin_ui.web.provenance import provenance_topics
from zoomin_ui.web.regions import (
    DECISIONS,
    EditedBox,
    apply_box_edits,
    ask_about_region,
    numbered_regions,
    override_region,
)
from zoomin_ui.web.zoom import zoom_region

PATCH = Box(560, 180, 816, 436)


def composite_png(seed: int = 7) -> bytes:
    """A camera-like photo with a re-rendered, upscaled patch the scan boxes."""
    return encode(paste_resampled_patch(camera_like_photo(768, 1024, seed=seed), PATCH), "PNG")


@pytest.fixture(scope="module")
def detector():
    return EvidenceEngine()


@pytest.fixture
def store(tmp_path):
    with open_store(str(tmp_path / "home")) as opened:
        yield opened


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "composite.png"
    path.write_bytes(composite_png())
    return path


@pytest.fixture
def analysed(store, detector, photo):
    intake = workbench.take_in(store, [photo], "alice")
    saved = workbench.analyse_evidence(store, detector, intake.items[0].evidence_file_id, "alice")
    return intake, saved


def test_take_in_makes_one_case_with_each_file_an_evidence_item(store, photo, tmp_path):
    second = tmp_path / "second.jpg"
    second.write_bytes(encode(camera_like_photo(300, 400, seed=3), "JPEG"))
    intake = workbench.take_in(store, [photo, second], "alice", title="two files")
    assert [i.name for i in intake.items] == ["composite.png", "second.jpg"]
    assert intake.items[0].sha256 == hashlib.sha256(photo.read_bytes()).hexdigest()
    assert (intake.items[1].format, intake.items[1].width, intake.items[1].size_bytes) == (
        "JPEG", 400, second.stat().st_size)
    detail = store.get_case(intake.case_id)
    assert detail.summary.title == "two files" and len(detail.evidence_files) == 2


def test_take_in_checks_content_not_extension(store, tmp_path):
    fake = tmp_path / "looks-like.png"
    fake.write_text("<html>not an image</html>")
    with pytest.raises(WorkbenchError):
        workbench.take_in(store, [fake], "alice")
    renamed = tmp_path / "really-a-png.txt"
    renamed.write_bytes(composite_png())
    assert workbench.take_in(store, [renamed], "alice").items[0].format == "PNG"


def test_a_bad_or_oversized_file_leaves_the_store_as_it_was(store, photo, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff" + b"\0" * 100)
    with pytest.raises(WorkbenchError):
        workbench.take_in(store, [photo, broken], "alice")
    with pytest.raises(WorkbenchError, match="upload limit") as caught:
        workbench.take_in(store, [photo], "alice", max_bytes=1000)
    assert caught.value.code == "too-large"
    assert store.list_cases().total == 0


def test_cases_are_found_by_title_file_name_and_hash_prefix(store, photo):
    intake = workbench.take_in(store, [photo], "alice", title="harbour at night")
    sha = intake.items[0].sha256
    for query in ("harbour", "composite", sha[:8], str(intake.case_id)):
        assert [c.id for c in workbench.search_cases(store, query)] == [intake.case_id]
    assert workbench.search_cases(store, "no such thing") == []
    listed = workbench.search_cases(store, "harbour")[0]
    assert listed.file_hashes == (sha,) and store.get_case(intake.case_id).summary.file_hashes == (sha,)


def test_stage_one_is_reported_before_stage_two_and_the_run_is_recorded(store, detector, photo):
    intake = workbench.take_in(store, [photo], "alice")
    seen = []

    def on_scan(scanned):
        seen.append((scanned.regions, store.get_analysis(scanned.run_id).status))

    saved = workbench.analyse_evidence(store, detector, intake.items[0].evidence_file_id, "alice", on_scan)
    (regions, status), = seen
    assert status == "running" and regions
    assert any(r.box.iou(PATCH) > 0.3 for r in regions)
    record = store.get_analysis(saved.analysis_id)
    assert record.status == "done" and [r.box for r in record.regions] == [r.box for r in regions]


def test_a_failing_scan_marks_the_run_failed(store, photo):
    class BrokenScan(EvidenceEngine):
        def scan(self, image):
            raise RuntimeError("scanner fell over")

    intake = workbench.take_in(store, [photo], "alice")
    with pytest.raises(RuntimeError):
        workbench.analyse_evidence(store, BrokenScan(), intake.items[0].evidence_file_id, "alice")
    (run,) = store.get_case(intake.case_id).analyses
    assert run.status == "failed" and "scanner fell over" in run.error


def test_zoom_gives_the_enlarged_crop_its_signal_maps_and_text(store, analysed):
    _, saved = analysed
    region = numbered_regions(store.get_analysis(saved.analysis_id))[0]
    view = zoom_region(store, saved.analysis_id, region.record.id)
    assert max(view.crop.size) == 512
    captions = [caption.split(" ")[0] for _, caption in view.maps]
    assert captions[:3] == ["error", "noise", "residual"]
    # then the local-inconsistency maps that apply to this image, each with its legend
    assert set(captions[3:]) <= {"noise", "JPEG", "demosaicing"} and len(captions) > 3
    assert all(max(image.size) == 512 for image, _ in view.maps)
    assert region.record.label in view.text and "Evidence:" in view.text


def test_a_question_is_answered_and_saved_with_the_region(store, detector, analysed):
    _, saved = analysed
    region = numbered_regions(store.get_analysis(saved.analysis_id))[0].record
    record = ask_about_region(store, detector, saved.analysis_id, region.id, "why this box?", "alice")
    assert record.answer and record.asked_by == "alice"
    stored = store.get_analysis(saved.analysis_id)
    assert [q.question for r in stored.regions for q in r.questions] == ["why this box?"]
    with pytest.raises(WorkbenchError, match="question"):
        ask_about_region(store, detector, saved.analysis_id, region.id, "  ", "alice")


@pytest.mark.parametrize("decision, status", [("AI artefact", "confirmed"), ("authentic", "rejected"),
                                              ("not relevant", "not-relevant")])
def test_an_override_is_a_new_audited_version(store, analysed, decision, status):
    intake, saved = analysed
    original = numbered_regions(store.get_analysis(saved.analysis_id))[0].record
    edited = override_region(store, saved.analysis_id, original.id, "bob", decision, "looks like lens blur")
    assert edited.status == status and edited.parent_region_id == original.id
    assert edited.note == "looks like lens blur" and edited.explanation == original.explanation
    assert numbered_regions(store.get_analysis(saved.analysis_id))[0].decision == f"{decision}: looks like lens blur"
    other = "authentic" if decision == "AI artefact" else "AI artefact"
    again = override_region(store, saved.analysis_id, edited.id, "bob", other)
    assert (again.status, again.note) == (DECISIONS[other], "")  # a new decision replaces the old one and its note
    regions = store.get_analysis(saved.analysis_id).regions
    assert any(r.id == original.id and r.status == "open" for r in regions)  # the model's box stays on record
    history = store.get_case(intake.case_id).history
    assert [e.actor for e in history if e.action == "region-edited"] == ["bob", "bob"]
    with pytest.raises(WorkbenchError, match="choose one of"):
        override_region(store, saved.analysis_id, again.id, "bob", "maybe")


def test_box_edits_move_add_and_delete_with_the_originals_kept(store, analysed):
    intake, saved = analysed
    (first, *_) = numbered_regions(store.get_analysis(saved.analysis_id))
    moved = Box(first.record.box.x1 + 40, first.record.box.y1, first.record.box.x2 + 40, first.record.box.y2)
    changes = apply_box_edits(store, saved.analysis_id, [EditedBox(first.number, moved),
                                                         EditedBox(None, Box(10, 10, 120, 90))], "carol")
    assert (len(changes.moved), len(changes.added), changes.deleted) == (1, 1, ())
    current = numbered_regions(store.get_analysis(saved.analysis_id))
    assert [(n.number, n.record.box) for n in current][:1] == [(first.number, moved)]
    assert current[-1].record.source == "analyst" and current[-1].record.box == Box(10, 10, 120, 90)
    changes = apply_box_edits(store, saved.analysis_id, [EditedBox(current[-1].number, current[-1].record.box)],
                              "carol")
    assert len(changes.deleted) == len(current) - 1 and not changes.moved and not changes.added
    record = store.get_analysis(saved.analysis_id)
    assert first.record.id in {r.id for r in record.regions}  # the detector's box is still on record
    actions = [e.action for e in store.get_case(intake.case_id).history]
    assert {"region-edited", "region-added", "region-deleted"} <= set(actions)


def test_a_rerun_examines_only_the_current_boxes(store, detector, analysed):
    _, saved = analysed
    first = numbered_regions(store.get_analysis(saved.analysis_id))[0]
    apply_box_edits(store, saved.analysis_id, [EditedBox(first.number, first.record.box),
                                               EditedBox(None, Box(20, 20, 200, 160))], "dana")
    comparison = workbench.rerun_on_current_boxes(store, detector, saved.analysis_id, "dana")
    assert comparison.before.id == saved.analysis_id and comparison.after.id != saved.analysis_id
    assert [r.box for r in comparison.after.regions] == [first.record.box, Box(20, 20, 200, 160)]
    assert comparison.after.parameters["rerun_of"] == saved.analysis_id
    apply_box_edits(store, comparison.after.id, [], "dana")
    with pytest.raises(WorkbenchError, match="no boxes"):
        workbench.rerun_on_current_boxes(store, detector, comparison.after.id, "dana")


def test_the_final_verdict_and_note_are_saved_and_audited(store, analysed):
    intake, _ = analysed
    summary = workbench.set_final_verdict(store, intake.case_id, "erin", "ai-generated", "patch is upscaled")
    assert summary.final_verdict == "ai-generated" and summary.verdict == "ai-generated"
    assert store.get_case(intake.case_id).final_note == "patch is upscaled"
    assert workbench.set_final_verdict(store, intake.case_id, "erin", None, "").final_verdict is None
    with pytest.raises(WorkbenchError):
        workbench.set_final_verdict(store, intake.case_id, "erin", "probably", "")


def test_provenance_is_said_in_plain_words_per_topic(store, detector, tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a lighthouse\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, "
                                "Size: 512x512, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly")
    path = tmp_path / "generated.png"
    path.write_bytes(encode(camera_like_photo(512, 512, seed=2), "PNG", pnginfo=info))
    intake = workbench.take_in(store, [path], "alice")
    saved = workbench.analyse_evidence(store, detector, intake.items[0].evidence_file_id, "alice")
    topics = {t.topic: t for t in provenance_topics(store.get_analysis(saved.analysis_id).evidence)}
    assert list(topics) == ["Content Credentials (C2PA)", "Generator metadata", "Invisible watermark",
                            "Camera metadata"]
    assert "AI generation settings" in topics["Generator metadata"].plain
    assert "strength" not in topics["Generator metadata"].plain  # the weights stay in the raw details
    assert "parameters" in topics["Generator metadata"].raw
    assert topics["Content Credentials (C2PA)"].plain.startswith("No Content Credentials")


def test_pdf_report_and_bundle_round_trip(store, analysed, tmp_path):
    intake, saved = analysed
    pdf = exports.export_pdf(store, intake.case_id, "frank", analysis_id=saved.analysis_id)
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.parent.parent == store.home / "exports"
    assert pdf.name == f"case-{intake.case_id}-composite-png.pdf"
    bundle = exports.export_case_bundle(store, intake.case_id, "frank")
    with open_store(str(tmp_path / "elsewhere")) as other:
        sender = store.keys.public_key()
        other.keys.trust(sender, sender.fingerprint)  # bundles from an untrusted key are refused
        imported = exports.import_case_bundle(other, bundle, "gina")
        assert other.get_case(imported.id).evidence_files[0].sha256 == intake.items[0].sha256
    with pytest.raises(WorkbenchError, match="already here"):
        exports.import_case_bundle(store, bundle, "gina")
