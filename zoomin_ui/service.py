"""The workbench's service layer: what the command line, the tests and (later)
the Gradio app and the report call, so none of them talks to detectors,
image decoding or storage directly."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from models.detector import Detector, DetectorUnavailable
from models.image_input import IMAGE_SUFFIXES, ImageInputError, load_image
from models.registry import UnknownBackend, create_detector
from models.types import Analysis, Box, Region


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
    try:
        image = load_image(file, max_pixels=max_pixels)
    except ImageInputError as exc:
        raise WorkbenchError(str(exc), exc.code) from None
    if not boxes:
        return detector.analyze(image)
    regions = []
    for index, values in enumerate(boxes, 1):
        try:
            box = Box.from_list(values).clip(image.width, image.height)
        except ValueError as exc:
            raise WorkbenchError(f"{file}: box {list(values)} is not inside the "
                                 f"{image.width}x{image.height} image ({exc})", "bad-box") from None
        regions.append(Region(box=box, score=0.0, label="analyst box", id=f"a{index}"))
    return detector.examine(image, regions, question=question)


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
