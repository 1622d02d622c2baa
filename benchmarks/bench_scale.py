"""Batch throughput beyond one process (issue 16):

* images/s on a dev-set subset with `--jobs 1` vs `--jobs 2` (goal >= 1.8x on
  2 cores), verdicts and scores identical to the one-process run;
* the same through a local Ray instance (loopback) with 2 actors (goal: within
  15% of --jobs 2);
* the remote backend against a stub server answering each request after
  200 ms, 64 images, `--concurrency 1` vs `8` (goal >= 6x), same results;
* the peak resident memory of each worker;
* the machine's own ceiling: a pure-Python loop that touches no memory
  (its state fits in registers), timed in one process and in two at once,
  alternated (median of pairs): what two processes gain on this machine
  when nothing of the workload can be the cause;
* `--jobs 2 --save`: the same batch recorded in a new case store, this
  process the one writer (intake: decoding, SHA-256, perceptual hashes and
  the near-duplicate index; the run started and finished), and the writer's
  own CPU per image.

`--jobs 1` is not one core's work: the evidence engine measures the file
checks and the learned score on a second thread beside the pixel maps, so
the cores it keeps busy (its CPU time over its wall time) are printed, and
it is run a second time pinned to one core (`sched_setaffinity`): the pool's
scaling is `--jobs 2` against that one-core rate, and its ceiling against
`--jobs 1` is the cores over what `--jobs 1` already uses.

    .venv/bin/python benchmarks/bench_scale.py [--images 48] [--skip-ray]

Each configuration is timed from its first task handed out to its last
result, the runner already started (its start-up is reported apart: workers
load the detector once and warm it up on a made-up photo).  Inputs: every k-th row of ../shared/data/dev's
manifest (mixed real and generated, all formats).  Results printed as
Markdown; figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import statistics
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.heap import reuse_large_blocks  # noqa: E402

reuse_large_blocks()  # as the zoomin command and app.py do (ZOOMIN_MALLOC=default to measure without)

from models.sample_images import camera_like_photo, encode  # noqa: E402
from zoomin_ui import service  # noqa: E402
from zoomin_ui.batch import SaveTo, run_batch  # noqa: E402
from zoomin_ui.parallel import DetectorSpec, open_runner  # noqa: E402

DEV = REPO.parent / "shared" / "data" / "dev"


def dev_subset(count: int) -> list[str]:
    rows = list(csv.DictReader(open(DEV / "manifest.csv", encoding="utf-8")))
    step = max(1, len(rows) // count)
    return [str(DEV / row["file"]) for row in rows[::step][:count]]


def pin_every_thread(cores: set[int]) -> None:
    """Linux pins one thread per call: the engine's pool threads, started by an
    earlier run, are pinned too (threads started later inherit the affinity)."""
    for thread in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(thread), cores)
        except ProcessLookupError:
            pass  # a thread that ended since the folder was listed


def timed_batch(spec: DetectorSpec, files: list[str], cores: set[int] | None = None, save: bool = False,
                **runner_options) -> dict:
    """One configuration; `cores` pins this process (an in-process runner) to those cores; `save`
    records every file and result in a new case store (as `--save`: this process the one writer)."""
    everywhere = os.sched_getaffinity(0)
    if cores is not None:
        pin_every_thread(cores)
    home = tempfile.TemporaryDirectory() if save else None
    store = service.open_store(home.name) if home else None
    try:
        started = time.perf_counter()
        runner = open_runner(spec, len(files), **runner_options)
        ready = time.perf_counter()
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        try:
            outcomes = list(run_batch(runner, files, save=SaveTo(store, "bench") if store else None))
        finally:
            runner.close()
        seconds = time.perf_counter() - ready
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        pin_every_thread(everywhere)
        if store is not None:  # closed and deleted after the clock stopped
            store.close()
            home.cleanup()
    own_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return {"startup_s": ready - started, "seconds": seconds, "images_per_s": len(files) / seconds,
            "cores_busy": own_cpu / seconds,  # this process's own threads (an in-process runner's work)
            "own_cpu_s": own_cpu,
            "results": {o.file: (o.analysis.verdict, o.analysis.score) if o.analysis else (None, o.code)
                        for o in outcomes},
            "peak_rss_mb": max(o.peak_rss_kb for o in outcomes) / 1024, "label": runner.label}


def row(name: str, run: dict, base: dict | None = None) -> str:
    ratio = f"{run['images_per_s'] / base['images_per_s']:.2f}x" if base else "1.00x"
    same = "yes" if base is None or run["results"] == base["results"] else "NO"
    return (f"| {name} | {run['label']} | {run['startup_s']:.1f} | {run['seconds']:.1f} | "
            f"{run['images_per_s']:.2f} | {ratio} | {same} | {run['peak_rss_mb']:.0f} |")


def stub_images(folder: Path, count: int) -> list[str]:
    files = []
    for index in range(count):
        path = folder / f"{index:03d}.png"
        path.write_bytes(encode(camera_like_photo(96, 128, seed=index), "PNG"))
        files.append(str(path))
    return files


def spin(steps: int) -> float:
    """Wall seconds of a loop that needs nothing but one core (a linear congruential generator)."""
    start, state = time.perf_counter(), 0
    for _ in range(steps):
        state = (state * 1103515245 + 12345) & 0xFFFFFFFF
    return time.perf_counter() - start


def two_process_ceiling(pairs: int = 5, steps: int = 5_000_000) -> tuple[float, list[float]]:
    """(median, each pair's) speed-up of two processes over one on `spin`, alternated."""
    ratios = []
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(spin, [1000, 1000])  # workers started before the clock
        for _ in range(pairs):
            one = spin(steps)
            start = time.perf_counter()
            pool.map(spin, [steps, steps])
            ratios.append(2 * one / (time.perf_counter() - start))
    return statistics.median(ratios), ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    header = ("| run | runner | start-up s | batch s | images/s | vs 1 | same results | peak RSS per worker MB |\n"
              "|---|---|---|---|---|---|---|---|")
    files = dev_subset(args.images)
    spec = DetectorSpec("evidence", {"max_regions": 5})
    print(f"{len(files)} dev-set images, {os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.1f}")
    ceiling, pairs = two_process_ceiling()
    print(f"the machine's two-process ceiling (a loop that touches no memory, one process vs two): "
          f"median {ceiling:.2f}x ({', '.join(f'{r:.2f}' for r in pairs)})")
    one = timed_batch(spec, files, jobs=1)
    one_core = timed_batch(spec, files, cores={min(os.sched_getaffinity(0))}, jobs=1)
    two = timed_batch(spec, files, jobs=2)
    two_saved = timed_batch(spec, files, jobs=2, save=True)
    lines = [header, row("--jobs 1", one), row("--jobs 1 pinned to one core", one_core, one),
             row("--jobs 2", two, one), row("--jobs 2 --save (this process writes the store)", two_saved, one)]
    cores = len(os.sched_getaffinity(0))
    print(f"--jobs 1 kept {one['cores_busy']:.2f} cores busy (pinned: {one_core['cores_busy']:.2f}); "
          f"--jobs 2 vs one core: {two['images_per_s'] / one_core['images_per_s']:.2f}x; "
          f"ceiling vs --jobs 1: {cores / one['cores_busy']:.2f}x")
    print(f"--save: {two_saved['images_per_s'] / two['images_per_s']:.2f}x of --jobs 2 without it; the writer's "
          f"own CPU {two_saved['own_cpu_s'] / len(files) * 1000:.0f} ms per image "
          f"(without --save {two['own_cpu_s'] / len(files) * 1000:.1f} ms)")
    if not args.skip_ray:
        ray_run = timed_batch(spec, files, jobs=2, ray_address="local")
        lines.append(row("--ray local (2 actors)", ray_run, one))
        lines.append(f"\nRay vs --jobs 2: {ray_run['images_per_s'] / two['images_per_s']:.2f}x")
    print("\n".join(lines))

    sys.path.insert(0, str(REPO / "tests"))
    from chat_stub import StubChatServer

    server = StubChatServer(delay=0.2)
    try:
        with tempfile.TemporaryDirectory() as folder:
            images = stub_images(Path(folder), 64)
            remote = DetectorSpec("remote", {"base_url": server.url, "model": "Qwen/Qwen2.5-VL-7B-Instruct",
                                             "evidence_context": False, "max_regions": 5})
            runs = {}
            for k in (1, 8):
                server.peak = 0
                runs[k] = timed_batch(DetectorSpec(remote.backend, {**remote.options, "concurrency": k}), images,
                                      concurrency=k)
                runs[k]["label"] += f", server saw at most {server.peak} at once"
    finally:
        server.close()
    print("\nRemote backend, stub server answering after 200 ms, 64 images (2 requests each):\n")
    print("\n".join([header, row("--concurrency 1", runs[1]), row("--concurrency 8", runs[8], runs[1])]))
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
