"""Cases an analyst can name and find: intake that needs a name and says
where a file was seen before, an audited title, and readable download names.
Service layer against a real SQLite case store (no Gradio)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.evidence.engine import EvidenceEngine
from zoomin_ui import workbench
from zoomin_ui.download_names import MAX_SLUG, download_name, export_destination, title_slug
from zoomin_ui.service import WorkbenchError, open_store
from zoomin_ui.web import exports
from tests.test_workbench import composite_png


@pytest.fixture
def store(tmp_path):
    with open_store(str(tmp_path / "home")) as opened:
        yield opened


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "composite.png"
    path.write_bytes(composite_png())
    return path


@pytest.mark.parametrize("analyst", ["", "   ", None])
def test_take_in_without_an_analyst_keeps_nothing(store, photo, analyst):
    with pytest.raises(WorkbenchError, match="Analyst") as refused:
        workbench.take_in(store, [photo], analyst)
    assert refused.value.code == "analyst" and "nothing was stored" in str(refused.value)
    assert store.list_cases().total == 0
    assert not any(p.is_file() for p in (store.home / "objects").rglob("*"))


def test_a_file_seen_before_is_reported_with_its_case_verdict_and_conclusion(store, photo):
    first = workbench.take_in(store, [photo], "alice", title="Harbour fire")
    evidence_id = first.items[0].evidence_file_id
    saved = workbench.analyse_evidence(store, EvidenceEngine(), evidence_id, "alice")
    workbench.set_final_verdict(store, first.case_id, "bob", "ai-generated", "patch")
    sha = first.items[0].sha256
    assert first.items[0].seen_before == ()

    (sighting,) = workbench.seen_before(store, sha)  # asked before anything is stored again
    assert (sighting.case_id, sighting.case_title, sighting.latest_verdict) == (
        first.case_id, "Harbour fire", saved.analysis.verdict)
    assert (sighting.final_verdict, sighting.concluded_by) == ("ai-generated", "bob")
    assert sighting.analysed_at is not None
    assert store.list_cases().total == 1

    second = workbench.take_in(store, [photo], "carol", title="Same photo, new tip")
    assert [s.case_id for s in second.items[0].seen_before] == [first.case_id]
    assert [s.case_id for s in workbench.seen_before(store, sha)] == [second.case_id, first.case_id]
    assert workbench.seen_before(store, sha, excluding_case=second.case_id)[0].case_id == first.case_id
    assert workbench.seen_before(store, "f" * 64) == []
    with pytest.raises(WorkbenchError):
        workbench.seen_before(store, "not a hash")


def test_renaming_a_case_is_audited_with_the_old_and_new_title(store, photo):
    case_id = workbench.take_in(store, [photo], "alice").case_id
    renamed = workbench.rename_case(store, case_id, "  Harbour   fire\n", "bob")
    assert renamed.title == "Harbour fire"
    assert [c.id for c in workbench.search_cases(store, "harbour")] == [case_id]
    event = store.get_case(case_id).history[-1]
    assert (event.actor, event.action, event.before, event.after) == (
        "bob", "case-updated", {"title": "composite.png"}, {"title": "Harbour fire"})
    events = len(store.get_case(case_id).history)
    workbench.rename_case(store, case_id, "Harbour fire", "bob")  # the same title changes nothing
    assert len(store.get_case(case_id).history) == events


@pytest.mark.parametrize("title, message", [("   ", "needs a title"), ("x" * 501, "at most 500")])
def test_a_bad_title_is_refused_and_the_case_keeps_its_own(store, photo, title, message):
    case_id = workbench.take_in(store, [photo], "alice", title="Harbour fire").case_id
    with pytest.raises(WorkbenchError, match=message):
        workbench.rename_case(store, case_id, title, "bob")
    with pytest.raises(WorkbenchError):
        workbench.rename_case(store, case_id, "Fine title", "")
    assert store.get_case(case_id).summary.title == "Harbour fire"


@pytest.mark.parametrize("title, slug", [
    ("Harbour fire", "harbour-fire"), ("  Ünïcödé — Straße!  ", "unicode-strasse"), ("Øresund bridge", "oresund-bridge"),
    ("公式写真", "untitled"), ("../../etc/passwd", "etc-passwd"), ("", "untitled"),
    ("a" * 80, "a" * MAX_SLUG),
    ("one two three four five six seven eight nine", "one-two-three-four-five-six-seven-eight"),
])
def test_title_slugs(title, slug):
    assert title_slug(title) == slug
    assert download_name(12, title, ".pdf") == f"case-12-{slug}.pdf"


@given(st.text())
def test_a_slug_is_always_short_safe_ascii_and_never_empty(title):
    slug = title_slug(title)
    assert 0 < len(slug) <= MAX_SLUG and slug.isascii()
    assert set(slug) <= set("abcdefghijklmnopqrstuvwxyz0123456789-") and not slug.startswith("-")


def test_two_exports_of_a_case_keep_the_readable_name_and_never_overwrite(tmp_path):
    first = export_destination(tmp_path, 3, "Harbour fire", ".zip")
    second = export_destination(tmp_path, 3, "Harbour fire", ".zip")
    assert first.name == second.name == "case-3-harbour-fire.zip" and first.parent != second.parent


def test_the_pdf_and_bundle_are_named_after_the_case(store, photo):
    intake = workbench.take_in(store, [photo], "alice", title="Harbour fire")
    workbench.analyse_evidence(store, EvidenceEngine(), intake.items[0].evidence_file_id, "alice")
    pdf = exports.export_pdf(store, intake.case_id, "frank")
    bundle = exports.export_case_bundle(store, intake.case_id, "frank")
    assert (pdf.name, bundle.name) == (f"case-{intake.case_id}-harbour-fire.pdf",
                                       f"case-{intake.case_id}-harbour-fire.zip")
    assert store.get_case(intake.case_id).reports[-1].file_name == pdf.name
    with pytest.raises(WorkbenchError):
        exports.export_pdf(store, 999, "frank")
    assert all(any(folder.iterdir()) for folder in (store.home / "exports").iterdir())  # no empty folder left
