"""The report's layout: a first page that stands alone, region crops with their
box, attribution read from the store's `source`, a technical appendix of
tables, no pointers to project files, and the PDF's own creation date."""

from __future__ import annotations

import dataclasses
from datetime import timezone

import numpy as np
import pytest
from PIL import Image as PILImage
from pypdf import PdfReader

from exports import export_case_report, gather_report
from exports.first_page import decision_counts
from exports.pictures import outlined_crop, overlay_boxes
from models.overlay import ANALYST_COLOUR, score_colour, zoom_crop
from models.types import Box
from storage import CaseStore
from tests.storage_backends import store_environment  # noqa: F401  (autouse fixture)
from tests.test_report import ENGINE, NOW, detector_result, make_case, png


@pytest.fixture
def store(tmp_path):
    with CaseStore.open(tmp_path / "home") as opened:
        yield opened


def page_texts(path) -> list[str]:
    return [" ".join(page.extract_text().split()) for page in PdfReader(path).pages]


def test_the_first_page_stands_alone(store, tmp_path):
    case_id, analysis_id, regions = make_case(store, regions=3, questions=0)
    store.edit_region(regions[0], "bob", status="confirmed")
    store.update_case(case_id, "erin", final_verdict="real", final_note="The camera original was found.")
    detail = store.get_case(case_id)
    reading = detail.analyses[0].reading

    written = export_case_report(store, case_id, tmp_path / "case.pdf", "erin", now=NOW)

    first = PdfReader(written.path).pages[0]
    assert len(first.images) >= 1  # the thumbnail with the numbered boxes
    text = " ".join(first.extract_text().split())
    evidence = detail.evidence_files[0]
    for expected in ("The analyst's conclusion", "Likely real (concluded by erin", "The camera original was found.",
                     "The tool's reading", "AI-generated", " ".join(reading.headline.split()), "Key evidence",
                     "The analyst and the tool disagree", "Harbour fire", f"{case_id}: Harbour fire",
                     detail.summary.uid, evidence.sha256, "closed (concluded)", "Opened", "by alice", "Concluded",
                     "made by erin", "of the tool's regions the analyst confirmed 1"):
        assert expected in text, expected
    assert reading.key_points and all(" ".join(p.split())[:40] in text for p in reading.key_points[:5])
    assert text.index("The analyst's conclusion") < text.index("The tool's reading")


def test_an_open_case_says_no_analyst_has_concluded(store, tmp_path):
    case_id, _, _ = make_case(store, regions=1, questions=0)
    text = page_texts(export_case_report(store, case_id, tmp_path / "open.pdf", "alice", now=NOW).path)[0]
    assert "No analyst has concluded this case yet" in text and "disagree" not in text
    assert "Status open" in text


def test_regions_lead_with_a_plain_line_and_crops_show_the_box(store, tmp_path):
    from models.reading import region_line
    from models.types import Region

    case_id, _, _ = make_case(store, regions=2, questions=0)
    data = gather_report(store, case_id, now=NOW)
    item = data.items[0]
    region = item.regions[0]
    latest = region.latest
    assert region.line == region_line(Region(box=latest.box, score=latest.score, label=latest.label,
                                             explanation=latest.explanation, evidence=list(latest.evidence)))
    text = " ".join(page_texts(export_case_report(store, case_id, tmp_path / "r.pdf", "alice", now=NOW).path))
    assert f"Region 1: cue 1 {region.line}" in text
    assert text.index(region.line) < text.index("Measurements") < text.index("tile 1 is smoother")

    picture = PILImage.fromarray(item.image.rgb)
    outlined = outlined_crop(picture, region)
    plain = zoom_crop(picture, latest.box, out_side=outlined.width if outlined.width >= outlined.height
                      else outlined.height)
    assert outlined.size == plain.size and outlined.tobytes() != plain.tobytes()
    colour = score_colour(latest.score)
    assert (np.asarray(outlined) == colour).all(axis=2).sum() > outlined.width  # the outline is drawn


def test_who_drew_a_box_is_the_stores_fact_after_decisions(store, tmp_path):
    case_id, analysis_id, regions = make_case(store, regions=2, questions=0)
    drawn = store.add_region(analysis_id, "dave", Box(200, 150, 300, 230), label="hand", explanation="six fingers")
    store.edit_region(drawn.id, "erin", status="confirmed", note="six fingers on the left hand")
    store.edit_region(regions[0], "bob", status="confirmed")
    store.edit_region(regions[1], "bob", box=Box(30, 30, 90, 80))

    data = gather_report(store, case_id, now=NOW)
    analyst_box = next(v for v in data.items[0].regions if v.original.created_by == "dave")
    confirmed_tool_box, moved_tool_box = data.items[0].regions[0], data.items[0].regions[1]
    assert (analyst_box.drawn_by, analyst_box.drawn_style) == ("analyst", "analyst")
    assert (confirmed_tool_box.drawn_by, confirmed_tool_box.drawn_style) == ("model", "model")
    assert (moved_tool_box.drawn_by, moved_tool_box.drawn_style) == ("model", "analyst")  # moved: dashed blue
    assert [b.source for b in overlay_boxes(data.items[0].regions)].count("analyst") == 2
    counts = decision_counts(data.items[0])
    assert "of the tool's regions the analyst confirmed 1" in counts
    assert "the analyst drew 1 region of their own" in counts

    text = " ".join(page_texts(export_case_report(store, case_id, tmp_path / "a.pdf", "erin", now=NOW).path))
    hand = text[text.index("Region 3: hand"):]
    assert "Drawn by analyst dave" in hand and "Last changed by analyst erin" in hand
    assert "Analyst's explanation: six fingers" in hand
    first_region = text[text.index("Region 1: cue 1"):text.index("Region 2: cue 2")]
    assert "Drawn by the tool" in first_region and "Last changed by analyst bob" in first_region
    picture = PILImage.fromarray(data.items[0].image.rgb)
    def has(colour, crop) -> bool:
        return bool((np.asarray(crop) == colour).all(axis=2).any())

    assert has(ANALYST_COLOUR, outlined_crop(picture, analyst_box))  # dashed blue, as the legend says
    assert not has(ANALYST_COLOUR, outlined_crop(picture, confirmed_tool_box))


def test_the_appendix_holds_method_and_audit_tables(store, tmp_path):
    case_id, _, regions = make_case(store, regions=1, questions=0)
    store.edit_region(regions[0], "bob", status="rejected", note="a lens flare")

    texts = page_texts(export_case_report(store, case_id, tmp_path / "m.pdf", "bob", now=NOW).path)

    start = next(i for i, text in enumerate(texts) if "Technical appendix" in text)
    appendix = " ".join(texts[start:])
    for expected in ("Method for evidence item 1", "Parameters", "max regions 5", "Software versions",
                     "Time per stage (seconds)", "provenance 0.010", "What the detector recorded about itself",
                     "parameters.max regions 5", "Audit log", "Time Who What", "alice case-created",
                     "bob region-edited", "Words used in this report", "Limitations"):
        assert expected in appendix, expected
    assert '{"max_regions": 5}' not in appendix.split("Audit log")[0]  # parameters as a table, not raw JSON
    assert all("Technical appendix" not in text for text in texts[:start])


def test_no_documentation_pointers_or_install_paths_reach_the_reader(store, tmp_path):
    intake = store.open_case_with_evidence("Paths", png(), "alice", original_name="scene.png")
    run = store.start_analysis(intake.record.case_id, intake.record.id, ENGINE, "alice")
    result = detector_result(intake.record.sha256, 1, explanation="weak evidence (see docs/signal-model.md).")
    result.provenance = {"signal_model": {"sha256": "ab" * 32,
                                          "path": "/opt/zoomin/.venv/lib/site-packages/models/signal.npz"}}
    result.evidence[0].finding += " (see docs/c2pa.md)"
    store.finish_analysis(run.id, result)

    text = " ".join(page_texts(export_case_report(store, intake.record.case_id, tmp_path / "p.pdf", "alice",
                                                  now=NOW).path))
    for pointer in ("docs/", "site-packages", "/opt/zoomin"):
        assert pointer not in text, text[max(0, text.find(pointer) - 200):text.find(pointer) + 50]
    assert "signal.npz" in text and "weak evidence." in text


def test_the_pdf_creation_date_is_the_generation_time(store, tmp_path):
    case_id, _, _ = make_case(store, regions=1, questions=0)
    written = export_case_report(store, case_id, tmp_path / "d.pdf", "alice", now=NOW)
    metadata = PdfReader(written.path).metadata
    assert metadata.creation_date.astimezone(timezone.utc) == NOW
    assert metadata.modification_date.astimezone(timezone.utc) == NOW


def test_an_analyst_box_stays_the_analysts_in_the_report_after_a_rerun(store, tmp_path):
    from zoomin_ui import service
    from zoomin_ui.workbench import rerun_on_current_boxes

    image = tmp_path / "scene.png"
    image.write_bytes(png(seed=4))
    saved = service.analyze_and_save(store, service.open_detector("evidence"), str(image), "alice")
    store.add_region(saved.analysis_id, "dave", Box(200, 150, 300, 230), label="hand")
    rerun = rerun_on_current_boxes(store, service.open_detector("evidence"), saved.analysis_id, "erin")

    data = gather_report(store, saved.case_id, analysis_id=rerun.after.id, now=NOW)
    hand = next(view for view in data.items[0].regions if view.latest.label == "hand")
    assert (hand.drawn_by, hand.drawn_style) == ("analyst", "analyst")
    assert "the analyst drew 1 region of their own" in decision_counts(data.items[0])
    text = " ".join(page_texts(export_case_report(store, saved.case_id, tmp_path / "rerun.pdf", "erin",
                                                  analysis_id=rerun.after.id, now=NOW).path))
    assert "Drawn by analyst" in text[text.index(f"Region {hand.number}: hand"):]


def test_a_tool_that_could_not_tell_is_not_said_to_disagree(store, tmp_path):
    intake = store.open_case_with_evidence("Undecided", png(), "alice", original_name="scene.png")
    run = store.start_analysis(intake.record.case_id, intake.record.id, ENGINE, "alice")
    result = detector_result(intake.record.sha256, 1)
    result.verdict, result.evidence = "inconclusive", []
    store.finish_analysis(run.id, result)
    store.update_case(intake.record.case_id, "erin", final_verdict="real")

    first = page_texts(export_case_report(store, intake.record.case_id, tmp_path / "u.pdf", "erin", now=NOW).path)[0]
    assert "The tool could not tell; the conclusion Likely real is the analyst's own." in first
    assert "disagree" not in first and "Can't tell" in first


def test_an_analysis_recorded_before_readings_existed_is_read_now(store):
    from models.reading import read_analysis

    case_id, _, _ = make_case(store, regions=1, questions=0)
    recorded = store.get_case(case_id).analyses[0]
    assert "reading" not in recorded.raw_output  # the test detector attaches none, as older versions did
    assert recorded.reading == read_analysis(recorded.model_output())

    intake = store.open_case_with_evidence("Read at analysis time", png(seed=8), "alice")
    run = store.start_analysis(intake.record.case_id, intake.record.id, ENGINE, "alice")
    result = detector_result(intake.record.sha256, 1)
    result.reading = dataclasses.replace(read_analysis(result), headline="As recorded.")
    store.finish_analysis(run.id, result)
    assert store.get_case(intake.record.case_id).analyses[0].reading.headline == "As recorded."
