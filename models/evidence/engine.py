"""The embedded evidence engine: the default, download-free two-stage detector.

scan    = signal maps at full resolution -> multi-scale tile cues (and the
          learned model's tile map) -> at most K boxes;
examine = per box: zoom in and compare with the rest of the image; per image:
          Content Credentials, generator/camera metadata, Stable Diffusion
          watermarks, the learned signal score, whether the image as
          delivered can carry a pixel-only call -> fusion into one verdict.

What one image costs to measure is kept for the next call on the same image
(by SHA-256), so re-examining analyst-drawn boxes or asking a question does
not measure the whole image again.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from models import __version__
from models.detector import Detector, DetectorUnavailable, RegionProgress
from models.evidence.c2pa_credentials import read_content_credentials
from models.evidence.delivery import assess_delivery
from models.evidence.examine import examine_region
from models.evidence.fusion import fuse
from models.evidence.generator_metadata import read_generator_metadata
from models.evidence.image_signals import ImageSignals
from models.evidence.maps import measure_local_maps
from models.evidence.maps.calibration import LocalCalibrationError, LocalMapCalibration
from models.evidence.questions import answer_question
from models.evidence.scan import Candidate, ScanSettings, candidates_from_grid, propose_regions, with_structure
from models.evidence.scan_calibration import DEFAULT_PATH as CALIBRATION_PATH
from models.evidence.scan_calibration import CalibrationError, ScanCalibration
from models.evidence.signal_maps import PixelEvidence
from models.evidence.signal_tiles import measure_tiles
from models.evidence.signal_model import SignalModel, SignalModelError, SignalScore, signal_evidence
from models.evidence.watermark import detect_sd_watermarks
from models.image_input import LoadedImage
from models.safe_text import Repairs, safe_value
from models.types import Analysis, Evidence, Region

MODEL_TILE_LABEL = "generator-like residuals (learned model)"
CACHED_IMAGES = 4


@dataclass
class _Measured:
    """What one image costs to measure, kept between scan, examine and questions."""

    signals: ImageSignals
    signal_score: SignalScore | None
    timings: dict[str, float]
    notes: list[str]
    evidence: list[Evidence]


class EvidenceEngine(Detector):
    """Provenance, metadata, watermarks and signal maps; no download, no GPU."""

    name = "evidence"

    def __init__(self, max_regions: int = 5, min_region_score: float = 0.9,
                 trust_anchors: str | Path | None = None, watermark_false_alarm: float = 1e-6,
                 signal_model: str | Path | None = None, calibration: str | Path | None = None):
        self.settings = ScanSettings(max_regions=max_regions, min_score=min_region_score)
        self.trust_anchors = trust_anchors
        self.watermark_false_alarm = watermark_false_alarm
        self.calibration_path = str(Path(calibration) if calibration else CALIBRATION_PATH)
        try:
            self.calibration = ScanCalibration.load(Path(self.calibration_path))
        except CalibrationError as exc:
            raise DetectorUnavailable(str(exc)) from None
        try:  # without its table the local maps cannot say how unusual a peak is: they propose nothing
            self.local_calibration: LocalMapCalibration | None = LocalMapCalibration.load()
        except LocalCalibrationError:
            self.local_calibration = None
        try:
            self.signal_model: SignalModel | None = SignalModel.load(Path(signal_model) if signal_model else None)
            self._model_problem = ""
        except SignalModelError as exc:
            if signal_model:  # a model the user asked for must load; the shipped one may be absent
                raise DetectorUnavailable(str(exc)) from None
            self.signal_model, self._model_problem = None, str(exc)
        self._cache: OrderedDict[str, _Measured] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._measuring: dict[str, threading.Event] = {}  # sha256 -> set when its measurement ends

    @property
    def version(self) -> str:
        model = _file_digest(self.signal_model.path)[:12] if self.signal_model else "none"
        return f"{__version__} (signal model sha256 {model})"

    # ------------------------------------------------------------------ stage 1

    def scan(self, image: LoadedImage) -> list[Region]:
        measured = self._measure(image)
        return propose_regions(measured.signals, self.settings, extra=self._model_candidates(measured))

    def _model_candidates(self, measured: _Measured) -> list[Candidate]:
        """The learned model's confident tiles, where the model calls the whole image AI at
        its measured threshold (elsewhere its tile scores boxed a quarter of untouched real
        photos, benchmarks/bench_splices.py), and only on tiles with structure."""
        score = measured.signal_score
        threshold = self.signal_model.thresholds.ai_threshold if self.signal_model is not None else None
        if score is None or threshold is None or score.probability < threshold:
            return []
        found = candidates_from_grid(score.tiles.values, MODEL_TILE_LABEL, score.tiles, self.settings)
        return with_structure(found, measured.signals)

    # ------------------------------------------------------------------ stage 2

    def examine(self, image: LoadedImage, regions: Sequence[Region], question: str | None = None,
                on_region: RegionProgress | None = None) -> Analysis:
        measured = self._measure(image)
        evidence = list(measured.evidence)
        start = time.perf_counter()
        examined = []
        for index, region in enumerate(regions, 1):
            examined.append(examine_region(_with_id(region, index), measured.signals))
            if on_region is not None:
                on_region(index, len(regions))
        fusion = fuse(evidence, examined)
        timings = {**measured.timings, "examine": time.perf_counter() - start}
        answer = answer_question(question, examined, evidence) if question else None
        return Analysis(
            file=image.name, sha256=image.sha256, size_bytes=image.size_bytes, format=image.format,
            width=image.width, height=image.height, verdict=fusion.verdict, score=fusion.score,
            regions=examined, evidence=evidence, explanation=fusion.explanation, backend=self.name,
            backend_version=self.version, timings=timings, notes=[*image.notes, *measured.notes],
            question=question, answer=answer, provenance=self.provenance(),
        )

    def provenance(self) -> dict:
        """Which tables and settings produced the result, for the case record."""
        import platform

        model = self.signal_model
        return {
            "backend": self.name, "version": __version__,
            "signal_model": {"sha256": _file_digest(model.path), "path": model.path} if model else None,
            "scan_calibration": {"sha256": _file_digest(self.calibration_path),
                                 "real_photos": self.calibration.reference_photos},
            "parameters": {"max_regions": self.settings.max_regions, "min_region_score": self.settings.min_score,
                           "watermark_false_alarm": self.watermark_false_alarm,
                           "trust_anchors": str(self.trust_anchors) if self.trust_anchors else None},
            "software": {"python": platform.python_version(), **_library_versions()},
        }

    def image_evidence(self, image: LoadedImage) -> list[Evidence]:
        """The image-level findings alone (Content Credentials, metadata,
        watermark, learned score), e.g. as context for another backend."""
        return list(self._measure(image).evidence)

    # ------------------------------------------------------------------ measuring, once per image

    def prepare(self, image: LoadedImage) -> None:
        """Measure the image ahead of its analysis (kept with the last few)."""
        self._measure(image)

    def warm_up(self) -> None:
        """One small made-up photo measured: the first call of the C2PA
        reader (its library and the trust list) and of the learned score
        (torch's first pass) cost seconds, once per process."""
        from models.image_input import load_image
        from models.sample_images import camera_like_photo, encode

        self._measure_now(load_image(encode(camera_like_photo(256, 320, seed=0), "JPEG"), name="warm-up.jpg"))

    def _measure(self, image: LoadedImage) -> _Measured:
        """Measured once per image: a second caller (the analysis asked for
        while a prepare() of the upload runs) waits for the first."""
        while True:
            with self._cache_lock:
                cached = self._cache.get(image.sha256)
                if cached is not None:
                    self._cache.move_to_end(image.sha256)
                    return cached
                running = self._measuring.get(image.sha256)
                if running is None:
                    running = self._measuring[image.sha256] = threading.Event()
                    break
            running.wait()  # then read the cache (or measure, had the first caller failed)
        try:
            return self._measure_now(image)
        finally:
            with self._cache_lock:
                del self._measuring[image.sha256]
            running.set()

    def _measure_now(self, image: LoadedImage) -> _Measured:
        timings: dict[str, float] = {}
        notes: list[str] = []
        # The file checks, the learned score and the error level's JPEG round
        # trip run beside the rest of the pixel maps: all spend their time in
        # numpy, OpenCV, libjpeg and the C2PA library, which release the GIL,
        # so a second core shortens the wall time.  Alone on the main thread,
        # the maps and the local maps outlasted the other two by ~0.25 s on a
        # 12 MP photo while the second core idled.  (Not in a process that is one
        # core's work, a --jobs worker or a Ray actor: measure_on_one_thread.)
        file_checks = _POOL.submit(self._read_file_evidence, image, timings, notes)
        model_score = _POOL.submit(self._score, image, timings) if self.signal_model is not None else None
        start = time.perf_counter()
        pixels = PixelEvidence.compute(image.rgb, _POOL.submit)
        tiles = measure_tiles(pixels)
        timings["signal_maps"] = time.perf_counter() - start
        start = time.perf_counter()
        local_maps = measure_local_maps(image, pixels) if self.local_calibration is not None else []
        timings["local_maps"] = time.perf_counter() - start
        if not tiles:
            notes.append(f"the image ({image.width}x{image.height}) is too small for tile-level signal maps: "
                         "no regions can be proposed")
        score = model_score.result() if model_score is not None else None
        if self.signal_model is None:
            notes.append(f"learned signal model unavailable: {self._model_problem}")
        evidence = file_checks.result()
        if score is not None and self.signal_model is not None:
            evidence.append(signal_evidence(score, self.signal_model))
        start = time.perf_counter()
        delivery = assess_delivery(image.rgb, image.format, image.jpeg_quantization, evidence, score,
                                   self.signal_model)
        timings["delivery"] = time.perf_counter() - start
        if delivery is not None:
            evidence.append(delivery)
        signals = ImageSignals(pixels, tiles, self.calibration, score.tiles if score else None,
                               score.probability if score else None, local_maps=local_maps,
                               local_calibration=self.local_calibration)
        measured = _Measured(signals, score, timings, notes, evidence)
        with self._cache_lock:
            self._cache[image.sha256] = measured
            while len(self._cache) > CACHED_IMAGES:
                self._cache.popitem(last=False)
        return measured

    def _score(self, image: LoadedImage, timings: dict[str, float]) -> SignalScore:
        start = time.perf_counter()
        score = self.signal_model.score(image.rgb)
        timings["signal_model"] = time.perf_counter() - start
        return score

    def _read_file_evidence(self, image: LoadedImage, timings: dict[str, float], notes: list[str]) -> list[Evidence]:
        """Content Credentials, metadata and watermark; one failed check never loses the others."""
        evidence: list[Evidence] = []
        readers: list[tuple[str, Callable[[], list[Evidence]]]] = [
            ("provenance", lambda: read_content_credentials(image, self.trust_anchors)),
            ("metadata", lambda: read_generator_metadata(image)),
            ("watermark", lambda: detect_sd_watermarks(image, self.watermark_false_alarm)),
        ]
        for stage, read in readers:
            start = time.perf_counter()
            try:
                evidence += _made_safe(read(), stage, notes)
            except Exception as exc:
                notes.append(f"the {stage} check failed and was skipped: {exc}")
            timings[stage] = time.perf_counter() - start
        return evidence


_POOL: Executor = ThreadPoolExecutor(max_workers=3, thread_name_prefix="zoomin-evidence")


class _OnTheCallingThread(Executor):
    """Runs each task at once, where it is submitted: the futures are done when handed back."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - kept in the future, raised by .result() as a pool would
            future.set_exception(exc)
        return future


def measure_on_one_thread() -> None:
    """From now on this process measures each image on the calling thread alone: the file checks,
    the learned score and the error level's round trip no longer run on a pool beside the maps.
    For a process that is one core's work (a `--jobs` worker, a Ray actor): there, the pool's
    threads only fought the other workers for the cores."""
    global _POOL
    previous, _POOL = _POOL, _OnTheCallingThread()
    previous.shutdown(wait=False)  # its threads (started by a warm-up) would only sit idle


def _made_safe(found: list[Evidence], stage: str, notes: list[str]) -> list[Evidence]:
    """Findings read from the file enter the analysis here, once: text from a
    hostile or broken file (lone surrogates, NaN in its JSON) is made writable
    and the repair noted, so saving or printing the analysis cannot fail."""
    safe, repairs = [], Repairs()
    for item in found:
        (finding, details), repaired = safe_value([item.finding, item.details])
        safe.append(replace(item, finding=finding, details=details) if repaired else item)
        repairs.add(repaired)
    if repairs:
        notes.append(repairs.describe(f"the text the {stage} check read from the file"))
    return safe


@lru_cache(maxsize=8)
def _file_digest(path: str) -> str:
    """SHA-256 of a weights or table file: which exact tables produced a result."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return "unreadable"


def _library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("numpy", "opencv-python", "pillow", "c2pa-python"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    return found


def _with_id(region: Region, index: int) -> Region:
    if region.id:
        return region
    return Region(box=region.box, score=region.score, label=region.label, explanation=region.explanation,
                  evidence=list(region.evidence), id=f"r{index}")

