"""The `zoomin` command line."""

from __future__ import annotations

from models.heap import reuse_large_blocks

reuse_large_blocks()  # before numpy, torch and OpenCV start their threads (models/heap.py)

import os  # noqa: E402
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import click

from models import __version__
from models.detector import DetectorUnavailable
from models.registry import BACKENDS
from models.safe_text import strict_dumps
from models.vlm.families import FAMILY_NAMES
from zoomin_ui import service
from zoomin_ui.cli_analyze import batch_options, run_analyze
from zoomin_ui.cli_cases import cases, verify
from zoomin_ui.cli_keys import keys
from zoomin_ui.cli_hashlist import hashlist
from zoomin_ui.cli_memory import announce_seen_before, register as register_memory
from zoomin_ui.cli_models import suggest
from zoomin_ui.cli_trust import trust
from zoomin_ui.cli_dataset import dataset, eval_command
from zoomin_ui.cli_report import report
from zoomin_ui.cli_train import train
from zoomin_ui.cli_users import users
from zoomin_ui.summary import render_analysis
from zoomin_ui.terminal import SAFE_TEXT, TerminalSafeGroup, echo, terminal_safe


@click.group(cls=TerminalSafeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="zoomin")
def main() -> None:
    """ZoomIn Workbench: is this image AI-generated, where is the evidence, and why."""


def _expand(paths: tuple[str, ...], recursive: bool) -> Iterator[str]:
    """Files as the user named them; a folder becomes its image files, sorted."""
    for given in paths:
        folder = Path(given)
        if folder.is_dir():
            found = folder.rglob("*") if recursive else folder.iterdir()
            for path in sorted(p for p in found if p.is_file() and service.looks_like_image(p)):
                yield os.path.join(given, str(path.relative_to(folder)))
        else:
            yield given


def _parse_box(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        values = []
    if len(values) != 4:
        raise click.BadParameter(f"a box is four numbers x1,y1,x2,y2 in displayed pixels, got {text!r}")
    return values


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per image (JSON Lines); see docs/json-output.md.")
@click.option("--backend", default="evidence", show_default=True, type=click.Choice(sorted(BACKENDS)))
@click.option("--max-regions", default=5, show_default=True, type=click.IntRange(0, 50),
              help="At most this many suspicious regions per image.")
@click.option("--max-pixels", type=click.IntRange(1), default=None,
              help="Refuse larger images (decompression-bomb guard; default 100 MP or ZOOMIN_MAX_PIXELS).")
@click.option("--trust-anchors", type=click.Path(dir_okay=False), default=None,
              help="PEM file of C2PA signer roots to trust besides the C2PA trust list "
                   "(default: ZOOMIN_C2PA_TRUST_ANCHORS).")
@click.option("--box", "boxes", multiple=True, metavar="X1,Y1,X2,Y2",
              help="Skip the scan and examine these boxes only (repeatable).")
@click.option("--question", default=None, type=SAFE_TEXT, help="Ask a question about the boxes given with --box.")
@click.option("--model", default=None,
              help="vlm: Hugging Face id or local folder (default: Qwen2.5-VL 7B on a GPU, 3B on CPU); "
                   "remote: the served model's name.")
@click.option("--quant", type=click.Choice(["4bit", "8bit", "none"]), default=None,
              help="vlm: weight quantization (default: 4bit where bitsandbytes supports the device).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None,
              help="vlm: where the model runs (default: CUDA when present).")
@click.option("--base-url", default=None,
              help="remote: OpenAI-compatible base URL, e.g. http://host:8000/v1 (or ZOOMIN_REMOTE_BASE_URL).")
@click.option("--api-key", default=None, help="remote: API key (default: ZOOMIN_REMOTE_API_KEY or OPENAI_API_KEY).")
@click.option("--family", type=click.Choice(FAMILY_NAMES), default=None,
              help="remote: the served model's family (qwen3-vl boxes are 0-1000, qwen2.5-vl's pixels); "
                   "default: read from the model name (or ZOOMIN_REMOTE_FAMILY).")
@click.option("--max-new-tokens", type=click.IntRange(1, 32768), default=None,
              help="vlm/remote: at most this many tokens per answer (default 512).")
@click.option("--evidence-context/--no-evidence-context", default=None,
              help="vlm/remote: give the model the file's provenance, metadata and watermark findings "
                   "and keep them beside its answer (default: on).")
@click.option("-r", "--recursive", is_flag=True, help="Descend into sub-folders of folder arguments.")
@click.option("--save", is_flag=True, help="Record each image and its analysis as a case (in ZOOMIN_HOME).")
@click.option("--case", "case_id", type=int, default=None, help="With --save: add to this case, not a new one.")
@click.option("--title", default=None, type=SAFE_TEXT,
              help="With --save: the new case's title (default: the file name).")
@click.option("--analyst", default=None, type=SAFE_TEXT,
              help="With --save: who ran it (default: ZOOMIN_ANALYST or the OS user).")
@batch_options
def analyze(paths: tuple[str, ...], as_json: bool, backend: str, max_regions: int, max_pixels: int | None,
            trust_anchors: str | None, boxes: tuple[str, ...], question: str | None, recursive: bool,
            save: bool, case_id: int | None, title: str | None, analyst: str | None, jobs: int | None,
            ordered: bool, resume: str | None, concurrency: int | None, ray_address: str | None,
            **model_options) -> None:
    """Analyse images (files or folders): verdict, score, regions and the evidence behind them."""
    if question and not boxes:
        raise click.UsageError("--question needs the region(s) it is about: give them with --box")
    if not save and (case_id is not None or title or analyst):
        raise click.UsageError("--case, --title and --analyst go with --save")
    parsed_boxes = [_parse_box(b) for b in boxes]
    options = {"max_regions": max_regions}
    if trust_anchors:
        options["trust_anchors"] = trust_anchors
    options.update(_model_options(backend, model_options))
    files = list(_expand(paths, recursive))
    if not files:
        raise click.ClickException("no image files found in the given folder(s)")
    if save:  # told before anything else: this image (or a near copy) was decided before
        announce_seen_before(files, max_pixels, case_id)
    outcomes = run_analyze(files, backend, options, jobs=jobs, ordered=ordered, resume=resume,
                           concurrency=concurrency, ray_address=ray_address, max_pixels=max_pixels,
                           boxes=parsed_boxes, question=question,
                           save=(case_id, title, analyst, {"max_regions": max_regions, "max_pixels": max_pixels})
                           if save else None)
    analysed = failed = 0
    for outcome, emit in outcomes:
        if outcome.analysis is None:
            failed += 1
            _report_error(outcome.file, outcome.error, outcome.code, as_json)
            continue
        analysed += 1
        emit(strict_dumps(outcome.record()) if as_json else terminal_safe(render_analysis(outcome.analysis)) + "\n")
        if outcome.analysis_id and not as_json:
            click.echo(f"saved as case {outcome.case_id} (analysis {outcome.analysis_id})", err=True)
    if analysed == 0 and failed:  # everything skipped by --resume is not a failure
        sys.exit(1)


_MODEL_OPTIONS = {"vlm": {"model", "quant", "device", "max_new_tokens", "evidence_context"},
                  "remote": {"model", "base_url", "api_key", "family", "max_new_tokens", "evidence_context"}}


def _model_options(backend: str, given: dict) -> dict:
    """The vision-language options that were given, checked against the backend."""
    chosen = {name: value for name, value in given.items() if value is not None}
    misplaced = sorted(set(chosen) - _MODEL_OPTIONS.get(backend, set()))
    if misplaced:
        flags = ", ".join("--" + name.replace("_", "-") for name in misplaced)
        raise click.UsageError(f"{flags} cannot be used with --backend {backend}")
    return chosen


def _report_error(file: str, message: str, code: str, as_json: bool) -> None:
    if as_json:
        click.echo(strict_dumps({"file": file, "error": message, "error_code": code}))
    else:
        echo(f"error: {message}", err=True, keep_newlines=False)


@main.command()
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for the sample images (default: a new temporary folder).")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines instead of the readable summary.")
def demo(out: str | None, as_json: bool) -> None:
    """Make two synthetic sample images and analyse them (no files shipped, nothing downloaded)."""
    folder = Path(out) if out else Path(tempfile.mkdtemp(prefix="zoomin-demo-"))
    samples = service.write_demo_images(folder)
    echo(f"Sample images written to {folder}:", err=True)
    for path, description in samples:
        click.echo(f"  {path.name}: {description}", err=True)
    click.echo("", err=True)
    detector = service.open_detector("evidence")
    for path, _ in samples:
        analysis = service.analyze_file(detector, str(path))
        click.echo(strict_dumps(analysis.to_dict()) if as_json else terminal_safe(render_analysis(analysis)) + "\n")


@main.command("train-signal")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Where to write the weights JSON.")
@click.option("--report", type=click.Path(dir_okay=False), default=None, help="Also write a Markdown report here.")
@click.option("--seed", type=int, default=0, show_default=True)
def train_signal(manifest: str, out: str, report: str | None, seed: int) -> None:
    """Train the learned signal score on a labelled manifest (licence-filtered)."""
    from models.evidence.train_signal import train_signal_model

    try:
        train_signal_model(Path(manifest), Path(out), Path(report) if report else None, seed=seed)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None


@main.command("calibrate-scan")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Where to write the table JSON.")
def calibrate_scan(manifest: str, out: str) -> None:
    """Measure how unusual real photos' most unusual tiles get (the scan's reference)."""
    from models.evidence.scan_calibration import CalibrationError, calibrate_from_manifest

    try:
        table = calibrate_from_manifest(Path(manifest), Path(out))
    except (ValueError, OSError, CalibrationError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"calibrated on {table.record['real_photos']} real photos; written to {out}")


@main.command("backends")
def list_backends() -> None:
    """List the detector backends."""
    for name, (_, description) in sorted(BACKENDS.items()):
        click.echo(f"{name:10s} {description}")


@main.group("models")
def models_group() -> None:
    """Vision-language model weights for --backend vlm."""


@models_group.command("pull")
@click.argument("model_id")
@click.option("--revision", default=None, help="A branch, tag or commit of the model repository.")
def pull(model_id: str, revision: str | None) -> None:
    """Download MODEL_ID (e.g. Qwen/Qwen3-VL-4B-Instruct, Qwen/Qwen3.5-4B) into the Hugging Face cache for offline use."""
    from models.vlm.loading import pull_model

    try:
        folder = pull_model(model_id, revision)
    except DetectorUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{model_id} is in the local cache: {folder}")
    from models.vlm.families import UnknownFamily, for_checkpoint

    try:
        family = for_checkpoint(folder)
        click.echo(f"a {family.title} checkpoint ({family.cell} px image cells, boxes {family.box_convention})")
    except UnknownFamily as exc:
        click.echo(f"warning: {exc}", err=True)


models_group.add_command(suggest)


main.add_command(cases)
register_memory(cases, dataset)
main.add_command(hashlist)
main.add_command(verify)
main.add_command(keys)
main.add_command(trust)
main.add_command(report)
main.add_command(dataset)
main.add_command(eval_command)
main.add_command(train)
main.add_command(users)

if __name__ == "__main__":  # pragma: no cover
    main()
