"""Work ahead of an analysis: the evidence engine measures an upload while
the analyst reads its intake (Detector.prepare), records nothing doing so,
and measures each image once however many callers ask at the same time."""

from __future__ import annotations

import threading
import time

import pytest

from models.evidence.engine import EvidenceEngine
from models.image_input import load_image
from models.sample_images import camera_like_photo, encode
from zoomin_ui.service import open_store
from zoomin_ui.web.detectors import BackendConfig, Detectors
from zoomin_ui.web.handlers import Handlers
from zoomin_ui.web.screen import ViewState


@pytest.fixture(scope="module")
def engine():
    return EvidenceEngine()


def _image(seed: int):
    return load_image(encode(camera_like_photo(320, 240, seed=seed), "JPEG"), name=f"photo-{seed}.jpg")


def _counting(engine, monkeypatch, fail_first: bool = False):
    """Count (and slow down) the engine's real measurements."""
    calls = []
    real = engine._measure_now

    def measure_now(image):
        calls.append(image.sha256)
        time.sleep(0.2)  # long enough for the second caller to arrive while the first measures
        if fail_first and len(calls) == 1:
            raise RuntimeError("the first measurement failed")
        return real(image)

    monkeypatch.setattr(engine, "_measure_now", measure_now)
    return calls


def test_callers_at_the_same_time_share_one_measurement(engine, monkeypatch):
    calls = _counting(engine, monkeypatch)
    image = _image(1)
    results = []
    threads = [threading.Thread(target=lambda: results.append(engine._measure(image))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [image.sha256]
    assert len(results) == 3 and all(result is results[0] for result in results)


def test_a_failed_measurement_leaves_the_waiting_caller_to_measure(engine, monkeypatch):
    calls = _counting(engine, monkeypatch, fail_first=True)
    image = _image(2)
    errors, results = [], []

    def first():
        try:
            engine._measure(image)
        except RuntimeError as exc:
            errors.append(exc)

    starter = threading.Thread(target=first)
    starter.start()
    time.sleep(0.05)
    results.append(engine._measure(image))
    starter.join()
    assert len(errors) == 1 and len(calls) == 2 and results[0] is not None


def test_a_prepared_analysis_equals_an_unprepared_one(engine):
    image = _image(3)
    fresh = EvidenceEngine().analyze(image)
    engine.prepare(image)
    prepared = engine.analyze(image)
    assert (prepared.verdict, prepared.score) == (fresh.verdict, fresh.score)
    assert [r.box for r in prepared.regions] == [r.box for r in fresh.regions]


def test_an_upload_is_measured_ahead_without_recording_anything(tmp_path, engine):
    detectors = Detectors(BackendConfig.from_env(env={}))
    photo = tmp_path / "upload.jpg"
    photo.write_bytes(encode(camera_like_photo(320, 240, seed=4), "JPEG"))
    with open_store(str(tmp_path / "home")) as store:
        handlers = Handlers(store, detectors)
        # Not open yet: an upload never loads a backend just to prepare.
        handlers.upload([str(photo)], "alice", ViewState(), False, "evidence")
        assert detectors.opened("evidence") is None
        detectors._made["evidence"] = engine
        state = handlers.upload([str(photo)], "alice", ViewState(), False, "evidence")
        sha = store.get_evidence_file(state.evidence_file_id).sha256
        deadline = time.monotonic() + 30
        while sha not in engine._cache and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sha in engine._cache, "the upload was measured ahead"
        detail = store.get_case(state.case_id)
        assert not detail.analyses, "preparing records no analysis"


def test_an_upload_is_decoded_once_for_the_notice_and_the_intake(tmp_path, monkeypatch):
    """The seen-before check and the intake share one decode of the upload."""
    from zoomin_ui import workbench
    from zoomin_ui.web import handlers as page_handlers

    photo = tmp_path / "upload.jpg"
    photo.write_bytes(encode(camera_like_photo(320, 240, seed=5), "JPEG"))
    decodes = []

    def counting(load):
        def load_image(*args, **kwargs):
            decodes.append(kwargs.get("name"))
            return load(*args, **kwargs)
        return load_image

    monkeypatch.setattr(page_handlers, "load_image", counting(page_handlers.load_image))
    monkeypatch.setattr(workbench, "load_image", counting(workbench.load_image))
    with open_store(str(tmp_path / "home")) as store:
        state = Handlers(store, Detectors(BackendConfig.from_env(env={}))).upload([str(photo)], "alice", ViewState())
        assert store.get_evidence_file(state.evidence_file_id).original_name == "upload.jpg"
    assert decodes == ["upload.jpg"]


def test_an_upload_is_measured_from_its_decode_on_beside_the_intake(tmp_path, engine, monkeypatch):
    """The measurement starts once the upload is decoded, before the seen-before lookup and
    the intake store it, so the three overlap; it is of the very picture the case keeps."""
    from zoomin_ui import memory, runs, workbench
    from zoomin_ui.web import handlers as page_handlers

    order = []

    def spy(module, name, label):
        real = getattr(module, name)

        def called(*args, **kwargs):
            order.append((label, args))
            return real(*args, **kwargs)
        monkeypatch.setattr(module, name, called)

    spy(runs, "prepare_upload_in_background", "prepare")
    spy(memory, "seen_before_lines", "lookup")
    spy(workbench, "take_in", "store")
    detectors = Detectors(BackendConfig.from_env(env={}))
    detectors._made["evidence"] = engine
    photo = tmp_path / "upload.jpg"
    photo.write_bytes(encode(camera_like_photo(320, 240, seed=6), "JPEG"))
    with open_store(str(tmp_path / "home")) as store:
        state = page_handlers.Handlers(store, detectors).upload([str(photo)], "alice", ViewState(), False, "evidence")
        sha = store.get_evidence_file(state.evidence_file_id).sha256
        assert not store.get_case(state.case_id).analyses, "preparing records no analysis"
    assert [label for label, _ in order] == ["prepare", "lookup", "store"]
    assert order[0][1][1].sha256 == sha, "the picture measured is the one stored"
