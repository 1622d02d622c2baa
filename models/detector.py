"""The two-stage detector interface every backend implements.

Stage 1 (`scan`) looks at the whole image and proposes suspicious regions;
stage 2 (`examine`) zooms into given regions and returns the grounded verdict.
They are separate so an analyst can re-run stage 2 on boxes they drew or
corrected, and ask a question about one region.
"""

from __future__ import annotations

import functools
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

from models.image_input import LoadedImage
from models.types import Analysis, Region


# Told (regions examined so far, regions in all) as stage 2 goes, for a progress bar.
RegionProgress = Callable[[int, int], None]


class DetectorUnavailable(Exception):
    """A backend cannot start (weights or tables missing or malformed, a
    dependency absent); the message says what is missing and how to get it."""


class Detector(ABC):
    """A locate-then-examine detector."""

    name: str
    version: str

    def __init_subclass__(cls, **kwargs) -> None:
        """Every backend's examine() hands back its Analysis with the plain
        reading attached (models/reading.py), here, once for all of them."""
        super().__init_subclass__(**kwargs)
        examine = cls.__dict__.get("examine")
        if examine is None or getattr(examine, "attaches_reading", False):
            return

        @functools.wraps(examine)
        def examine_and_read(self, *args, **kwargs) -> Analysis:
            from models.reading import read_analysis

            analysis = examine(self, *args, **kwargs)
            analysis.reading = read_analysis(analysis)
            return analysis

        examine_and_read.attaches_reading = True  # type: ignore[attr-defined]
        cls.examine = examine_and_read  # type: ignore[method-assign]

    @abstractmethod
    def scan(self, image: LoadedImage) -> list[Region]:
        """Stage 1: propose suspicious regions, strongest first."""

    @abstractmethod
    def examine(self, image: LoadedImage, regions: Sequence[Region], question: str | None = None,
                on_region: RegionProgress | None = None) -> Analysis:
        """Stage 2: examine the given regions (zoomed in, against the whole image)
        and return the verdict.  With `question`, also answer it about the
        regions given (usually one) in `Analysis.answer`.  `on_region` hears
        of each region done; a backend that examines all of them in one pass
        reports them together when the pass ends."""

    def prepare(self, image: LoadedImage) -> None:
        """Work that may be done before an analysis is asked for, e.g. while
        the analyst reads the intake; it records nothing (none by default)."""

    def warm_up(self) -> None:
        """Pay the one-time costs of a first analysis (libraries that load on
        first use, a model's first pass) now, on nothing of the analyst's, so
        a batch worker's first file is not slower than its others; it
        records nothing (none by default: a model server is not sent work)."""

    def analyze(self, image: LoadedImage) -> Analysis:
        """Both stages, timed."""
        start = time.perf_counter()
        regions = self.scan(image)
        scanned = time.perf_counter()
        analysis = self.examine(image, regions)
        analysis.timings = {"scan": scanned - start, **analysis.timings}
        analysis.timings["total"] = time.perf_counter() - start
        return analysis
