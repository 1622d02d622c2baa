"""`zoomin cases similar | reindex | release` and `zoomin dataset from-cases | compare-versions`:
the newsroom's memory from the command line,
plus the "seen before" notice `zoomin analyze --save` prints before anything else.
Registered on the `cases` group (zoomin_ui/cli_cases.py) from zoomin_ui/cli.py."""

from __future__ import annotations

from collections.abc import Sequence

import click

from models.safe_text import strict_dumps
from zoomin_ui import memory, service
from zoomin_ui.cli_cases import analyst_option, opened_store, resolve_analyst
from zoomin_ui.terminal import SAFE_TEXT, echo, terminal_safe


@click.command("similar")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="The matches as a JSON array.")
def similar(file: str, as_json: bool) -> None:
    """Stored images near FILE (any case, and imported hash lists), nearest first."""
    with opened_store() as store:
        try:
            matches = memory.seen_before(store, file)
        except service.WorkbenchError as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        echo(strict_dumps([_match_json(m) for m in matches]))
        return
    if not matches:
        echo(f"{click.format_filename(file)}: not seen before (no stored image or listed hash is near it)")
    for match in matches:
        echo(terminal_safe(match.sentence()))


@click.command("reindex")
def reindex() -> None:
    """Compute the perceptual hashes of evidence stored before "seen before" existed."""
    with opened_store() as store:
        try:
            done, problems = memory.reindex(store)
        except service.WorkbenchError as exc:
            raise click.ClickException(str(exc)) from None
    for problem in problems:
        click.echo(terminal_safe(problem), err=True)
    echo(f"{done} evidence file(s) indexed" + (f"; {len(problems)} could not be" if problems else ""))


@click.command("release")
@click.argument("case_id", type=int)
@click.option("--withdraw", is_flag=True, help="Take the release back: the case is no longer training data.")
@click.option("--reason", default="", type=SAFE_TEXT, help="Why (kept in the audit trail).")
@analyst_option
def release(case_id: int, withdraw: bool, reason: str, analyst: str | None) -> None:
    """Allow the case's decisions (verdict, boxes, notes) to be used as training data."""
    with opened_store() as store:
        try:
            summary = memory.release_for_training(store, case_id, resolve_analyst(analyst), not withdraw, reason)
        except service.WorkbenchError as exc:
            raise click.ClickException(str(exc)) from None
    state = "withdrawn from" if withdraw else "released as"
    echo(terminal_safe(f"case {summary.id} ({summary.title}): {state} training data"))


def announce_seen_before(files: Sequence[str], max_pixels: int | None, case_id: int | None) -> None:
    """For `zoomin analyze --save`: every earlier sighting of each file, on stderr, before any
    analysis runs (a file that cannot be read is left to the analysis to report)."""
    try:
        store = service.open_store()
    except service.WorkbenchError:
        return  # the save itself reports a store that cannot be opened
    try:
        for file in files:
            try:
                lines = memory.seen_before_lines(store, file, click.format_filename(file), excluding_case=case_id)
            except service.WorkbenchError:
                continue
            for line in lines:
                click.echo(terminal_safe(line), err=True)
    finally:
        store.close()


def _match_json(match) -> dict:
    image, listed = match.image, match.listed
    return {"sentence": match.sentence(), "transform": match.transform, "method": match.method,
            "distance": match.distance, "keypoints": match.keypoints,
            "case_id": image.case_id if image else None, "evidence_file_id": image.evidence_file_id if image else None,
            "file_name": image.file_name if image else None, "final_verdict": image.final_verdict if image else None,
            "concluded_by": image.concluded_by if image else None,
            "concluded_at": image.concluded_at.isoformat() if image and image.concluded_at else None,
            "list_source": listed.source if listed else None, "list_verdict": listed.verdict if listed else None}


@click.command("from-cases")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The JSON Lines dataset to write.")
@click.option("--since", default=None, type=click.DateTime(["%Y-%m-%d"]), help="Cases last changed on or after.")
@click.option("--verdict", default=None, type=click.Choice(["ai-generated", "real"]))
@click.option("--test-share", default=0.2, show_default=True, type=click.FloatRange(0, 1),
              help="Share of near-duplicate groups marked extra.split=test.")
def from_cases(out: str, since, verdict: str | None, test_share: float) -> None:
    """The analysts' decisions as a dataset: released, concluded cases only."""
    from datetime import timezone

    from models.dataset.from_cases import records_from_cases
    from models.dataset.jsonl import write_dataset

    with opened_store() as store:
        summary = records_from_cases(store, since=since.replace(tzinfo=timezone.utc) if since else None,
                                     verdict=verdict, test_share=test_share)
        written = write_dataset(out, summary.records)
    skipped = "; ".join(f"{count} {why}" for why, count in summary.cases_skipped.items())
    echo(f"{written} record(s) from {summary.cases_used} released case(s) written to {click.format_filename(out)}"
         + (f" (left out: {skipped})" if skipped else ""))


@click.command("compare-versions")
@click.argument("dataset", type=click.Path(exists=True, dir_okay=False))
@click.option("--model", "models", multiple=True, metavar="NAME=WEIGHTS",
              help="A version to score: NAME=path/to/signal_model.json, or 'shipped' for the shipped weights "
                   "(repeatable; default: shipped).")
@click.option("--split", default="test", show_default=True, help="The records' extra.split to use ('all': every one).")
@click.option("--json", "as_json", is_flag=True, help="The figures as JSON instead of a table.")
def compare_versions(dataset: str, models: tuple[str, ...], split: str, as_json: bool) -> None:
    """Signal-score versions side by side on a from-cases DATASET's split (say shipped and re-fitted)."""
    from pathlib import Path

    from models.dataset.validation import DatasetError
    from models.evaluation.versions import compare_versions as compare, split_images, versions_table
    from models.evidence.signal_model import SignalModel, SignalModelError

    loaded = {}
    for given in models or ("shipped",):
        name, _, weights = given.partition("=")
        if not name.strip() or (name.strip() != "shipped" and not weights.strip()):
            raise click.BadParameter(f"{given!r}: give NAME=WEIGHTS or 'shipped'", param_hint="--model")
        if name.strip() in loaded:
            raise click.BadParameter(f"the version name {name.strip()!r} is given twice", param_hint="--model")
        try:
            loaded[name.strip()] = SignalModel.load(Path(weights.strip()) if weights.strip() else None)
        except SignalModelError as exc:
            raise click.ClickException(str(exc)) from None
    try:
        images = split_images(Path(dataset), None if split == "all" else split)
    except (DatasetError, ValueError, OSError) as exc:
        raise click.ClickException(f"{click.format_filename(dataset)}: {exc}") from None
    result = compare(images, loaded)
    if as_json:
        click.echo(strict_dumps({"split": split, "versions": [r.as_dict() for r in result.versions],
                                 "unreadable": result.unreadable}))
    else:
        echo(versions_table(result))


def register(cases_group: click.Group, dataset_group: click.Group) -> None:
    for command in (similar, reindex, release):
        cases_group.add_command(command)
    dataset_group.add_command(from_cases)
    dataset_group.add_command(compare_versions)
