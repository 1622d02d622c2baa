"""The PDF forensic report, end to end: cases built through the service API on
a real SQLite store with images made here, exported, then read back with
pypdf (text) and poppler's pdftoppm (rendering)."""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from PIL import PngImagePlugin
from pypdf import PdfReader

from exports import ReportError, export_case_report
from models.sample_images import camera_like_photo, encode
from models.types import Analysis, Box, Evidence, Region
from storage import BackendInfo, CaseStore
from tests.storage_backends import store_environment  # noqa: F401  (autouse fixture)
from zoomin_ui import service
from zoomin_ui.cli import main
from zoomin_ui.reports import export_report

ENGINE = BackendInfo("evidence", "test-1.0", model_revision="weights-sha-0123")
INJECTIONS = ('<font size=40 color=red>BIG</font>', '<img src="/etc/passwd"/>', '<b>unbalanced',
              '<a href="javascript:alert(1)">link</a>', '&amp; &lt;', 'bell\x07here')
NOTE = "Заключение: подделка — Ελληνικά σημειώσεις, café naïve"
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path):
    with CaseStore.open(tmp_path / "home") as opened:
        yield opened


def png(seed: int = 3, width: int = 320, height: int = 240) -> bytes:
    return encode(camera_like_photo(height, width, seed=seed), "PNG")


def provenance_evidence() -> list[Evidence]:
    c2pa = {"present": True, "readable": True, "validation_state": "Valid", "integrity_ok": True,
            "failure_codes": ["signingCredential.untrusted"], "trust_status": "untrusted",
            "signer": "Example Imaging Ltd", "signing_time": "2026-02-01T10:00:00Z", "claim_generator": "GenTool/2",
            "actions": [{"action": "c2pa.created", "digital_source_type":
                         "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
                         "software_agent": "GenTool 2", "description": None}],
            "digital_source_types": ["http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"],
            "ingredient_count": 0}
    return [
        Evidence("provenance", "c2pa", "Valid Content Credentials signed by Example Imaging Ltd declare this image "
                 "AI-generated.", supports="ai-generated", strength=0.92, decisive=True, details=c2pa),
        Evidence("metadata", "text:parameters", "PNG text chunk written by AUTOMATIC1111.", supports="ai-generated",
                 strength=0.95, decisive=True, details={"generator": "AUTOMATIC1111", "model": "v1-5-pruned"}),
        Evidence("watermark", "invisible-watermark", "No known Stable Diffusion invisible watermark found.",
                 details={"checked": True}),
        Evidence("metadata", "exif:camera", "EXIF camera metadata: Nikon D750.", supports="real", strength=0.2,
                 details={"make": "NIKON CORPORATION", "model": "NIKON D750", "gps": False, "iso": 200}),
    ]


def detector_result(sha256: str, regions: int, explanation: str = "Decided by Content Credentials.") -> Analysis:
    found = [Region(box=Box(20 + 40 * i, 20 + 30 * i, 70 + 40 * i, 60 + 30 * i), score=0.55 + 0.08 * i,
                    label=f"cue {i + 1}", explanation=f"tile {i + 1} is smoother than the rest", id=f"r{i + 1}",
                    evidence=[Evidence("signal", "smoother", f"noise {i + 1} is low", supports="ai-generated",
                                       strength=0.6)])
             for i in range(regions)]
    return Analysis(file="scene.png", sha256=sha256, size_bytes=1, format="PNG", width=320, height=240,
                    verdict="ai-generated", score=0.93, regions=found, evidence=provenance_evidence(),
                    explanation=explanation, backend="evidence", backend_version="test-1.0",
                    timings={"provenance": 0.01, "metadata": 0.0, "watermark": 0.01, "total": 0.05},
                    provenance={"signal_model": {"sha256": "ab" * 32}, "parameters": {"max_regions": 5}})


def make_case(store: CaseStore, regions: int = 3, questions: int = 2, explanation: str = "Decided by Content "
              "Credentials.", title: str = "Harbour fire") -> tuple[int, int, list[int]]:
    """A case with one analysed file, regions and questions; returns (case id, analysis id, region ids)."""
    intake = store.open_case_with_evidence(title, png(), "alice", original_name="scene.png")
    run = store.start_analysis(intake.record.case_id, intake.record.id, ENGINE, "alice", {"max_regions": 5})
    done = store.finish_analysis(run.id, detector_result(intake.record.sha256, regions, explanation))
    region_ids = [r.id for r in done.regions]
    for number in range(questions):
        store.add_question(region_ids[number % len(region_ids)], "bob", f"question {number + 1}: seam visible?",
                           f"answer {number + 1}: the noise is 2x lower", "evidence")
    return intake.record.case_id, run.id, region_ids


def text_of(path) -> str:
    reader = PdfReader(path)
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def test_report_holds_every_section_hash_region_question_and_override(store, tmp_path):
    case_id, analysis_id, regions = make_case(store, regions=4)
    store.edit_region(regions[0], "bob", status="confirmed")
    store.edit_region(regions[1], "carol", status="rejected", explanation="a lens flare, not a seam")
    store.delete_region(regions[2], "carol", reason="duplicate of region 1")
    store.edit_region(regions[3], "carol", status="not-relevant", note="sensor dust, outside the subject")
    store.add_region(analysis_id, "dave", Box(200, 150, 300, 230), label="hand", explanation="six fingers")
    store.update_case(case_id, "erin", final_verdict="real", final_note=NOTE)

    written = export_case_report(store, case_id, tmp_path / "case.pdf", "erin", now=NOW)

    text = text_of(written.path)
    evidence = store.get_case(case_id).evidence_files[0]
    for expected in ("Forensic image report", "The analyst's conclusion", "Evidence item 1: scene.png",
                     "Provenance and metadata of evidence item 1", "Method for evidence item 1", "Audit log",
                     "Limitations", evidence.sha256, f"{evidence.size_bytes:,} bytes", "320 x 240",
                     "Likely real (concluded by erin", NOTE, "The analyst and the tool disagree",
                     "The tool's reading AI-generated", "Region 1: cue 1", "Region 2: cue 2",
                     "Region 3: cue 3 (deleted)", "Region 5: hand",
                     "judged not relevant). Analyst's note: sensor dust, outside the subject",
                     "the analyst confirmed 1, judged 1 authentic, judged 1 not relevant, deleted 1",
                     "the analyst drew 1 region of their own", "question 1: seam visible?",
                     "answer 1: the noise is 2x lower", "question 2: seam visible?", "status open -> confirmed",
                     "confirmed as an AI artefact", "carol: status open -> rejected", "a lens flare, not a seam",
                     "Analyst's note: duplicate of region 1", "Added by analyst dave", "Example Imaging Ltd",
                     "trainedAlgorithmicMedia", "AUTOMATIC1111", "No known Stable Diffusion invisible watermark",
                     "NIKON D750", "weights-sha-0123", "not a substitute for", "Page 1 of", "ZoomIn Workbench",
                     "Generated 2026-03-01 12:00:00 UTC", "Case " + str(case_id) + ": Harbour fire"):
        assert expected in text, expected
    assert f"Page {written.pages} of {written.pages}" in text
    assert len(PdfReader(written.path).pages) == written.pages

    data = written.path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == written.sha256 and written.size_bytes == len(data)
    reports = store.get_case(case_id).reports
    assert [(r.sha256, r.file_name, r.analysis_id, r.created_by) for r in reports] == [
        (written.sha256, "case.pdf", analysis_id, "erin")]
    assert store.stored_path(written.sha256).read_bytes() == data
    assert sorted(os.listdir(tmp_path)) == ["case.pdf", "home"]  # no staging folder left behind


def test_model_and_analyst_text_cannot_inject_markup(store, tmp_path):
    hostile = " ".join(INJECTIONS)
    case_id, _, regions = make_case(store, regions=1, questions=0, explanation=hostile, title=f"T {INJECTIONS[0]}")
    store.add_question(regions[0], "bob", hostile, hostile, "evidence")
    store.edit_region(regions[0], "bob", label=INJECTIONS[2], explanation=hostile)
    store.update_case(case_id, "bob", final_verdict="ai-generated", final_note=hostile)

    written = export_case_report(store, case_id, tmp_path / "hostile.pdf", "bob", now=NOW)

    text = text_of(written.path)
    shown = hostile.replace("\x07", "[U+0007]")
    assert text.count(shown) >= 5  # note, explanation, question, answer, new explanation
    assert "T <font size=40 color=red>BIG</font>" in text  # the page header draws the title as given
    assert "Region 1: <b>unbalanced" in text
    assert "\x07" not in text


def test_real_engine_analysis_reports_generator_metadata(store, tmp_path):
    infotext = PngImagePlugin.PngInfo()
    infotext.add_text("parameters", "a harbour at night\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, "
                      "Size: 320x240, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly")
    image = tmp_path / "generated.png"
    image.write_bytes(encode(camera_like_photo(240, 320, seed=9), "PNG", pnginfo=infotext))
    saved = service.analyze_and_save(store, service.open_detector("evidence"), str(image), "alice")

    written = export_case_report(store, saved.case_id, tmp_path / "engine.pdf", "alice", now=NOW)

    text = text_of(written.path)
    assert "v1-5-pruned-emaonly" in text and "AUTOMATIC1111" in text
    assert "Content Credentials (C2PA) None found" in text
    assert "No analyst has concluded this case yet" in text
    assert hashlib.sha256(image.read_bytes()).hexdigest() in text


def test_a_tampered_evidence_file_stops_the_export(store, tmp_path):
    case_id, _, _ = make_case(store)
    stored = store.stored_path(store.get_case(case_id).evidence_files[0].sha256)
    stored.chmod(0o644)
    stored.write_bytes(stored.read_bytes() + b"altered")

    with pytest.raises(ReportError) as stopped:
        export_case_report(store, case_id, tmp_path / "case.pdf", "alice")

    assert stopped.value.code == "hash-mismatch" and "SHA-256" in str(stopped.value)
    assert sorted(os.listdir(tmp_path)) == ["home"]
    assert store.get_case(case_id).reports == ()


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils (pdftoppm) is not installed")
def test_every_page_renders_to_png(store, tmp_path):
    case_id, _, _ = make_case(store, regions=5, questions=3)
    written = export_case_report(store, case_id, tmp_path / "case.pdf", "alice")

    subprocess.run(["pdftoppm", "-r", "30", "-png", str(written.path), str(tmp_path / "page")], check=True,
                   capture_output=True, timeout=60)

    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == written.pages >= 5
    from PIL import Image
    for page in pages:
        with Image.open(page) as rendered:
            assert rendered.size[0] > 200 and rendered.getextrema() != ((255, 255),) * 3  # not blank


def test_exporting_an_unchanged_case_twice_differs_only_in_the_generated_time(store, tmp_path):
    case_id, _, regions = make_case(store)
    store.edit_region(regions[0], "bob", status="confirmed")

    first = export_case_report(store, case_id, tmp_path / "a.pdf", "alice", now=NOW)
    again = export_case_report(store, case_id, tmp_path / "b.pdf", "alice", now=NOW)
    later = export_case_report(store, case_id, tmp_path / "c.pdf", "alice", now=NOW + timedelta(hours=5))

    # The file name is not inside the PDF: same case, same time, same bytes.
    assert first.path.read_bytes() == again.path.read_bytes() and first.sha256 == again.sha256
    assert later.sha256 != first.sha256
    mask = re.compile(r"Generated \S+ \S+ UTC \(local \S+ \S+ UTC[^)]*\)")
    masked = [mask.sub("Generated <time>", text_of(r.path)) for r in (first, later)]
    # Each page's footer, and the first page's line saying who made the report and when.
    assert masked[0] == masked[1] and masked[0].count("Generated <time>") == first.pages + 1
    assert len(store.get_case(case_id).reports) == 3


def test_long_unbroken_strings_wrap_inside_the_page(store, tmp_path):
    long_word = "x" * 4000
    case_id, _, _ = make_case(store, regions=1, questions=0, explanation=long_word)
    written = export_case_report(store, case_id, tmp_path / "long.pdf", "alice", now=NOW)

    reader = PdfReader(written.path)
    page_width = float(reader.pages[0].mediabox.width)
    runs = re.findall(r"x{5,}", " ".join(page.extract_text() for page in reader.pages))
    assert sum(len(run) for run in runs) == 4000 and len(runs) > 10  # all of it shown, on many lines
    assert max(len(run) for run in runs) * 5 < page_width  # each line fits the page (x is > 5 pt wide)


def test_analysis_choice_and_bad_requests(store, tmp_path):
    case_id, first_id, _ = make_case(store, regions=1, questions=0)
    evidence_id = store.get_case(case_id).evidence_files[0].id
    rerun = store.start_analysis(case_id, evidence_id, ENGINE, "alice")
    store.fail_analysis(rerun.id, "out of memory")

    chosen = export_case_report(store, case_id, tmp_path / "chosen.pdf", "alice", analysis_id=first_id)
    assert chosen.record.analysis_id == first_id
    for kwargs, code in (({"analysis_id": rerun.id}, "no-analysis"), ({"analysis_id": 999}, "not-found")):
        with pytest.raises(ReportError) as refused:
            export_case_report(store, case_id, tmp_path / "x.pdf", "alice", **kwargs)
        assert refused.value.code == code
    with pytest.raises(ReportError) as missing:
        export_case_report(store, 4242, tmp_path / "x.pdf", "alice")
    assert missing.value.code == "not-found"
    for destination in (tmp_path, tmp_path / "no-such-folder" / "x.pdf"):
        with pytest.raises(ReportError) as unwritable:
            export_case_report(store, case_id, destination, "alice")
        assert unwritable.value.code == "destination"
    with pytest.raises(ReportError) as unsigned:
        export_case_report(store, case_id, tmp_path / "x.pdf", "  ")
    assert unsigned.value.code == "invalid"
    with pytest.raises(service.WorkbenchError) as mapped:
        export_report(store, 4242, tmp_path / "x.pdf", "alice")
    assert mapped.value.code == "not-found"
    assert not (tmp_path / "x.pdf").exists() and len(store.get_case(case_id).reports) == 1


def test_cli_writes_the_report_and_prints_its_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOOMIN_HOME", str(tmp_path / "home"))
    with CaseStore.open() as opened:
        case_id, _, _ = make_case(opened, regions=2, questions=1)
    listed = CliRunner().invoke(main, ["cases", "list", "--json"])
    assert f'"id": {case_id}' in listed.output

    result = CliRunner().invoke(main, ["report", str(case_id), "-o", str(tmp_path / "out.pdf"), "--analyst", "zoe"])

    assert result.exit_code == 0, result.output
    digest = hashlib.sha256((tmp_path / "out.pdf").read_bytes()).hexdigest()
    assert digest in result.output and "out.pdf" in result.output
    assert "Harbour fire" in text_of(io.BytesIO((tmp_path / "out.pdf").read_bytes()))
    failed = CliRunner().invoke(main, ["report", "999", "-o", str(tmp_path / "none.pdf")])
    assert failed.exit_code == 1 and failed.output.strip() == "Error: no case 999"
