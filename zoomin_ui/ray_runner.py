"""`zoomin analyze --ray ADDRESS|auto|local`: the batch as a Ray job.

One actor per worker holds one detector, loaded once (`DetectorActor`); the
driver reads each input once and ships its bytes, so a cluster's nodes need
no shared disk, and the actor decodes and hashes it (the evidence file's
SHA-256 comes from there).  Results come back to the driver, which, with
`--save`, is the case store's only writer: DATABASE_URL points it at the
team's PostgreSQL.  ADDRESS is Ray's (`auto` for the cluster this machine
belongs to, `ray://head:10001` for a remote one); `local` starts a Ray
instance on this machine, on loopback only.  Ray is an optional extra:
pip install '.[cluster]'.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future
from dataclasses import replace
from typing import TYPE_CHECKING

from models.heap import reuse_large_blocks
from zoomin_ui.parallel import DetectorSpec, RunnerError, Task, WorkerResult, analyse_with, one_core_each

if TYPE_CHECKING:
    from storage import BackendInfo


class DetectorActor:
    """A Ray actor's state: one detector for every task it is given."""

    def __init__(self, spec: DetectorSpec):
        from zoomin_ui.service import WorkbenchError

        self.detector, self.problem = None, ""
        reuse_large_blocks()  # a cluster's workers do not have this process's environment
        try:
            self.detector = spec.open()
        except WorkbenchError as exc:
            self.problem = str(exc)
        one_core_each()  # each actor is given num_cpus=1, as each --jobs worker is one core

    def describe(self) -> BackendInfo | str:
        from zoomin_ui.service import backend_info

        return backend_info(self.detector) if self.detector is not None else self.problem

    def analyse(self, task: Task) -> WorkerResult:
        if self.detector is None:
            return WorkerResult(error=self.problem, code="config")
        return analyse_with(self.detector, task)


def single_machine() -> None:
    """Make a Ray instance started here listen on loopback only.  On Linux Ray
    replaces 127.0.0.1 by the machine's network address (for other nodes to
    join) and its servers listen on every interface; with cluster mode off, as
    Ray does on macOS and Windows, every server binds 127.0.0.1.  Ray reads
    this when it is imported."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"


def _connect(address: str) -> bool:
    """Join (or start) Ray; True where this call started it (and so must stop it)."""
    if address == "local":
        single_machine()  # read when Ray is imported
    try:
        import ray
    except ImportError:
        raise RunnerError("--ray needs Ray: pip install '.[cluster]' (or pip install ray)") from None
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing reported to the network
    try:
        if address == "local":
            ray.init(address="local", include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError... for a wrong address
        raise RunnerError(f"cannot join the Ray cluster at {address}: {exc}") from None
    return True


class RayRunner:
    """`workers` DetectorActors; each task goes to the actor with the fewest in flight."""

    def __init__(self, spec: DetectorSpec, address: str, workers: int | None, concurrency: int = 1):
        import ray

        self._started = _connect(address)
        if workers is None:
            workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        threads = concurrency if spec.backend == "remote" else 1  # a model server's requests wait in threads
        actor = ray.remote(num_cpus=1, max_concurrency=threads)(DetectorActor)
        self.actors = [actor.remote(spec) for _ in range(workers)]
        self.width = workers * threads
        self.label = f"{workers} Ray actors"
        self._load = [0] * workers
        self._lock = threading.Lock()
        described = ray.get([a.describe.remote() for a in self.actors])
        problem = next((d for d in described if isinstance(d, str)), None)
        if problem is not None:
            self.close()
            raise RunnerError(problem or "the detector did not start on the cluster")
        self.backend: BackendInfo = described[0]

    def submit(self, task: Task) -> Future:
        if task.data is None:
            try:
                with open(task.file, "rb") as handle:
                    task = replace(task, data=handle.read())
            except OSError:
                pass  # the actor reports the file as the local run would
        with self._lock:
            chosen = min(range(len(self.actors)), key=self._load.__getitem__)
            self._load[chosen] += 1
        future = self.actors[chosen].analyse.remote(task).future()
        future.add_done_callback(lambda _: self._finished(chosen))
        return future

    def _finished(self, chosen: int) -> None:
        with self._lock:
            self._load[chosen] -= 1

    def close(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor)
        if self._started:
            ray.shutdown()


def ray_pool(spec: DetectorSpec, address: str, workers: int | None = None, concurrency: int = 1) -> RayRunner:
    return RayRunner(spec, address, workers, concurrency)
