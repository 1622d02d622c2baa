"""`--jobs N` worker processes are one core's work each, whatever their imports did."""

from __future__ import annotations

from zoomin_ui.parallel import DetectorSpec, process_pool


def _native_threads() -> tuple[int, int]:
    import cv2
    import torch

    return cv2.getNumThreads(), torch.get_num_threads()


def _threads_of_one_analysis() -> tuple[set[str], str]:
    """The threads that ran the evidence stages of one analysis, and the worker's main thread."""
    import threading

    from models.evidence import engine
    from models.sample_images import camera_like_photo, encode
    from models.image_input import load_image

    seen: set[str] = set()
    original = engine.EvidenceEngine._read_file_evidence

    def noting(self, *args):
        seen.add(threading.current_thread().name)
        return original(self, *args)

    engine.EvidenceEngine._read_file_evidence = noting
    try:
        engine.EvidenceEngine().analyze(load_image(encode(camera_like_photo(256, 320, seed=4), "JPEG")))
    finally:
        engine.EvidenceEngine._read_file_evidence = original
    return seen, threading.main_thread().name


def test_a_worker_process_runs_opencv_and_torch_on_one_thread():
    runner = process_pool(DetectorSpec("evidence"), 2)
    try:
        assert runner.executor.submit(_native_threads).result(timeout=120) == (1, 1)
        # The engine's own pool beside the maps would be a second thread per worker too.
        stages, main = runner.executor.submit(_threads_of_one_analysis).result(timeout=120)
        assert stages == {main}
    finally:
        runner.close()


def test_this_process_keeps_the_engine_pool_beside_the_maps():
    """Only workers give it up: `analyze` of one file, and the web app, keep both cores busy."""
    stages, main = _threads_of_one_analysis()
    assert stages and main not in stages
