"""Reports always export: no text a user can enter makes a case unexportable.
Long and many-line fields are laid out across pages or folded with
"... (N more lines in the case file)"; lone surrogates are shown, not fatal."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from exports import export_case_report, gather_report, render_pdf
from exports.report_model import EvidenceView, RegionView, ReportData
from exports.text import fold_lines
from models.types import Box
from storage import CaseStore
from tests.storage_backends import store_environment  # noqa: F401  (autouse fixture)
from tests.test_report import NOW, make_case


@pytest.fixture
def store(tmp_path):
    with CaseStore.open(tmp_path / "home") as opened:
        yield opened


def text_of(path) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(path).pages)


def lines(count: int, word: str = "line") -> str:
    return "\n".join(f"{word} {n}" for n in range(1, count + 1))


def test_fold_lines_keeps_short_text_and_says_how_much_is_left():
    assert fold_lines("a\nb", 2) == "a\nb"
    assert fold_lines(lines(10), 3) == "line 1\nline 2\nline 3\n\u2026 (7 more lines in the case file)"
    assert fold_lines("a\nb", 1).endswith("(1 more line in the case file)")


def test_the_fields_that_made_a_case_unexportable_now_export(store, tmp_path):
    # issue 12: a 70-line final note or case note, a 200-line region note, a 245-line label, a 75-line name.
    case_id, analysis_id, regions = make_case(store, regions=2, questions=1)
    name = "\n".join("n" for _ in range(75))
    store.update_case(case_id, "alice", notes=lines(70, "case"))
    store.edit_region(regions[0], name, status="rejected", note=lines(200, "why"))
    store.edit_region(regions[1], "bob", label="\n".join("l" for _ in range(245)))
    store.add_region(analysis_id, name, Box(10, 10, 60, 60), label=lines(40, "mine"))
    store.add_question(regions[1], name, lines(90, "q"), lines(120, "a"), "evidence")
    store.update_case(case_id, name, final_verdict="ai-generated", final_note=lines(70, "note"))

    written = export_case_report(store, case_id, tmp_path / "long.pdf", name, now=NOW)

    text = text_of(written.path)
    assert "note 10 \u2026 (60 more lines in the case file)" in text  # folded on the first page
    assert "The analyst's note in full" in text and "note 70" in text  # laid out across pages after it
    assert "case 70" in text and "why 200" in text and "q 90" in text and "a 120" in text
    assert "more lines in the case file" in text.split("Technical appendix")[1]  # audit cells folded
    assert written.pages > 5 and len(store.get_case(case_id).reports) == 1


def test_one_line_far_wider_than_its_table_cell_is_folded(store, tmp_path):
    case_id, _, regions = make_case(store, regions=1, questions=0)
    store.edit_region(regions[0], "bob", label="w " * 240)  # 480 characters in the narrow facts column
    written = export_case_report(store, case_id, tmp_path / "wide.pdf", "bob", now=NOW)
    assert "more line in the case file" in text_of(written.path)


@pytest.fixture(scope="module")
def report_data():
    """One gathered case; the test replaces its texts, so no store write per example."""
    with tempfile.TemporaryDirectory() as folder, CaseStore.open(Path(folder) / "home") as store:
        case_id, analysis_id, regions = make_case(store, regions=2, questions=1)
        store.edit_region(regions[0], "bob", status="confirmed", note="a note")
        store.add_region(analysis_id, "dave", Box(200, 150, 300, 230), label="hand")
        store.update_case(case_id, "erin", final_verdict="real", final_note="note")
        yield gather_report(store, case_id, now=NOW, exported_by="erin")


# Any text, many lines, long lines, lone surrogates and markup included.
LINE = st.text(alphabet=st.one_of(st.characters(), st.sampled_from("\ud800\udfff<>&;/\"' \t\x07\u202e")),
               max_size=120)
TEXT = st.lists(LINE, max_size=260).map("\n".join)


def with_texts(data: ReportData, title: str, note: str, name: str, label: str, question: str) -> ReportData:
    def region(view: RegionView) -> RegionView:
        latest = dataclasses.replace(view.latest, label=label, note=note, explanation=question, created_by=name)
        questions = tuple(dataclasses.replace(q, question=question, answer=note, asked_by=name)
                          for q in view.questions)
        return dataclasses.replace(view, latest=latest, questions=questions, line=label)

    def item(view: EvidenceView) -> EvidenceView:
        file = dataclasses.replace(view.file, original_name=label, intake_by=name)
        return dataclasses.replace(view, file=file, regions=tuple(region(r) for r in view.regions))

    history = tuple(dataclasses.replace(e, actor=name, after={"final_note": note}) for e in data.history)
    case = dataclasses.replace(data.case, title=title, created_by=name)
    return dataclasses.replace(data, case=case, notes=note, final_note=note, exported_by=name, history=history,
                               items=tuple(item(i) for i in data.items))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.too_slow, HealthCheck.data_too_large])
@given(title=TEXT, note=TEXT, name=TEXT, label=TEXT, question=TEXT)
def test_no_text_a_user_can_enter_makes_the_report_fail(report_data, tmp_path, title, note, name, label, question):
    target = tmp_path / "any.pdf"
    pages = render_pdf(with_texts(report_data, title, note, name, label, question), target)
    assert pages >= 1 and len(PdfReader(target).pages) == pages
