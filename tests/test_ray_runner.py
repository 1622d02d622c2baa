"""`zoomin analyze --ray`: a local Ray head on loopback (127.0.0.1, two CPUs),
two actors with one detector each, a small folder, the results in a real
case store and equal to the one-process run."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from models.sample_images import camera_like_photo, encode
from zoomin_ui.cli import main
from zoomin_ui.ray_runner import single_machine

single_machine()  # before Ray is imported: a local instance listens on loopback only
ray = pytest.importorskip("ray", reason="Ray is not installed: pip install '.[cluster]' (make test installs it)")


@pytest.fixture(scope="module")
def local_head():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("ray-batch")
    for seed in range(3):
        (root / f"{seed}.png").write_bytes(encode(camera_like_photo(128, 160 + 16 * seed, seed=seed), "PNG"))
    (root / "1b-broken.png").write_bytes(b"\x89PNG but not really")
    return root


def lines(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def essentials(record: dict) -> tuple:
    if "error" in record:
        return (record["file"], record["error_code"])
    return (record["file"], record["sha256"], record["verdict"], record["score"],
            [(r["box"], r["score"]) for r in record["regions"]])


def test_a_batch_on_a_local_ray_head_is_saved_and_equals_the_local_run(local_head, folder, tmp_path, monkeypatch):
    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")  # loopback, nothing else
    runner = CliRunner()
    alone = lines(runner.invoke(main, ["analyze", str(folder), "--json", "--jobs", "1"]))
    monkeypatch.setenv("ZOOMIN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    on_ray = lines(runner.invoke(main, ["analyze", str(folder), "--json", "--ordered", "--ray", "auto", "--jobs", "2",
                                        "--save", "--analyst", "Cluster Desk"]))
    assert [essentials(r) for r in on_ray] == [essentials(r) for r in alone]
    from storage import CaseStore

    store = CaseStore.open(str(tmp_path / "home"))
    try:
        saved = [r for r in on_ray if "error" not in r]
        assert len(saved) == 3
        for record in saved:
            analysis = store.get_analysis(record["analysis_id"])
            assert analysis.status == "done" and analysis.started_by == "Cluster Desk"
            assert analysis.verdict == record["verdict"]
            evidence = store.get_evidence_file(analysis.evidence_file_id)
            assert evidence.sha256 == record["sha256"]
    finally:
        store.close()


def test_a_detector_that_cannot_start_on_the_cluster_is_one_line(local_head, folder, monkeypatch):
    monkeypatch.delenv("ZOOMIN_REMOTE_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    result = CliRunner().invoke(main, ["analyze", str(folder), "--ray", "auto", "--jobs", "1",
                                       "--backend", "remote", "--model", "Qwen/Qwen2.5-VL-7B-Instruct"])
    assert result.exit_code == 1 and "needs a server" in result.output and "Traceback" not in result.output


def _native_threads(_actor_state) -> tuple[int, int]:
    import cv2
    import torch

    return cv2.getNumThreads(), torch.get_num_threads()


def test_each_actor_runs_its_native_libraries_on_one_core(local_head):
    """An actor is given num_cpus=1; OpenCV's and torch's own pools, sized by the
    machine, would make two actors run four threads on two cores."""
    from zoomin_ui.parallel import DetectorSpec
    from zoomin_ui.ray_runner import ray_pool

    runner = ray_pool(DetectorSpec("evidence"), "auto", workers=2)
    try:
        for actor in runner.actors:
            assert ray.get(actor.__ray_call__.remote(_native_threads)) == (1, 1)
    finally:
        runner.close()
