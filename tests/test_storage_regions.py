"""The case store's record of who drew each box and who changed it, box
edits as one transaction, one live run per file and backend, and the cases
already holding a file: on a real SQLite file (and PostgreSQL where one can
be started)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from models.types import Box, Region
from storage import BackendInfo, CaseStore, StoreError
from tests.storage_backends import model_result
from tests.storage_backends import store_environment  # noqa: F401  (autouse fixture)
from tests.storage_backends import database_url, store  # noqa: F401  (fixtures: every backend)
from tests.test_storage_service import ENGINE, finished_analysis, new_case_with_file


def _sql(store: CaseStore, statement: str, **values) -> None:
    """Change a row behind the store's back, as an older version or a crash left it."""
    with store._db.engine.begin() as connection:
        connection.execute(text(statement), values)


# ---------------------------------------------------------------------- who drew a box, who changed it


def test_who_drew_a_box_is_kept_through_decisions_moves_and_deletion(store):
    case, evidence = new_case_with_file(store)
    analysis = finished_analysis(store, case.id, evidence)
    tool_box, other = analysis.regions[0], analysis.regions[1]
    decided = store.edit_region(tool_box.id, "bob", status="confirmed", note="pasted patch")
    assert (decided.source, decided.created_by, decided.moved_by) == ("model", "bob", "")
    moved = store.edit_region(decided.id, "carol", box=Box(30, 20, 60, 50))
    noted = store.edit_region(moved.id, "dave", note="second look")
    assert (noted.source, noted.moved_by, noted.moved, noted.created_by) == ("model", "carol", True, "dave")
    drawn = store.add_region(analysis.id, "erin", Box(5, 5, 25, 25), label="sky seam")
    decided_drawn = store.edit_region(drawn.id, "frank", status="rejected")
    assert (decided_drawn.source, decided_drawn.moved) == ("analyst", False)
    gone = store.delete_region(other.id, "bob", "grid")
    assert gone.source == "model"

    by_id = {r.id: r for r in store.get_case(case.id).analyses[0].regions}
    assert {by_id[i].source for i in (tool_box.id, decided.id, moved.id, noted.id, gone.id)} == {"model"}
    assert by_id[noted.id].moved_by == "carol" and by_id[decided.id].moved_by == ""
    assert by_id[decided_drawn.id].source == "analyst"
    back = store.edit_region(noted.id, "erin", box=tool_box.box)  # moved back where the tool drew it
    assert (back.source, back.moved) == ("model", False)
    edit = [e for e in store.get_case(case.id).history if e.action == "region-edited"][1]
    assert edit.actor == "carol" and edit.before["box"] != edit.after["box"]  # what changed is in the event


def test_an_old_store_edit_saved_as_analyst_is_read_as_the_tools_box(store):
    """Stores written before the rule recorded an edit of a model box as
    source 'analyst'; their rows are evidence and stay as written, and the
    reader takes who drew the box from the first version."""
    case, evidence = new_case_with_file(store)
    analysis = finished_analysis(store, case.id, evidence)
    edited = store.edit_region(analysis.regions[0].id, "bob", status="confirmed")
    _sql(store, "UPDATE regions SET source = 'analyst' WHERE id = :id", id=edited.id)
    record = next(r for r in store.get_analysis(analysis.id).regions if r.id == edited.id)
    assert record.source == "model"
    again = store.edit_region(edited.id, "carol", status="rejected")
    assert again.source == "model"


def test_a_rerun_keeps_who_drew_each_box_and_the_analysts_label(store):
    case, evidence = new_case_with_file(store)
    first = finished_analysis(store, case.id, evidence)
    moved = store.edit_region(first.regions[0].id, "bob", box=Box(30, 20, 60, 50))
    drawn = store.add_region(first.id, "carol", Box(5, 5, 25, 25), label="sky seam")
    rerun = store.start_analysis(case.id, evidence.id, ENGINE, "dana", {"rerun_of": first.id},
                                 examined=[moved, drawn])
    result = model_result(evidence.sha256, regions=0)
    result.regions = [Region(box=moved.box, score=0.7, label="no clear anomaly", id=moved.region_key),
                      Region(box=drawn.box, score=0.2, label="no clear anomaly", id=drawn.region_key)]
    done = store.finish_analysis(rerun.id, result)
    tool, analyst = done.regions
    assert (tool.source, tool.label, tool.moved_by) == ("model", "no clear anomaly", "bob")
    assert (analyst.source, analyst.label, analyst.region_key) == ("analyst", "sky seam", "a1")
    assert store.add_region(done.id, "dana", Box(40, 40, 50, 50)).region_key == "a2"  # no key is reused
    listed = store.get_case(case.id).analyses[-1].regions
    assert [(r.source, r.moved_by) for r in listed] == [("model", "bob"), ("analyst", ""), ("analyst", "")]


def test_box_edits_in_one_call_are_all_or_none(store):
    case, evidence = new_case_with_file(store)
    analysis = finished_analysis(store, case.id, evidence)
    first, second = analysis.regions
    changes = store.change_regions(analysis.id, "bob", moves=[(first.id, Box(30, 20, 60, 50))],
                                   additions=[(Box(5, 5, 25, 25), "analyst box")], deletions=[second.id],
                                   reason="removed in the box editor")
    assert [r.moved_by for r in changes.moved] == ["bob"] and changes.added[0].source == "analyst"
    assert changes.deleted[0].status == "deleted" and changes.deleted[0].note == "removed in the box editor"
    before = store.get_analysis(analysis.id)
    with pytest.raises(StoreError) as refused:  # the second move names a superseded version
        store.change_regions(analysis.id, "bob", moves=[(changes.moved[0].id, Box(1, 1, 9, 9)),
                                                        (first.id, Box(2, 2, 9, 9))])
    assert refused.value.code == "conflict"
    _, other_file = new_case_with_file(store, seed=2)
    elsewhere = finished_analysis(store, other_file.case_id, other_file).regions[0]
    with pytest.raises(StoreError, match="not part of analysis"):
        store.change_regions(analysis.id, "bob", deletions=[elsewhere.id])
    assert store.get_analysis(analysis.id) == before


# ---------------------------------------------------------------------- one run per file and backend


def test_a_second_run_of_the_same_file_on_the_same_backend_is_refused(store):
    case, evidence = new_case_with_file(store)
    running = store.start_analysis(case.id, evidence.id, ENGINE, "alice")
    with pytest.raises(StoreError) as refused:
        store.start_analysis(case.id, evidence.id, ENGINE, "bob")
    assert refused.value.code == "busy"
    assert f"analysis of this file on evidence is already running (analysis {running.id}, started by alice" \
        in str(refused.value)
    other_backend = store.start_analysis(case.id, evidence.id, BackendInfo("vlm", "1"), "bob")
    _, other_file = new_case_with_file(store, seed=2)
    store.start_analysis(other_file.case_id, other_file.id, ENGINE, "bob")
    assert [a.id for a in store.get_case(case.id).analyses] == [running.id, other_backend.id]
    store.finish_analysis(running.id, model_result(evidence.sha256))
    assert store.start_analysis(case.id, evidence.id, ENGINE, "bob").status == "running"


def test_a_run_left_by_a_dead_process_does_not_block_a_new_one(store):
    case, evidence = new_case_with_file(store)
    stale = store.start_analysis(case.id, evidence.id, ENGINE, "alice")
    # as a crashed process on this host leaves it
    _sql(store, "UPDATE analyses SET runner_pid = 999999999, runner_token = 'gone:x' WHERE id = :id", id=stale.id)
    assert store.start_analysis(case.id, evidence.id, ENGINE, "bob").started_by == "bob"


# ---------------------------------------------------------------------- the same file in earlier cases


def test_cases_already_holding_a_file_are_found_by_its_hash(store):
    fire, fire_file = new_case_with_file(store, seed=1, title="Harbour fire")
    finished_analysis(store, fire.id, fire_file, verdict="ai-generated")
    store.update_case(fire.id, "bob", final_verdict="ai-generated", final_note="patch")
    later, _ = new_case_with_file(store, seed=1, title="Same photo, new tip", analyst="carol")
    new_case_with_file(store, seed=2, title="Unrelated")

    newest, oldest = store.cases_with_file(fire_file.sha256)
    assert (newest.case_id, newest.case_title, newest.analysed_at, newest.latest_verdict) == (
        later.id, "Same photo, new tip", None, None)
    assert (oldest.case_id, oldest.latest_verdict, oldest.final_verdict, oldest.concluded_by) == (
        fire.id, "ai-generated", "ai-generated", "bob")
    assert oldest.analysed_at is not None and oldest.file_name == "photo-1.png"
    assert store.cases_with_file("0" * 64) == []
    with pytest.raises(StoreError):
        store.cases_with_file("abc")
