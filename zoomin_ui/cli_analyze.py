"""`zoomin analyze`'s batch flags and its loop: which runner does the work
(zoomin_ui/parallel.py), the progress bar, `--resume` and `--save`'s one
writer (zoomin_ui/batch.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import click

from zoomin_ui import service
from zoomin_ui.batch import Outcome, SaveTo, analysed_hashes, run_batch
from zoomin_ui.parallel import DetectorSpec, RunnerError, open_runner


def batch_options(command: Callable) -> Callable:
    """The flags that choose where a batch runs."""
    for option in reversed([
        click.option("--jobs", "-j", type=click.IntRange(1, 512), default=None,
                     help="Worker processes, each loading the detector once (default: this machine's cores; "
                          "with --ray: the number of actors)."),
        click.option("--ordered", is_flag=True,
                     help="Print results in input order (default: as each finishes)."),
        click.option("--resume", type=click.Path(dir_okay=False), default=None, metavar="OUT.jsonl",
                     help="Skip inputs whose SHA-256 already has a result in this earlier --json output "
                          "(append the new lines to it with >>)."),
        click.option("--concurrency", type=click.IntRange(1, 256), default=None,
                     help="remote: requests kept in flight to the server, which batches them (default 1)."),
        click.option("--ray", "ray_address", default=None, metavar="ADDRESS|auto",
                     help="Run the batch on a Ray cluster (pip install '.[cluster]'): one detector per actor."),
    ]):
        command = option(command)
    return command


def run_analyze(files: list[str], backend: str, options: dict[str, Any], *, jobs: int | None, ordered: bool,
                resume: str | None, concurrency: int | None, ray_address: str | None, max_pixels: int | None,
                boxes: Sequence[Sequence[float]], question: str | None,
                save: tuple[int | None, str | None, str | None, dict[str, Any]] | None
                ) -> Iterator[tuple[Outcome, Callable[[str], None]]]:
    """Each input's Outcome with the function that prints a result line
    without breaking the progress bar."""
    if concurrency is not None and backend != "remote":
        raise click.UsageError("--concurrency applies to --backend remote (the requests to a model server)")
    if backend == "remote":
        options = {**options, "concurrency": concurrency or 1}
    skip = analysed_hashes(Path(resume)) if resume else set()
    try:
        runner = open_runner(DetectorSpec(backend, options), len(files), jobs, concurrency or 1, ray_address)
    except (RunnerError, service.WorkbenchError) as exc:
        raise click.ClickException(str(exc)) from None
    bar = _progress(len(files), enabled=len(files) > 1)
    emit = bar.write if bar is not None else click.echo  # tqdm.write keeps the bar below the output
    store = None
    try:
        target = None
        if save is not None:
            from zoomin_ui.cli_cases import open_save_store, resolve_analyst

            case_id, title, analyst, parameters = save
            store = open_save_store(case_id)
            target = SaveTo(store, resolve_analyst(analyst), case_id, title, parameters)
        skipped = []
        for outcome in run_batch(runner, files, ordered=ordered, save=target, skip=skip, max_pixels=max_pixels,
                                 boxes=boxes, question=question,
                                 on_skip=lambda file: (skipped.append(file), bar and bar.update(1))):
            if bar is not None:
                bar.update(1)
            yield outcome, emit
        if skipped:
            click.echo(f"resumed: {len(skipped)} input(s) already in {resume} were skipped", err=True)
    finally:
        if bar is not None:
            bar.close()
        runner.close()
        if store is not None:
            store.close()


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="analysing", unit="image", file=sys.stderr, disable=None)
