"""`zoomin dataset …` (annotate, validate, import) and `zoomin eval`.

Thin: parsing and messages here, the work in models.dataset and models.evaluation.
"""

from __future__ import annotations

from pathlib import Path

import click

from models.registry import BACKENDS
from models.safe_text import strict_dumps
from models.vlm.families import FAMILY_NAMES
from zoomin_ui.terminal import echo


def _model_flags(function):
    """The vision-language options of `zoomin analyze`, for annotate and eval."""
    options = [
        click.option("--model", default=None, help="vlm: Hugging Face id or local folder; remote: served model name."),
        click.option("--quant", type=click.Choice(["4bit", "8bit", "none"]), default=None,
                     help="vlm: weight quantization."),
        click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None, help="vlm: where the model runs."),
        click.option("--base-url", default=None, help="remote: OpenAI-compatible base URL (or ZOOMIN_REMOTE_BASE_URL)."),
        click.option("--api-key", default=None, help="remote: API key (or ZOOMIN_REMOTE_API_KEY / OPENAI_API_KEY)."),
        click.option("--family", type=click.Choice(FAMILY_NAMES), default=None,
                     help="remote: the served model's family (default: from the model name)."),
        click.option("--max-new-tokens", type=click.IntRange(1, 32768), default=None,
                     help="vlm/remote: at most this many tokens per answer."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _checked_model_options(backend: str, given: dict) -> dict:
    from zoomin_ui.cli import _model_options  # lazy: cli imports this module

    return _model_options(backend, given)


@click.command("eval")
@click.argument("dataset", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Folder for metrics.json, report.md, predictions.jsonl and the plots.")
@click.option("--backend", default="evidence", show_default=True, type=click.Choice(sorted(BACKENDS)))
@click.option("--perturb", default="none", show_default=True,
              help="Comma-separated: none, strip, jpeg80, half, both (docs/evaluation.md).")
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the first N images.")
@click.option("--group-by", "group_by", multiple=True, metavar="COLUMN",
              help="Also report metrics per value of this CSV column / record extra field (repeatable).")
@click.option("--max-pixels", type=click.IntRange(1), default=None, help="Refuse larger images.")
@_model_flags
def eval_command(dataset: str, out: str, backend: str, perturb: str, limit: int | None, group_by: tuple[str, ...],
                 max_pixels: int | None, **model_options) -> None:
    """Measure a backend on DATASET (.jsonl split or labelled .csv with file,label[,generator])."""
    from models.dataset.validation import DatasetError
    from models.evaluation.perturb import parse_perturbations
    from models.evaluation.report import write_report
    from models.evaluation.runner import load_items, run_evaluation
    from zoomin_ui import service

    try:
        perturbations = parse_perturbations(perturb)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--perturb") from None
    try:
        items = load_items(dataset)
    except DatasetError as exc:
        raise click.ClickException(f"{dataset}: {exc}") from None
    items = items[:limit] if limit else items
    try:
        detector = service.open_detector(backend, **_checked_model_options(backend, model_options))
    except service.WorkbenchError as exc:
        raise click.ClickException(str(exc)) from None
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "predictions.jsonl").open("w", encoding="utf-8") as log:
        def keep(perturbation: str, prediction) -> None:  # a long run's partial results survive a crash
            log.write(strict_dumps({"perturbation": perturbation, "path": prediction.path,
                                    "label": prediction.label, "generator": prediction.generator,
                                    "score": round(prediction.score, 4), "verdict": prediction.verdict}) + "\n")
            log.flush()

        run = run_evaluation(detector, items, perturbations, source=dataset, max_pixels=max_pixels,
                             on_prediction=keep)
    summary = write_report(run, folder, group_by)
    for name, result in summary["perturbations"].items():
        m = result["overall"]
        click.echo(f"{name:7s} n={m['count']} accuracy={_show(m['accuracy'])} F1={_show(m['f1'])} "
                   f"AUC={_show(m['roc_auc'])} IoU={_show(m['mean_box_iou'])}")
    if run.failures:
        click.echo(f"{len(run.failures)} image run(s) failed; listed in {folder / 'metrics.json'}", err=True)
    click.echo(f"report: {folder / 'report.md'}")


def _show(value) -> str:
    return "–" if value is None else f"{value:.3f}"


@click.group("dataset")
def dataset() -> None:
    """Explainable-detection datasets: annotate, validate, import (docs/dataset.md)."""


@dataset.command("validate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--no-files", is_flag=True, help="Do not check that the image files exist.")
def validate(file: str, no_files: bool) -> None:
    """Check a JSONL split: every problem with its line number."""
    from models.dataset.jsonl import DatasetError, dataset_problems

    try:
        rows, problems = dataset_problems(file, check_files=not no_files)
    except DatasetError as exc:
        raise click.ClickException(str(exc)) from None
    for problem in problems:
        echo(f"{file}:{problem}", err=True, keep_newlines=False)
    if problems:
        raise click.ClickException(f"{len(problems)} problem(s) in {rows} row(s)")
    click.echo(f"{file}: {rows} row(s), no problems")


@dataset.command("import")
@click.argument("format_name", metavar="FORMAT", type=click.Choice(["legion", "synthscars", "fakeclue"]))
@click.argument("src", type=click.Path(exists=True, dir_okay=False))
@click.option("--images", type=click.Path(exists=True, file_okay=False), required=True,
              help="Folder holding the images the annotation file names.")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="The JSONL split to write.")
def import_command(format_name: str, src: str, images: str, out: str) -> None:
    """Convert FORMAT annotations in SRC (LEGION/SynthScars or FakeClue JSON) into a JSONL split."""
    from models.dataset.importers import IMPORTERS
    from models.dataset.jsonl import DatasetError, write_dataset

    try:
        result = IMPORTERS[format_name](Path(src), Path(images))
        if not result.records:
            raise DatasetError(f"no usable entry in {src}"
                               + (f" (first problem: {result.skipped[0][0]}: {result.skipped[0][1]})"
                                  if result.skipped else ""))
        count = write_dataset(out, result.records)
    except DatasetError as exc:
        raise click.ClickException(str(exc)) from None
    for entry, reason in result.skipped:
        echo(f"skipped {entry}: {reason}", err=True, keep_newlines=False)
    click.echo(f"{count} record(s) written to {out}; {len(result.skipped)} skipped")


@dataset.command("annotate")
@click.argument("folder", metavar="DIR", type=click.Path(exists=True, file_okay=False))
@click.option("--labels", type=click.Path(exists=True, dir_okay=False), required=True,
              help="CSV with columns file (relative to DIR) and label (real/fake), optional generator.")
@click.option("--backend", type=click.Choice(["vlm", "remote"]), required=True,
              help="vlm: a Qwen2.5-VL, Qwen3-VL or Qwen3.5 checkpoint run here; remote: an OpenAI-compatible server.")
@click.option("--out", type=click.Path(dir_okay=False), required=True,
              help="The JSONL split to write; images already in it are skipped (resume).")
@click.option("--retries", type=click.IntRange(0, 10), default=2, show_default=True,
              help="Ask again this many times when an answer or a box is unusable.")
@click.option("--max-pixels", type=click.IntRange(1), default=None, help="Refuse larger images.")
@_model_flags
def annotate(folder: str, labels: str, backend: str, out: str, retries: int, max_pixels: int | None,
             **model_options) -> None:
    """Write explanations and artefact boxes for the labelled images in DIR with a vision-language model."""
    from models.dataset.annotate import AnnotationSettings, TwoStepAnnotator, annotate_images
    from models.dataset.labels_csv import read_labels_csv
    from models.dataset.validation import DatasetError
    from zoomin_ui import service

    try:
        items = read_labels_csv(labels, images=folder)
    except DatasetError as exc:
        raise click.ClickException(f"{labels}: {exc}") from None
    try:
        detector = service.open_detector(backend, **_checked_model_options(backend, model_options))
    except service.WorkbenchError as exc:
        raise click.ClickException(str(exc)) from None
    settings = AnnotationSettings(retries=retries, max_new_tokens=detector.settings.max_new_tokens,
                                  max_image_pixels=detector.settings.max_image_pixels,
                                  box_units=detector.settings.box_units)
    try:
        summary = annotate_images(items, Path(out), TwoStepAnnotator(detector.transport, settings, backend),
                                  max_pixels=max_pixels)
    except DatasetError as exc:  # the existing output file is not a valid split: refuse to append to it
        raise click.ClickException(f"{out}: {exc}") from None
    first, *details = summary.lines()
    for line in details:
        echo(line, err=True, keep_newlines=False)
    echo(first, keep_newlines=False)
