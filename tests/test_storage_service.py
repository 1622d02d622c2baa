"""The case store's whole schema through its service API, on a real SQLite
file (and on PostgreSQL where one can be started)."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from models.types import Box
from storage import BackendInfo, CaseStore, StoreError, to_json
from storage.records import CaseDetail
from storage.serialization import from_json
from tests.storage_backends import model_result, png_bytes
from tests.storage_backends import store_environment  # noqa: F401  (autouse fixture)
from tests.storage_backends import database_url, store  # noqa: F401  (fixtures: every backend)


ENGINE = BackendInfo("evidence", "test-version", model_id="", model_revision="weights-sha", quantization="")


def new_case_with_file(store: CaseStore, seed: int = 1, title: str = "Harbour fire", analyst: str = "alice"):
    case = store.create_case(title, analyst)
    intake = store.add_evidence_file(case.id, png_bytes(seed), analyst, original_name=f"photo-{seed}.png")
    return case, intake.record


def finished_analysis(store: CaseStore, case_id: int, evidence, regions: int = 2, verdict: str = "ai-generated",
                      analyst: str = "alice"):
    run = store.start_analysis(case_id, evidence.id, ENGINE, analyst, {"max_regions": 5})
    return store.finish_analysis(run.id, model_result(evidence.sha256, regions=regions, verdict=verdict))


def test_case_changes_are_audited_with_before_and_after(store):
    case = store.create_case("  Harbour fire ", "alice", notes="from the wire")
    assert case.title == "Harbour fire" and case.status == "open" and case.verdict is None
    updated = store.update_case(case.id, "bob", status="in-review", final_verdict="real", final_note="camera original")
    assert (updated.status, updated.verdict, updated.final_verdict) == ("in-review", "real", "real")
    assert store.update_case(case.id, "bob", status="in-review") == updated  # no change, nothing logged
    store.update_case(case.id, "carol", final_verdict=None)

    detail = store.get_case(case.id)
    assert detail.notes == "from the wire" and detail.final_note == "camera original"
    assert [(e.actor, e.action) for e in detail.history] == [
        ("alice", "case-created"), ("bob", "case-updated"), ("carol", "case-updated")]
    assert detail.history[1].before == {"status": "open", "final_verdict": None, "final_note": ""}
    assert detail.history[1].after == {"status": "in-review", "final_verdict": "real", "final_note": "camera original"}
    assert detail.history[2].before == {"final_verdict": "real"} and detail.history[2].after == {"final_verdict": None}


@pytest.mark.parametrize("change, code", [
    ({"status": "archived"}, "invalid"), ({"final_verdict": "fake"}, "invalid"), ({"title": "  "}, "invalid")])
def test_bad_case_changes_are_refused_and_change_nothing(store, change, code):
    case = store.create_case("Harbour fire", "alice")
    with pytest.raises(StoreError) as refused:
        store.update_case(case.id, "bob", notes="changed", **change)
    assert refused.value.code == code
    detail = store.get_case(case.id)
    assert detail.summary.title == "Harbour fire" and detail.notes == "" and len(detail.history) == 1


def test_every_change_needs_an_analyst_and_an_existing_case(store):
    with pytest.raises(StoreError, match="analyst name is required"):
        store.create_case("Harbour fire", "  ")
    with pytest.raises(StoreError) as missing:
        store.get_case(4242)
    assert missing.value.code == "not-found"
    with pytest.raises(StoreError) as no_case:
        store.add_evidence_file(4242, png_bytes(1), "alice", original_name="a.png")
    assert no_case.value.code == "not-found"
    assert not list((store.home / "objects").rglob("*")) if (store.home / "objects").exists() else True


def test_evidence_is_content_addressed_read_only_and_taken_in_once_per_case(store):
    data = png_bytes(3)
    case, record = new_case_with_file(store, seed=3)
    assert record.sha256 == hashlib.sha256(data).hexdigest()
    assert (record.size_bytes, record.format, record.width, record.height) == (len(data), "PNG", 96, 64)
    assert record.original_name == "photo-3.png" and record.intake_by == "alice"
    stored = store.stored_path(record.sha256)
    assert stored.read_bytes() == data and stored.name == record.sha256
    assert stat.S_IMODE(stored.stat().st_mode) == 0o400

    again = store.add_evidence_file(case.id, data, "bob", original_name="renamed.png")
    assert not again.is_new and again.record == record
    assert len(store.get_case(case.id).evidence_files) == 1

    other = store.create_case("Same picture, other story", "bob")
    second = store.add_evidence_file(other.id, data, "bob", original_name="x.png")
    assert second.is_new and second.record.id != record.id
    assert store.stored_path(second.record.sha256) == stored  # one copy on disk
    assert store.evidence_bytes(second.record.id) == data


def test_a_file_that_is_not_an_image_is_refused_and_nothing_is_stored(store):
    case = store.create_case("Harbour fire", "alice")
    with pytest.raises(StoreError) as refused:
        store.add_evidence_file(case.id, b"%PDF-1.7 not an image", "alice", original_name="doc.pdf")
    assert refused.value.code == "not-an-image" and "doc.pdf" in str(refused.value)
    assert store.get_case(case.id).evidence_files == ()
    objects = store.home / "objects"
    assert not objects.exists() or not any(p.is_file() for p in objects.rglob("*"))


def test_a_new_case_and_its_first_file_are_created_together(store):
    intake = store.open_case_with_evidence("Flooded street", png_bytes(8), "alice", original_name="street.png")
    detail = store.get_case(intake.record.case_id)
    assert detail.summary.title == "Flooded street" and detail.summary.files == ("street.png",)
    with pytest.raises(StoreError):
        store.open_case_with_evidence("Not an image", b"plain text", "alice", original_name="notes.txt")
    assert store.list_cases().total == 1


def test_analysis_is_running_then_done_in_one_step(store):
    case, evidence = new_case_with_file(store)
    run = store.start_analysis(case.id, evidence.id, ENGINE, "alice", {"max_regions": 5, "boxes": []})
    assert run.status == "running" and run.regions == () and run.finished_at is None
    assert run.software["python"] and run.backend.model_revision == "weights-sha"
    assert store.get_case(case.id).analyses[0].status == "running"

    result = model_result(evidence.sha256, regions=3)
    done = store.finish_analysis(run.id, result)
    assert (done.status, done.verdict, done.score) == ("done", "ai-generated", pytest.approx(0.8))
    assert [r.source for r in done.regions] == ["model"] * 3 and all(r.current for r in done.regions)
    assert done.regions[1].box == Box(4, 4, 24, 20) and done.regions[1].evidence[0].details == {"z": 1}
    assert done.model_output().to_dict() == result.to_dict()
    assert done.parameters == {"max_regions": 5, "boxes": []}
    assert store.get_case(case.id).summary.model_verdict == "ai-generated"

    with pytest.raises(StoreError) as twice:
        store.finish_analysis(run.id, result)
    assert twice.value.code == "conflict"
    assert len(store.get_analysis(run.id).regions) == 3


def test_results_for_another_image_are_refused(store):
    case, evidence = new_case_with_file(store)
    run = store.start_analysis(case.id, evidence.id, ENGINE, "alice")
    with pytest.raises(StoreError, match="is not evidence file"):
        store.finish_analysis(run.id, model_result("0" * 64))
    after = store.get_analysis(run.id)
    assert after.status == "running" and after.regions == ()
    failed = store.fail_analysis(run.id, "model crashed: out of memory")
    assert failed.status == "failed" and failed.error == "model crashed: out of memory"
    assert [e.action for e in store.get_case(case.id).history][-1] == "analysis-failed"


def test_bad_analysis_requests_are_refused(store):
    case, evidence = new_case_with_file(store)
    _, other_file = new_case_with_file(store, seed=2)
    with pytest.raises(StoreError, match="not part of case"):
        store.start_analysis(case.id, other_file.id, ENGINE, "alice")
    with pytest.raises(StoreError, match="plain JSON"):
        store.start_analysis(case.id, evidence.id, ENGINE, "alice", {"when": object()})
    assert store.get_case(case.id).analyses == ()


def test_region_edits_are_new_versions_and_the_model_box_stays(store):
    case, evidence = new_case_with_file(store)
    analysis = finished_analysis(store, case.id, evidence)
    model_region = analysis.regions[0]

    moved = store.edit_region(model_region.id, "bob", box=Box(10, 10, 40, 30), label="pasted patch")
    assert (moved.source, moved.parent_region_id, moved.label) == ("model", model_region.id, "pasted patch")
    assert (moved.moved_by, moved.created_by) == ("bob", "bob")  # the tool drew it, bob moved it
    assert moved.score == 0.0 and moved.evidence == ()  # the model's score was for the old box
    confirmed = store.edit_region(moved.id, "carol", status="confirmed")
    with pytest.raises(StoreError) as stale:
        store.edit_region(model_region.id, "dave", status="rejected")
    assert stale.value.code == "conflict"
    deleted = store.delete_region(analysis.regions[1].id, "bob", reason="JPEG grid, not an edit")
    added = store.add_region(analysis.id, "carol", Box(50, 40, 200, 300), label="sky")
    assert added.box == Box(50, 40, 96, 64) and added.region_key == "a1"  # clipped to the image
    question = store.add_question(confirmed.id, "carol", "is the noise consistent?", "no", "evidence")

    regions = {r.id: r for r in store.get_analysis(analysis.id).regions}
    original = regions[model_region.id]
    assert original.source == "model" and original.box == model_region.box and original.status == "open"
    assert not original.current and original.label == model_region.label
    assert regions[confirmed.id].questions[0].answer == "no" and question.asked_by == "carol"
    assert regions[deleted.id].status == "deleted" and regions[deleted.id].parent_region_id == analysis.regions[1].id
    current = store.get_analysis(analysis.id).current_regions()
    assert sorted(r.id for r in current) == sorted([confirmed.id, added.id])

    history = store.get_case(case.id).history
    edit = next(e for e in history if e.action == "region-edited")
    assert edit.actor == "bob" and edit.before["box"] == model_region.box.to_list()
    assert edit.after["box"] == [10, 10, 40, 30]
    assert next(e for e in history if e.action == "region-deleted").after["reason"] == "JPEG grid, not an edit"
    with pytest.raises(StoreError, match="outside"):
        store.add_region(analysis.id, "carol", Box(500, 500, 600, 600))
    with pytest.raises(StoreError, match="already deleted"):
        store.delete_region(deleted.id, "bob")


def test_an_analyst_decision_keeps_its_note_per_version(store):
    case, evidence = new_case_with_file(store)
    analysis = finished_analysis(store, case.id, evidence)
    first, second = analysis.regions[0], analysis.regions[1]

    irrelevant = store.edit_region(first.id, "carol", status="not-relevant", note="  lens flare, not an edit ")
    assert (irrelevant.status, irrelevant.note) == ("not-relevant", "lens flare, not an edit")
    relabelled = store.edit_region(irrelevant.id, "carol", label="flare")
    assert relabelled.note == "", "a note belongs to the version that gave it"
    same_status_new_note = store.edit_region(relabelled.id, "dave", note="checked the RAW file")
    assert same_status_new_note.id != relabelled.id and same_status_new_note.status == "not-relevant"
    deleted = store.delete_region(second.id, "bob", reason="JPEG grid")
    assert deleted.note == "JPEG grid"

    edit = next(e for e in store.get_case(case.id).history if e.action == "region-edited")
    assert edit.after["status"] == "not-relevant" and edit.after["note"] == "lens flare, not an edit"
    with pytest.raises(StoreError, match="not-relevant"):
        store.edit_region(same_status_new_note.id, "dave", status="irrelevant")


def test_reports_are_kept_hashed_with_their_analysis(store, tmp_path):
    case, evidence = new_case_with_file(store)
    analysis = finished_analysis(store, case.id, evidence)
    report_file = tmp_path / "report.pdf"
    report_file.write_bytes(b"%PDF-1.7 report body")
    report = store.record_report(case.id, report_file, "alice", analysis_id=analysis.id)
    assert report.sha256 == hashlib.sha256(b"%PDF-1.7 report body").hexdigest()
    assert store.stored_path(report.sha256).read_bytes() == b"%PDF-1.7 report body"
    assert store.get_case(case.id).reports == (report,)
    other, _ = new_case_with_file(store, seed=2)
    with pytest.raises(StoreError, match="does not belong"):
        store.record_report(other.id, report_file, "alice", analysis_id=analysis.id)
    with pytest.raises(StoreError) as missing:
        store.record_report(case.id, tmp_path / "nope.pdf", "alice")
    assert missing.value.code == "not-found"


def test_search_by_title_file_hash_verdict_and_analyst(store):
    fire, fire_file = new_case_with_file(store, seed=1, title="Harbour FIRE", analyst="alice")
    flood, flood_file = new_case_with_file(store, seed=2, title="Flood", analyst="bob")
    finished_analysis(store, fire.id, fire_file, verdict="ai-generated")
    finished_analysis(store, flood.id, flood_file, verdict="ai-generated", analyst="bob")
    store.update_case(flood.id, "carol", final_verdict="real")  # the analyst's verdict wins
    for index in range(3):
        store.create_case(f"Other story {index}", "dave")

    def ids(**search):
        return [case.id for case in store.list_cases(**search).cases]

    assert ids(query="harbour") == [fire.id]
    assert ids(query="photo-2.png") == [flood.id]
    assert ids(query=flood_file.sha256[:10]) == [flood.id]
    assert ids(query=flood_file.sha256[:10].upper()) == [flood.id]
    assert ids(verdict="ai-generated") == [fire.id]
    assert ids(verdict="real") == [flood.id]
    assert ids(analyst="carol") == [flood.id]
    assert set(ids(analyst="alice")) == {fire.id}
    assert ids(query="100%_") == []
    first = store.list_cases(page=1, page_size=2)
    assert first.total == 5 and len(first.cases) == 2
    assert first.cases[0].id > first.cases[1].id or first.cases[0].updated_at >= first.cases[1].updated_at
    listed = store.list_cases(query="harbour").cases[0]
    assert listed.files == ("photo-1.png",) and listed.verdict == "ai-generated"
    with pytest.raises(StoreError):
        store.list_cases(verdict="maybe")


def test_verify_surfaces_a_tampered_or_missing_file_and_never_repairs_it(store, tmp_path):
    case, evidence = new_case_with_file(store, seed=5)
    _, gone = new_case_with_file(store, seed=6)
    assert store.verify() == []
    tampered = store.stored_path(evidence.sha256)
    os.chmod(tampered, 0o644)
    tampered.write_bytes(tampered.read_bytes() + b"edited")
    store.stored_path(gone.sha256).unlink()

    problems = {p.kind: p for p in store.verify()}
    assert set(problems) == {"hash-mismatch", "missing"}
    assert problems["hash-mismatch"].case_id == case.id and problems["hash-mismatch"].expected == evidence.sha256
    assert tampered.read_bytes().endswith(b"edited")  # left as found
    with pytest.raises(StoreError) as refused:
        store.evidence_bytes(evidence.id)
    assert refused.value.code == "tampered"
    with pytest.raises(StoreError) as again:  # taking the original in again does not overwrite the altered copy
        store.add_evidence_file(store.create_case("retry", "bob").id, png_bytes(5), "bob", original_name="p.png")
    assert again.value.code == "tampered"
    assert tampered.read_bytes().endswith(b"edited")


def test_a_case_survives_the_trip_through_json(store):
    case, evidence = new_case_with_file(store)
    analysis = finished_analysis(store, case.id, evidence)
    store.edit_region(analysis.regions[0].id, "bob", status="confirmed")
    detail = store.get_case(case.id)
    assert from_json(CaseDetail, to_json(detail)) == detail

