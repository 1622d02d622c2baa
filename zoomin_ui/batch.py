"""`zoomin analyze` over many files: the runner works, this process writes.

The parent hands each file to a runner (zoomin_ui/parallel.py) with at most
a few tasks per worker in flight, and takes the results back as they finish
(or in input order with `ordered`).  It alone writes to the case store: with
`--save` it takes the file in and records the run `running` before handing
it out, and records the result (or the failure) when it comes back, so
SQLite sees one writer and no run is left `running` by a batch that ended.
`--resume` skips inputs whose SHA-256 already has a result in an earlier
JSON Lines output.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any, Protocol

from zoomin_ui import service
from zoomin_ui.parallel import Task, WorkerResult

if TYPE_CHECKING:
    from models.types import Analysis
    from storage import BackendInfo, CaseStore

TASKS_PER_WORKER = 2  # enough to keep a worker busy while the parent writes, few enough to stay honest


class Runner(Protocol):
    width: int
    backend: BackendInfo

    def submit(self, task: Task) -> Future: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SaveTo:
    """Where `--save` records each file: a new case each, or case `case_id`."""

    store: CaseStore
    analyst: str
    case_id: int | None = None
    title: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """One input's end: its analysis (and where it was saved) or its error."""

    index: int
    file: str
    analysis: Analysis | None = None
    error: str = ""
    code: str = ""
    case_id: int | None = None
    analysis_id: int | None = None
    peak_rss_kb: int = 0

    def record(self) -> dict[str, Any]:
        """The JSON Lines object for this input."""
        if self.analysis is None:
            return {"file": self.file, "error": self.error, "error_code": self.code}
        saved = {"case_id": self.case_id, "analysis_id": self.analysis_id} if self.analysis_id else {}
        return self.analysis.to_dict() | saved


def analysed_hashes(jsonl: Path) -> set[str]:
    """SHA-256 of every input an earlier `--json` output has a result for
    (error lines do not count: those files are tried again)."""
    try:
        text = jsonl.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return set()
    except OSError as exc:
        raise service.WorkbenchError(f"cannot read {jsonl} to resume from: {exc.strerror or exc}", "config") from None
    done = set()
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short when the earlier run was stopped
        if isinstance(record, dict) and "error" not in record and isinstance(record.get("sha256"), str):
            done.add(record["sha256"])
    return done


def file_sha256(file: str) -> str | None:
    """The file's SHA-256, or None where it cannot be read (the worker reports why)."""
    digest = hashlib.sha256()
    try:
        with open(file, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def run_batch(runner: Runner, files: Iterable[str], *, ordered: bool = False, save: SaveTo | None = None,
              skip: set[str] | frozenset[str] = frozenset(), max_pixels: int | None = None,
              boxes: Iterable[Iterable[float]] = (), question: str | None = None,
              on_skip: Callable[[str], None] | None = None) -> Iterator[Outcome]:
    """Every file through `runner`, one Outcome each, as they finish (or in input order)."""
    fixed_boxes = tuple(tuple(float(v) for v in box) for box in boxes)
    started: dict[int, service.StartedRun] = {}

    def tasks() -> Iterator[Task | Outcome]:
        for index, file in enumerate(files):
            if skip and file_sha256(file) in skip:
                if on_skip is not None:
                    on_skip(file)
                continue
            task = Task(index, file, max_pixels=max_pixels, boxes=fixed_boxes, question=question)
            if save is None:
                yield task
                continue
            try:
                run = _start(save, runner.backend, task)
            except service.WorkbenchError as exc:
                yield Outcome(index, file, error=str(exc), code=exc.code)
                continue
            started[index] = run
            yield Task(index, file, run.image.data, max_pixels, fixed_boxes, question)

    for task, result in _dispatch(runner, tasks(), ordered):
        if isinstance(result, Outcome):
            yield result
            continue
        outcome = Outcome(task.index, task.file, result.analysis, result.error, result.code,
                          peak_rss_kb=result.peak_rss_kb)
        run = started.pop(task.index, None)
        yield outcome if run is None or save is None else _finish(save.store, run, outcome)


def _start(save: SaveTo, backend: BackendInfo, task: Task) -> service.StartedRun:
    return service.start_saved_run(save.store, backend, task.file, save.analyst, case_id=save.case_id,
                                   title=save.title, max_pixels=task.max_pixels, boxes=task.boxes,
                                   question=task.question, parameters=save.parameters)


def _finish(store: CaseStore, run: service.StartedRun, outcome: Outcome) -> Outcome:
    """Record the worker's result on its run; a run whose worker failed is recorded failed."""
    from storage import StoreError

    try:
        if outcome.analysis is None:
            store.fail_analysis(run.run_id, outcome.error)
            return outcome
        store.finish_analysis(run.run_id, outcome.analysis)
    except StoreError as exc:
        try:
            store.fail_analysis(run.run_id, str(exc))
        except StoreError:
            pass  # the run stays `running`; the next start marks it interrupted
        return replace(outcome, analysis=None, error=f"{outcome.file}: analysis {run.run_id} not recorded: {exc}",
                       code=exc.code)
    return replace(outcome, case_id=run.case_id, analysis_id=run.run_id)


def _dispatch(runner: Runner, tasks: Iterator[Task | Outcome],
              ordered: bool) -> Iterator[tuple[Task | None, WorkerResult | Outcome]]:
    """Keep `TASKS_PER_WORKER` tasks per worker in flight; yield each as it
    finishes (or, `ordered`, in the order given)."""
    window = max(1, runner.width * TASKS_PER_WORKER)
    flight: deque[tuple[Task | None, Future]] = deque()
    finished: SimpleQueue[Future] = SimpleQueue()  # futures in the order they finished
    exhausted = False
    while flight or not exhausted:
        while not exhausted and len(flight) < window:
            item = next(tasks, None)
            if item is None:
                exhausted = True
                continue
            if isinstance(item, Outcome):  # refused before it reached a worker
                future: Future = Future()
                future.set_result(item)
                entry = (None, future)
            else:
                entry = (item, _submit(runner, item))
            flight.append(entry)
            if not ordered:
                entry[1].add_done_callback(finished.put)
        if not flight:
            break
        if ordered:
            task, future = flight.popleft()
        else:
            done = finished.get()
            position = next(i for i, e in enumerate(flight) if e[1] is done)
            task, future = flight[position]
            del flight[position]
        yield task, _result_of(future)


def _submit(runner: Runner, task: Task) -> Future:
    try:
        return runner.submit(task)
    except Exception as exc:  # the pool broke on an earlier file: this one fails, the rest are reported too
        failed: Future = Future()
        failed.set_exception(exc)
        return failed


def _result_of(future: Future) -> WorkerResult | Outcome:
    try:
        return future.result()
    except Exception as exc:  # a worker process died (out of memory, a crash in native code)
        return WorkerResult(error=f"analysis failed: the worker stopped ({type(exc).__name__}: {exc})",
                            code="internal")
