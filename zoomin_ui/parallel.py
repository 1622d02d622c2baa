"""Where a batch's analyses run: in this process, in a pool of worker
processes (`--jobs`), in threads against a model server (`--backend remote`)
or in a Ray cluster's actors (`--ray`, zoomin_ui/ray_runner.py).

Every runner does the same thing with a `Task`: one detector per worker,
loaded once, analyses one file and hands back a `WorkerResult` (the
Analysis or the one-line error), never an exception, so one bad file costs
that file alone.  Workers never write to the case store: the batch's parent
is its only writer (zoomin_ui/batch.py).

Process workers are started with `spawn`, not `fork`: the evidence engine
keeps a module-level thread pool, and a forked child inherits it without its
threads (its work would never run).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import traceback
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from models.detector import Detector, DetectorUnavailable
from models.heap import reuse_large_blocks
from models.image_input import ImageInputError, load_image
from zoomin_ui import service

if TYPE_CHECKING:
    from models.types import Analysis
    from storage import BackendInfo


def machine_cores() -> int:
    """The cores this process may run on (a container's limit, not the host's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class DetectorSpec:
    """How each worker opens its own detector (picklable: it crosses processes)."""

    backend: str
    options: dict[str, Any] = field(default_factory=dict)

    def open(self) -> Detector:
        """The detector, warmed up: a runner's start-up, not its first file, pays
        the one-time costs (a failed warm-up is left for that file to report)."""
        detector = service.open_detector(self.backend, **self.options)
        try:
            detector.warm_up()
        except Exception:
            if os.environ.get("ZOOMIN_DEBUG", "") not in ("", "0"):
                traceback.print_exc()
        return detector


@dataclass(frozen=True)
class Task:
    """One input: its path as given, and its bytes where the parent already read them."""

    index: int
    file: str
    data: bytes | None = None
    max_pixels: int | None = None
    boxes: tuple[tuple[float, ...], ...] = ()
    question: str | None = None


@dataclass(frozen=True)
class WorkerResult:
    analysis: Analysis | None = None
    error: str = ""
    code: str = ""
    peak_rss_kb: int = 0  # the worker process's peak resident memory so far


def analyse_with(detector: Detector, task: Task) -> WorkerResult:
    """One task on one detector; every failure becomes this file's error."""
    try:
        source = task.data if task.data is not None else task.file
        try:
            image = load_image(source, name=task.file, max_pixels=task.max_pixels)
        except ImageInputError as exc:
            raise service.WorkbenchError(str(exc), exc.code) from None
        analysis = service.analyze_image(detector, image, task.file, task.boxes, task.question)
    except service.WorkbenchError as exc:
        return _result(error=str(exc), code=exc.code)
    except DetectorUnavailable as exc:  # a model backend failed mid-run (server down, out of memory)
        return _result(error=str(exc), code="backend")
    except Exception as exc:  # a bug must cost one file, not the batch
        if os.environ.get("ZOOMIN_DEBUG", "") not in ("", "0"):
            traceback.print_exc()
        return _result(error=f"analysis failed: internal error ({type(exc).__name__}: {exc})", code="internal")
    return _result(analysis=analysis)


def _result(**values: Any) -> WorkerResult:
    return WorkerResult(**values, peak_rss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


# ---------------------------------------------------------------------- one detector per worker process

# Set once in each worker process by its initializer (never in the batch's own process).
_worker_detector: Detector | None = None
_worker_problem: str = ""


def _start_worker(spec: DetectorSpec) -> None:
    global _worker_detector, _worker_problem
    reuse_large_blocks()  # a spawned worker has these from the environment already; a forked one would not
    try:
        _worker_detector = spec.open()
    except service.WorkbenchError as exc:  # told to the parent by describe_worker, not raised here
        _worker_detector, _worker_problem = None, str(exc)
    one_core_each()


def one_core_each() -> None:
    """Make this process one core's work: a `--jobs` worker or a Ray actor with
    num_cpus=1.  OpenCV and torch size their own thread pools by the machine's
    cores whatever OMP_NUM_THREADS says, and the evidence engine runs its file
    checks on a pool beside the maps, so two workers on two cores would each
    run two threads or more and fight over the cores.  Called after the detector is
    open, once its imports have started those pools (earlier, OpenCV is often
    not imported yet and the setting would be skipped)."""
    import sys

    import cv2

    from models.evidence.engine import measure_on_one_thread

    cv2.setNumThreads(1)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    measure_on_one_thread()


def _describe_worker() -> BackendInfo | str:
    return service.backend_info(_worker_detector) if _worker_detector is not None else _worker_problem


def _run_in_worker(task: Task) -> WorkerResult:
    if _worker_detector is None:
        return _result(error=_worker_problem or "the worker has no detector", code="config")
    return analyse_with(_worker_detector, task)


class RunnerError(Exception):
    """The runner could not start (its detector, its cluster); the message says why."""


class PoolRunner:
    """`submit(task) -> Future[WorkerResult]` on one executor; `backend` is what
    the record keeps about the workers' detector.  `run` and `describe` are the
    worker processes' functions, or (threads) closures over one detector."""

    def __init__(self, executor: Executor, width: int, label: str,
                 run: Callable[[Task], WorkerResult] = _run_in_worker,
                 describe: Callable[[], BackendInfo | str] = _describe_worker):
        self.executor, self.width, self.label, self._run = executor, width, label, run
        described = executor.submit(describe).result()
        if isinstance(described, str):
            executor.shutdown(cancel_futures=True)
            raise RunnerError(described or "the detector did not start")
        self.backend: BackendInfo = described

    def submit(self, task: Task) -> Future:
        return self.executor.submit(self._run, task)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


# Each worker is one core's work: the native libraries' own thread pools
# (OpenMP, OpenBLAS, MKL) would otherwise start a thread per core in every
# worker and the workers would fight over the cores (Ray does the same for its
# actors).  Read by those libraries when a spawned worker imports them.
ONE_THREAD_EACH = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def process_pool(spec: DetectorSpec, jobs: int) -> PoolRunner:
    """`jobs` worker processes, each loading the detector once."""
    for name, value in ONE_THREAD_EACH.items():
        os.environ.setdefault(name, value)  # the parent has loaded its own libraries already
    context = multiprocessing.get_context("spawn")
    executor = ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_start_worker,
                                   initargs=(spec,))
    return PoolRunner(executor, jobs, f"{jobs} worker processes")


def thread_pool(spec: DetectorSpec, threads: int) -> PoolRunner:
    """One detector shared by `threads` threads: for a model server, where the
    work is waiting on the network and the server batches what is in flight."""
    try:
        detector = spec.open()
    except service.WorkbenchError as exc:
        raise RunnerError(str(exc)) from None
    executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="zoomin-batch")
    return PoolRunner(executor, threads, f"{threads} requests in flight", partial(analyse_with, detector),
                      partial(service.backend_info, detector))


def in_process(spec: DetectorSpec) -> PoolRunner:
    """This process, one file at a time (`--jobs 1`), on its own detector."""
    return thread_pool(spec, 1)


def open_runner(spec: DetectorSpec, files: int, jobs: int | None = None, concurrency: int = 1,
                ray_address: str | None = None) -> PoolRunner:
    """The runner a batch of `files` inputs gets: a Ray cluster where one is
    named; threads for a model server; else worker processes (the machine's
    cores by default), or this process for one file or `--jobs 1`."""
    if ray_address:
        from zoomin_ui.ray_runner import ray_pool

        return ray_pool(spec, ray_address, workers=jobs, concurrency=concurrency)
    if spec.backend == "remote":
        return thread_pool(spec, max(1, min(concurrency, files)))
    width = min(jobs or machine_cores(), files)
    return in_process(spec) if width <= 1 else process_pool(spec, width)
