"""The workbench page's handlers called directly (no browser), against a real
SQLite case store in a temporary folder, plus the app's launch checks."""

from __future__ import annotations

import gradio as gr
import pytest
from click.testing import CliRunner
from PIL import Image

from models.evidence.engine import EvidenceEngine
from models.sample_images import camera_like_photo, encode, paste_resampled_patch
from models.types import Analysis, Box, Region
from storage import BackendInfo
from zoomin_ui.service import open_store
from zoomin_ui.web import launch, security
from zoomin_ui.web.detectors import BackendConfig, Detectors
from zoomin_ui.web.handlers import Handlers
from zoomin_ui.web.layout import build_app
from zoomin_ui.web.screen import ViewState
from zoomin_ui.web.zoom import zoom_region

XSS = "<img src=x onerror=alert(1)>"
CONTRACT_IDS = {
    "analyst-name", "upload", "file-info", "backend-choice", "analyse-btn", "image-view", "regions-table",
    "zoom-panel", "zoom-crop", "zoom-maps", "region-explanation", "question-box", "ask-btn", "answer-view",
    "override-choice", "override-note", "override-btn", "box-editor", "save-boxes-btn", "rerun-btn",
    "compare-view", "final-verdict", "final-note", "save-verdict-btn", "export-pdf-btn", "pdf-file",
    "bundle-export-btn", "bundle-file", "bundle-import", "case-search", "case-list", "open-case-btn",
    "provenance-panel", "status-message", "verdict-view"}


@pytest.fixture(scope="module")
def detectors():
    shared = Detectors(BackendConfig.from_env(env={}))
    shared._made["evidence"] = EvidenceEngine()  # one engine for the module: its per-image cache is shared
    return shared


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


@pytest.fixture
def handlers(home, detectors):
    with open_store(str(home)) as store:
        yield Handlers(store, detectors)


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "composite.png"
    path.write_bytes(encode(paste_resampled_patch(camera_like_photo(768, 1024, seed=7), Box(560, 180, 816, 436)),
                            "PNG"))
    return path


def analysed(handlers, photo):
    uploaded = handlers.upload([str(photo)], "alice", ViewState())
    *_, done = handlers.analyse(None, "evidence", "alice", uploaded.state)
    return done


def click(state, x, y):
    """A click at image pixel (x, y), as gr.Image.select reports it (display pixels)."""
    return gr.SelectData(None, {"index": [x * state.scale, y * state.scale], "value": None})


def row(values):
    return gr.SelectData(None, {"index": [0, 0], "value": values[0], "row_value": values})


def test_upload_shows_hash_size_and_format_at_once(handlers, photo, tmp_path):
    second = tmp_path / "small.jpg"
    second.write_bytes(encode(camera_like_photo(300, 400, seed=1), "JPEG"))
    shown = handlers.upload([str(photo), str(second)], "alice", ViewState())
    assert shown.status.startswith("2 evidence item(s) taken in as case 1")
    assert "composite.png: PNG, 1024x768" in shown.file_info and "small.jpg: JPEG, 400x300" in shown.file_info
    assert shown.file_info.count("SHA-256 ") == 2
    assert [value for _, value in shown.evidence_choice["choices"]] == [1, 2]
    assert shown.state.case_id == 1 and shown.image is not None and shown.regions == []
    switched = handlers.choose_evidence(2, shown.state)
    assert switched.state.evidence_file_id == 2 and switched.image.size == (400, 300)


def test_uploads_can_join_the_open_case(handlers, photo, tmp_path):
    later = tmp_path / "later.jpg"
    later.write_bytes(encode(camera_like_photo(300, 400, seed=2), "JPEG"))
    refused = handlers.upload([str(later)], "alice", ViewState(), True)
    assert refused.status.startswith("Error: no case is open") and handlers.store.list_cases().total == 0
    opened = handlers.upload([str(photo)], "alice", ViewState())
    joined = handlers.upload([str(later)], "bob", opened.state, True)
    assert joined.status.startswith("1 evidence item(s) added to case 1")
    assert joined.state.case_id == 1 and joined.state.evidence_file_id == 2, "the new file is the one shown"
    assert [f.original_name for f in handlers.store.get_case(1).evidence_files] == ["composite.png", "later.jpg"]
    separate = handlers.upload([str(later)], "bob", joined.state, False)
    assert separate.state.case_id == 2 and handlers.store.list_cases().total == 2


def test_errors_are_one_readable_line_and_change_nothing(handlers, photo, tmp_path):
    assert handlers.upload([str(photo)], "  ", ViewState()).status.startswith("Error: enter your name")
    text = tmp_path / "notes.png"
    text.write_text("just words")
    failed = handlers.upload([str(text)], "alice", ViewState())
    assert failed.status.startswith("Error: ") and "Traceback" not in failed.status
    assert all(value == gr.skip() for name, value in failed._asdict().items() if name != "status")
    assert handlers.store.list_cases().total == 0
    assert handlers.rerun("evidence", "alice", ViewState()).status == "Error: analyse the image first"
    assert "not configured" in handlers.rerun("vlm", "alice", ViewState(analysis_id=1)).status


def test_analysis_shows_the_scan_boxes_before_the_verdict(handlers, photo):
    uploaded = handlers.upload([str(photo)], "alice", ViewState())
    steps = []
    first, final = list(handlers.analyse(None, "evidence", "alice", uploaded.state,
                                         progress=lambda value, desc=None: steps.append(desc)))
    assert [s.split(":")[0] for s in steps[1:3]] == ["stage 1", "stage 2"]
    region_steps = [s for s in steps if "examined" in s]
    assert region_steps == [f"stage 2: region {n} of {len(first.regions)} examined"
                            for n in range(1, len(first.regions) + 1)], "one progress step per region"
    assert first.regions and all(r[3] == "examining…" for r in first.regions) and first.image is not None
    assert first.verdict == gr.skip()
    assert final.verdict.startswith("Verdict: ") and final.regions[0][3] == "open"
    assert final.state.analysis_id and len(final.state.boxes) == len(final.regions)
    assert final.editor["boxes"][0]["label"] == "1"


def test_a_click_inside_a_box_opens_the_zoom_panel_smallest_box_winning(handlers, photo):
    done = analysed(handlers, photo)
    region_id, box = done.state.boxes[0]
    handlers.store.add_region(done.state.analysis_id, "alice", Box(box.x1 + 10, box.y1 + 10, box.x1 + 60, box.y1 + 60))
    state = handlers.open_case("", done.state).state
    nested_id = state.boxes[-1][0]
    zoomed = handlers.click_image(state, click(state, box.x1 + 30, box.y1 + 30))
    assert zoomed.zoom_panel["visible"] is True and zoomed.state.region_id == nested_id
    assert zoomed.zoom_maps == []  # the panel opens first
    shown = Image.open(zoomed.zoom_crop)
    expected = zoom_region(handlers.store, state.analysis_id, nested_id, with_maps=False).crop
    assert shown.format == "PNG" and max(shown.size) == 512
    assert shown.convert("RGB").tobytes() == expected.tobytes(), "the crop is shown losslessly"
    maps = handlers.show_maps(zoomed.state).zoom_maps  # then the crop's signal maps follow
    assert [caption.split(" ")[0] for _, caption in maps] == ["error", "noise", "residual"]
    outer = handlers.click_image(state, click(state, box.x2 - 5, box.y2 - 5))
    assert outer.state.region_id == region_id and "Region 1 " in outer.region_text
    missed = handlers.click_image(state, click(state, 2, 2))
    assert missed.status.startswith("No box at") and missed.zoom_panel == gr.skip()


def test_a_row_of_the_table_opens_the_same_zoom(handlers, photo):
    done = analysed(handlers, photo)
    zoomed = handlers.pick_region(done.state, row(done.regions[0]))
    assert zoomed.state.region_id == done.state.boxes[0][0] and zoomed.zoom_panel["visible"] is True


def test_a_question_is_answered_in_the_panel_and_saved(handlers, photo):
    done = analysed(handlers, photo)
    zoomed = handlers.pick_region(done.state, row(done.regions[0]))
    answered = handlers.ask("what stands out here?", "evidence", "alice", zoomed.state)
    assert answered.answer and answered.answer != gr.skip() and "Q (alice): what stands out here?" in answered.region_text
    questions = [q for r in handlers.store.get_analysis(done.state.analysis_id).regions for q in r.questions]
    assert [(q.question, q.asked_by) for q in questions] == [("what stands out here?", "alice")]


def test_an_override_updates_the_table_and_the_audit_log(handlers, photo):
    done = analysed(handlers, photo)
    zoomed = handlers.pick_region(done.state, row(done.regions[0]))
    marked = handlers.override("authentic", "a real reflection", "bob", zoomed.state)
    assert marked.regions[0][3] == "authentic" and marked.zoom_panel["visible"] is True
    assert "Analyst decision: authentic: a real reflection" in marked.region_text
    history = handlers.store.get_case(done.state.case_id).history
    assert ("bob", "region-edited") in [(e.actor, e.action) for e in history]
    assert handlers.override(None, "", "bob", marked.state).status.startswith("Error: choose")


def test_added_box_is_saved_and_the_rerun_compares_old_and_new(handlers, photo):
    done = analysed(handlers, photo)
    value = dict(done.editor)
    value["boxes"] = [*done.editor["boxes"], {"xmin": 20, "ymin": 20, "xmax": 220, "ymax": 180, "label": ""}]
    saved = handlers.save_boxes(value, "carol", done.state)
    assert saved.status == "Boxes saved: 1 added" and saved.regions[-1][1:] == ["analyst box", 0.0, "open", "analyst"]
    rerun = handlers.rerun("evidence", "carol", saved.state)
    before, after = rerun.compare[0][1:]
    assert rerun.state.analysis_id == after != before == done.state.analysis_id
    assert rerun.compare[3] == ["boxes examined", len(done.regions) + 1, len(done.regions) + 1]


def test_final_verdict_pdf_and_bundle(handlers, photo, home):
    done = analysed(handlers, photo)
    saved = handlers.save_verdict("ai-generated", "upscaled patch", "dana", done.state)
    assert "final verdict ai-generated" in saved.status and saved.cases[0][2] == "ai-generated"
    pdf = handlers.export_pdf("dana", done.state)
    assert pdf.pdf_file.endswith(".pdf") and pdf.pdf_file.startswith(str(home))
    bundle = handlers.export_bundle("dana", done.state)
    assert bundle.bundle_file.endswith(".zip") and bundle.bundle_file.startswith(str(home))
    assert "already here" in handlers.import_bundle(bundle.bundle_file, "dana", done.state).status


def test_a_case_is_found_again_after_a_restart(home, detectors, photo):
    with open_store(str(home)) as store:
        done = analysed(Handlers(store, detectors), photo)
    with open_store(str(home)) as reopened:
        again = Handlers(reopened, detectors)
        listed = again.search("composite").cases
        assert [r[0] for r in listed] == [done.state.case_id]
        sha = reopened.get_case(done.state.case_id).evidence_files[0].sha256
        assert listed[0][-1] == sha[:12], "the hash prefix is shown, not only searchable"
        assert [r[0] for r in again.search(sha[:10]).cases] == [done.state.case_id]
        opened = again.pick_case(ViewState(), row(listed[0]))
        assert opened.state.analysis_id == done.state.analysis_id and opened.regions == done.regions
        assert "composite.png: PNG, 1024x768" in opened.file_info


def test_model_and_analyst_text_is_shown_as_text_not_html(handlers, photo, home, detectors):
    intake = handlers.upload([str(photo)], "alice", ViewState())
    store = handlers.store
    run = store.start_analysis(1, 1, BackendInfo("remote"), "alice")
    sha = store.get_evidence_file(1).sha256
    result = Analysis(file="composite.png", sha256=sha, size_bytes=1, format="PNG", width=1024, height=768,
                      verdict="ai-generated", score=0.9, evidence=[], backend="remote", backend_version="1",
                      explanation=XSS, regions=[Region(Box(100, 100, 300, 300), 0.9, XSS, explanation=XSS, id="r1")])
    store.finish_analysis(run.id, result)
    opened = handlers.open_case("", intake.state)
    assert opened.regions[0][1] == XSS and XSS in opened.verdict
    zoomed = handlers.pick_region(opened.state, row(opened.regions[0]))
    assert zoomed.region_text.count(XSS) == 2  # label and explanation, verbatim
    demo = build_app(home, backends=BackendConfig.from_env(env={}), store=store)
    by_id = {b.elem_id: b for b in demo.blocks.values() if getattr(b, "elem_id", None)}
    assert isinstance(by_id["region-explanation"], gr.Textbox) and isinstance(by_id["verdict-view"], gr.Textbox)
    assert not {"html", "markdown"} & set(by_id["regions-table"].datatype)
    assert not any(isinstance(b, gr.HTML) for b in demo.blocks.values())
    cells = by_id["regions-table"].postprocess(opened.regions).data
    assert cells[0][1] == XSS


def test_the_page_keeps_the_element_id_contract_and_queues_detector_work(home):
    backends = BackendConfig.from_env(env={"ZOOMIN_REMOTE_BASE_URL": "http://127.0.0.1:9/v1"})
    demo = build_app(home, backends=backends)
    ids = {b.elem_id for b in demo.blocks.values() if getattr(b, "elem_id", None)}
    assert CONTRACT_IDS <= ids
    by_name = {fn.name: fn for fn in demo.fns.values()}
    # Each backend does one request at a time in a queue of its own: a busy model never holds up the engine.
    for backend in ("evidence", "remote"):
        work = [by_name[f"{action}_{backend}"] for action in ("analyse", "ask", "rerun")]
        assert {fn.concurrency_id for fn in work} == {f"detector-{backend}"}
        assert all(fn.concurrency_limit == 1 for fn in work)
    assert by_name["analyse_evidence"].concurrency_id != by_name["analyse_remote"].concurrency_id
    demo.zoomin_store.close()


def test_detector_work_runs_for_the_backend_it_was_queued_for():
    from zoomin_ui.web.queues import _for_backend

    seen = []

    def analyse(evidence, backend, analyst, progress=None):
        seen.append((evidence, backend, analyst, progress))
        yield "stage 1"
        yield "done"

    def ask(question, backend):
        return f"{question} via {backend}"

    streamed = _for_backend(analyse, "remote", 1)
    assert list(streamed(7, "evidence", "ann", progress="bar")) == ["stage 1", "done"]
    assert seen == [(7, "remote", "ann", "bar")]
    assert _for_backend(ask, "vlm", 1)("why?", "evidence") == "why? via vlm"


def test_public_host_without_auth_refuses_to_start(monkeypatch, tmp_path):
    monkeypatch.delenv(security.AUTH_ENV, raising=False)
    result = CliRunner().invoke(launch.serve, ["--host", "0.0.0.0", "--data-dir", str(tmp_path)])
    assert result.exit_code != 0 and "refusing to serve on 0.0.0.0 without a login" in result.output
    assert list(tmp_path.iterdir()) == [] and "Traceback" not in result.output  # nothing was opened
    assert security.is_loopback("127.0.0.1") and security.is_loopback("::1") and security.is_loopback("localhost")
    assert not security.is_loopback("0.0.0.0") and not security.is_loopback("example.org")
    with pytest.raises(security.LaunchRefused):
        security.parse_auth("nopassword")
    assert security.resolve_auth(None, {security.AUTH_ENV: "ann:se:cret"}) == ("ann", "se:cret")


def test_an_unconfigured_default_backend_refuses_to_start(monkeypatch, tmp_path):
    monkeypatch.delenv("ZOOMIN_VLM_MODEL", raising=False)
    result = CliRunner().invoke(launch.serve, ["--backend", "vlm", "--data-dir", str(tmp_path)])
    assert result.exit_code != 0 and "the vlm backend is not configured" in result.output
    assert launch.backend_options("m", "4bit", None, None) == {"vlm": {"model": "m", "quant": "4bit"}}
    assert launch.backend_options("m", None, None, "http://h/v1") == {"remote": {"base_url": "http://h/v1",
                                                                                 "model": "m"}}


def test_launch_is_loopback_with_history_off_and_files_from_the_data_folder(monkeypatch, tmp_path):
    seen = {}

    def fake_launch(self, **kwargs):
        seen.update(kwargs)
        return None, "http://127.0.0.1:7999/", None

    monkeypatch.setattr(gr.Blocks, "launch", fake_launch)
    monkeypatch.setattr(gr.Blocks, "block_thread", lambda self: None)
    monkeypatch.setenv(security.AUTH_ENV, "ann:secret")
    result = CliRunner().invoke(launch.serve, ["--host", "0.0.0.0", "--port", "7999", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Running on http://127.0.0.1:7999" in result.output
    assert seen["auth"] == ("ann", "secret") and seen["server_name"] == "0.0.0.0"
    assert seen["run_history"] is False and seen["allowed_paths"] == [str(tmp_path)]
    assert seen["max_file_size"] == security.MAX_UPLOAD
