"""`--jobs N` worker processes are one core's work each, whatever their imports did."""

from __future__ import annotations

from zoomin_ui.parallel import DetectorSpec, process_pool


def _native_threads() -> tuple[int, int]:
    import cv2
    import torch

    return cv2.getNumThreads(), torch.get_num_threads()


def test_a_worker_process_runs_opencv_and_torch_on_one_thread():
    runner = process_pool(DetectorSpec("evidence"), 2)
    try:
        assert runner.executor.submit(_native_threads).result(timeout=120) == (1, 1)
    finally:
        runner.close()
