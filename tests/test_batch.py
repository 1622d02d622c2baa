"""`zoomin analyze --jobs N`: the same results as one process, in input order
with --ordered, --resume by SHA-256, one bad file costing only itself, and
--save written by the parent alone."""

from __future__ import annotations

import json
from concurrent.futures import Future

import pytest
from click.testing import CliRunner

from models.sample_images import camera_like_photo, encode
from zoomin_ui.batch import TASKS_PER_WORKER, analysed_hashes, run_batch
from zoomin_ui.cli import main
from zoomin_ui.parallel import WorkerResult


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch")
    for seed in range(4):
        photo = camera_like_photo(160 + 16 * seed, 208, seed=seed)
        (root / f"{seed}-photo.{'png' if seed % 2 else 'jpg'}").write_bytes(
            encode(photo, "PNG") if seed % 2 else encode(photo, "JPEG", quality=90))
    (root / "2b-broken.jpg").write_bytes(b"not a jpeg at all")
    return root


def analyze(*args: str):
    return CliRunner().invoke(main, ["analyze", *args, "--json"], catch_exceptions=False)


def comparable(record: dict) -> tuple:
    if "error" in record:
        return (record["file"], record["error_code"])
    return (record["file"], record["sha256"], record["verdict"], record["score"],
            [(r["box"], r["score"], r["explanation"]) for r in record["regions"]], record["reading"])


@pytest.fixture(scope="module")
def sequential(folder):
    result = analyze(str(folder), "--jobs", "1")
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_two_workers_give_the_sequential_results_in_input_order(folder, sequential):
    result = analyze(str(folder), "--jobs", "2", "--ordered")
    assert result.exit_code == 0, result.output
    pooled = [json.loads(line) for line in result.stdout.splitlines()]
    assert [comparable(r) for r in pooled] == [comparable(r) for r in sequential]
    names = [r["file"].rsplit("/", 1)[-1] for r in pooled]
    assert names == sorted(names) and len(names) == 5  # the folder's order, the broken file in its place
    broken = next(r for r in pooled if "error" in r)
    assert broken["error_code"] == "not-an-image" and broken["file"].endswith("2b-broken.jpg")


def test_resume_skips_what_an_earlier_output_has(folder, sequential, tmp_path):
    earlier = tmp_path / "out.jsonl"
    done = [r for r in sequential if "error" not in r][:2]
    earlier.write_text("".join(json.dumps(r) + "\n" for r in done) + '{"cut short', encoding="utf-8")
    assert analysed_hashes(earlier) == {r["sha256"] for r in done}
    result = analyze(str(folder), "--jobs", "2", "--resume", str(earlier))
    assert result.exit_code == 0, result.output
    again = {json.loads(line)["file"] for line in result.stdout.splitlines()}
    assert again == {r["file"] for r in sequential} - {r["file"] for r in done}
    assert "2 input(s) already in" in result.stderr
    earlier.write_text("".join(json.dumps(r) + "\n" for r in sequential), encoding="utf-8")
    nothing_left = analyze(str(folder), "--resume", str(earlier), "--jobs", "1")
    # the broken file has no result line, so it is tried (and fails) again; nothing else runs
    assert [json.loads(line)["error_code"] for line in nothing_left.stdout.splitlines()] == ["not-an-image"]


def test_save_records_every_run_from_the_parent(folder, sequential, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOOMIN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = analyze(str(folder), "--jobs", "2", "--save", "--analyst", "Batch Desk")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    saved = [r for r in lines if "error" not in r]
    assert len(saved) == 4 and all(r["analysis_id"] for r in saved)
    from storage import CaseStore

    store = CaseStore.open(str(tmp_path / "home"))
    try:
        by_file = {r["file"]: r for r in sequential}
        for record in saved:
            stored = store.get_analysis(record["analysis_id"])
            assert stored.status == "done" and stored.started_by == "Batch Desk"
            alone = by_file[record["file"]]
            assert comparable(record) == comparable(alone)
            assert stored.verdict == alone["verdict"] and stored.score == pytest.approx(alone["score"], abs=1e-9)
        assert store.list_cases(page_size=50).total == 4  # the broken file saved nothing
    finally:
        store.close()


class ReversedRunner:
    """A runner whose tasks finish last-submitted first, to tell the two orders apart."""

    width = 2
    backend = None

    def __init__(self):
        self.pending: list[tuple[Future, object]] = []

    def submit(self, task):
        future: Future = Future()
        self.pending.append((future, task))
        if len(self.pending) == self.width * TASKS_PER_WORKER or task.file == "last":
            for waiting, waiting_task in reversed(self.pending):
                waiting.set_result(WorkerResult(error=waiting_task.file, code="x"))
            self.pending.clear()
        return future

    def close(self):
        pass


@pytest.mark.parametrize("ordered", [True, False])
def test_results_stream_in_input_order_or_as_they_finish(ordered):
    files = ["a", "b", "c", "d", "last"]
    order = [o.file for o in run_batch(ReversedRunner(), files, ordered=ordered)]
    assert sorted(order) == sorted(files)
    assert (order == files) is ordered


def test_a_worker_that_dies_costs_its_file_only():
    class Dying(ReversedRunner):
        def submit(self, task):
            future: Future = Future()
            if task.file == "b":
                future.set_exception(RuntimeError("worker killed"))
            else:
                future.set_result(WorkerResult(error="fine", code="ok"))
            return future

    outcomes = list(run_batch(Dying(), ["a", "b", "c"], ordered=True))
    assert [o.code for o in outcomes] == ["ok", "internal", "ok"]
    assert "worker killed" in outcomes[1].error


def test_a_detector_that_cannot_start_is_never_replaced_by_an_earlier_one(monkeypatch):
    from zoomin_ui.parallel import DetectorSpec, RunnerError, in_process

    monkeypatch.delenv("ZOOMIN_REMOTE_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    in_process(DetectorSpec("evidence")).close()
    with pytest.raises(RunnerError, match="needs a server"):
        in_process(DetectorSpec("remote", {"model": "Qwen/Qwen2.5-VL-7B-Instruct"}))


def test_a_runner_warms_its_detector_up_once_and_a_failed_warm_up_does_not_stop_it(monkeypatch):
    from models.evidence.engine import EvidenceEngine
    from zoomin_ui.parallel import DetectorSpec

    calls = []
    real = EvidenceEngine.warm_up

    def counted(self):
        calls.append(self)
        real(self)  # the real warm-up: it must not raise on the engine as shipped

    monkeypatch.setattr(EvidenceEngine, "warm_up", counted)
    detector = DetectorSpec("evidence").open()
    assert calls == [detector]

    def broken(self):
        raise RuntimeError("warm-up failed")

    monkeypatch.setattr(EvidenceEngine, "warm_up", broken)
    assert isinstance(DetectorSpec("evidence").open(), EvidenceEngine)  # the first real file reports any problem


def test_the_engines_warm_up_leaves_no_trace_in_a_later_analysis():
    from models.evidence.engine import EvidenceEngine
    from models.image_input import load_image

    photo = load_image(encode(camera_like_photo(200, 240, seed=3), "JPEG", quality=90), name="p.jpg")
    cold, warm = EvidenceEngine(), EvidenceEngine()
    warm.warm_up()
    first, second = cold.analyze(photo), warm.analyze(photo)
    assert (first.verdict, first.score, [r.box for r in first.regions]) == \
        (second.verdict, second.score, [r.box for r in second.regions])
