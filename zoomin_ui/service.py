"""The workbench's service layer: what the command line, the tests and (later)
the Gradio app and the report call, so none of them talks to detectors,
image decoding or storage directly."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.detector import Detector, DetectorUnavailable, RegionProgress
from models.image_input import IMAGE_SUFFIXES, ImageInputError, LoadedImage, load_image
from models.registry import UnknownBackend, create_detector
from models.safe_text import safe_text
from models.types import Analysis, Box, Region

if TYPE_CHECKING:  # the case store (SQLAlchemy, Alembic) loads only when a command uses it
    from storage import BackendInfo, CaseStore


class WorkbenchError(Exception):
    """A failure the user can act on; `code` names its kind for JSON output."""

    def __init__(self, message: str, code: str = "error"):
        super().__init__(message)
        self.code = code


def looks_like_image(path: Path) -> bool:
    """Whether a folder entry is worth analysing (content is checked on load)."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def open_detector(backend: str = "evidence", **options: Any) -> Detector:
    try:
        return create_detector(backend, **options)
    except (UnknownBackend, DetectorUnavailable) as exc:
        raise WorkbenchError(str(exc), "config") from None
    except (ValueError, OSError) as exc:
        raise WorkbenchError(f"cannot start the {backend} backend: {exc}", "config") from None


def analyze_file(detector: Detector, file: str, max_pixels: int | None = None,
                 boxes: Sequence[Sequence[float]] = (), question: str | None = None) -> Analysis:
    """Analyse one file.  With `boxes`, skip the scan and examine those boxes only."""
    return analyze_image(detector, _load(file, max_pixels), file, boxes, question)


def analyze_image(detector: Detector, image: LoadedImage, file: str, boxes: Sequence[Sequence[float]] = (),
                  question: str | None = None) -> Analysis:
    """`analyze_file` for an image already read (a batch worker handed its bytes)."""
    return _run(detector, image, _analyst_regions(image, file, boxes), question)


def _load(file: str, max_pixels: int | None) -> LoadedImage:
    try:
        return load_image(file, max_pixels=max_pixels)
    except ImageInputError as exc:
        raise WorkbenchError(str(exc), exc.code) from None


def _analyst_regions(image: LoadedImage, file: str, boxes: Sequence[Sequence[float]]) -> list[Region]:
    regions = []
    for index, values in enumerate(boxes, 1):
        try:
            box = Box.from_list(values).clip(image.width, image.height)
        except ValueError as exc:
            raise WorkbenchError(f"{file}: box {list(values)} is not inside the "
                                 f"{image.width}x{image.height} image ({exc})", "bad-box") from None
        regions.append(Region(box=box, score=0.0, label="analyst box", id=f"a{index}"))
    return regions


def _run(detector: Detector, image: LoadedImage, regions: list[Region], question: str | None,
         on_region: RegionProgress | None = None) -> Analysis:
    try:
        if not regions:
            return detector.analyze(image)
        return detector.examine(image, regions, question=question, on_region=on_region)
    except MemoryError:  # the maps of a huge image: this file fails, the batch and the page go on
        raise WorkbenchError(f"{image.name}: a {image.width}x{image.height} image needs more memory than is "
                             "available to analyse", "too-large") from None


# ---------------------------------------------------------------------- the case store


@dataclass(frozen=True)
class SavedAnalysis:
    analysis: Analysis
    case_id: int
    analysis_id: int
    evidence_file_id: int


def open_store(home: str | None = None, url: str | None = None) -> CaseStore:
    """The case store in `home` / `url` (default: ZOOMIN_HOME / DATABASE_URL)."""
    from storage import CaseStore, StoreError

    try:
        return CaseStore.open(home, url)
    except StoreError as exc:
        raise WorkbenchError(str(exc), exc.code) from None


def backend_info(detector: Detector) -> BackendInfo:
    """What the record keeps about a detector; backends with model weights
    may name them (model_id, model_revision, quantization attributes)."""
    from storage import BackendInfo

    return BackendInfo(backend=detector.name, backend_version=detector.version,
                       model_id=str(getattr(detector, "model_id", "") or ""),
                       model_revision=str(getattr(detector, "model_revision", "") or ""),
                       quantization=str(getattr(detector, "quantization", "") or ""))


def analyze_and_save(store: CaseStore, detector: Detector, file: str, analyst: str, *, case_id: int | None = None,
                     title: str | None = None, max_pixels: int | None = None,
                     boxes: Sequence[Sequence[float]] = (), question: str | None = None,
                     parameters: dict[str, Any] | None = None) -> SavedAnalysis:
    """Analyse one file and record it: the file as evidence (in case `case_id`,
    or a new case), the run as `running` before the detector starts, its result
    when it ends.  A file that cannot be read saves nothing."""
    started = start_saved_run(store, backend_info(detector), file, analyst, case_id=case_id, title=title,
                              max_pixels=max_pixels, boxes=boxes, question=question, parameters=parameters)
    return finish_run(store, detector, started.image, started.regions, question, started.run_id, started.case_id,
                      started.evidence_file_id)


@dataclass(frozen=True)
class StartedRun:
    """A file taken in as evidence and its run recorded `running`; the detector has not run yet."""

    image: LoadedImage
    regions: list[Region]
    run_id: int
    case_id: int
    evidence_file_id: int


def start_saved_run(store: CaseStore, backend: BackendInfo, file: str, analyst: str, *, case_id: int | None = None,
                    title: str | None = None, max_pixels: int | None = None,
                    boxes: Sequence[Sequence[float]] = (), question: str | None = None,
                    parameters: dict[str, Any] | None = None) -> StartedRun:
    """The first half of `analyze_and_save`, so a batch's one writer can record
    the run before a worker process runs the detector on it."""
    from storage import StoreError

    image = _load(file, max_pixels)
    regions = _analyst_regions(image, file, boxes)
    name = safe_text(Path(file).name)  # bytes that are not UTF-8 in a file name cannot be stored
    try:
        if case_id is None:
            intake = store.open_case_with_evidence(title or name, image, analyst, original_name=name)
        else:
            intake = store.add_evidence_file(case_id, image, analyst, original_name=name)
        settings = {**(parameters or {}), "boxes": [list(map(float, b)) for b in boxes], "question": question}
        run = store.start_analysis(intake.record.case_id, intake.record.id, backend, analyst, settings)
    except StoreError as exc:
        raise WorkbenchError(f"{file}: not saved: {exc}", exc.code) from None
    return StartedRun(image, regions, run.id, intake.record.case_id, intake.record.id)


def rerun_analysis(store: CaseStore, detector: Detector, analysis_id: int, analyst: str) -> SavedAnalysis:
    """Run a recorded analysis again (e.g. an interrupted one) on the stored,
    hash-checked evidence file, with the same boxes and question."""
    from storage import StoreError

    try:
        previous = store.get_analysis(analysis_id)
        record = store.get_evidence_file(previous.evidence_file_id)
        data = store.evidence_bytes(record.id)
        image = load_image(data, name=record.original_name)
    except StoreError as exc:
        raise WorkbenchError(str(exc), exc.code) from None
    except ImageInputError as exc:
        raise WorkbenchError(str(exc), exc.code) from None
    boxes = previous.parameters.get("boxes") or []
    question = previous.parameters.get("question")
    try:
        run = store.start_analysis(record.case_id, record.id, backend_info(detector), analyst,
                                   {**previous.parameters, "rerun_of": analysis_id})
    except StoreError as exc:
        raise WorkbenchError(str(exc), exc.code) from None
    regions = _recorded_keys(_analyst_regions(image, record.original_name, boxes), previous.parameters)
    return finish_run(store, detector, image, regions, question, run.id, record.case_id, record.id)


def _recorded_keys(regions: list[Region], parameters: dict[str, Any]) -> list[Region]:
    """A workbench re-run recorded which region each box was (its key, who drew
    it); running it again gives each box that key back, so the new regions
    keep who drew them."""
    from storage.convert import EXAMINED_REGIONS

    examined = parameters.get(EXAMINED_REGIONS) or []
    if len(examined) != len(regions):
        return regions
    return [replace(region, id=str(item.get("key") or region.id)) for region, item in zip(regions, examined)]


def finish_run(store: CaseStore, detector: Detector, image: LoadedImage, regions: list[Region],
               question: str | None, run_id: int, case_id: int, evidence_file_id: int,
               on_region: RegionProgress | None = None) -> SavedAnalysis:
    """Run the detector for a run already recorded `running`; record its
    result, or its failure (and re-raise) so no run is left `running`."""
    from storage import StoreError

    try:
        analysis = _run(detector, image, regions, question, on_region)
        store.finish_analysis(run_id, analysis)
    except BaseException as exc:
        message = str(exc) if isinstance(exc, StoreError) else f"{type(exc).__name__}: {exc}"
        try:
            store.fail_analysis(run_id, message)
        except StoreError:
            pass  # the run stays `running`; the next start marks it interrupted
        if isinstance(exc, StoreError):
            raise WorkbenchError(f"{image.name}: analysis {run_id} not recorded: {exc}", exc.code) from None
        raise
    return SavedAnalysis(analysis, case_id, run_id, evidence_file_id)


def write_demo_images(folder: Path) -> list[tuple[Path, str]]:
    """Synthetic samples that show what the engine does (nothing shipped, nothing downloaded)."""
    from PIL import PngImagePlugin

    from models.sample_images import camera_like_photo, encode, paste_resampled_patch

    folder.mkdir(parents=True, exist_ok=True)
    photo = camera_like_photo(768, 1024, seed=7)
    composite = folder / "camera-photo-with-upscaled-patch.png"
    composite.write_bytes(encode(paste_resampled_patch(photo, Box(560, 180, 816, 436)), "PNG"))
    infotext = PngImagePlugin.PngInfo()
    infotext.add_text("parameters", "a lighthouse at dusk, volumetric light\nNegative prompt: blurry\n"
                      "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 768x512, "
                      "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly")
    generated = folder / "image-with-generator-metadata.png"
    generated.write_bytes(encode(camera_like_photo(512, 768, seed=11), "PNG", pnginfo=infotext))
    return [
        (composite, "synthetic camera-like photo; pixels 560-816 x 180-436 were re-rendered at half "
                    "resolution and upscaled 2x (a compositing trace the scan should box)"),
        (generated, "synthetic image carrying an AUTOMATIC1111 'parameters' text chunk, as Stable "
                    "Diffusion web UIs write it (the metadata check should decide)"),
    ]
