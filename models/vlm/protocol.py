"""The locate-then-examine protocol, shared by the local and the remote backend.

Stage 1 (scan) shows the model the full image and asks for suspicious
regions; the boxes are read (parsing.py), mapped from the model's input grid
to displayed pixels (geometry.py), cleaned and capped.  When the model names
none, the evidence engine's proposals are examined instead, or failing those
a coarse grid, and the result says which.  Stage 2 (examine) shows the same
full image again with every region zoomed in, in one query, and reads the
per-region findings and the verdict (verdict.py decides what they mean).
Only the transport differs between backends.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from models.detector import Detector, DetectorUnavailable, RegionProgress
from models.image_input import LoadedImage
from models.types import Analysis, Evidence, Region
from models.vlm import prompts
from models.vlm.conversation import (Generation, GenerationRequest, ImagePart, TextPart, Transport,
                                     TransportError, Turn)
from models.vlm.families import DEFAULT_FAMILY
from models.vlm.geometry import ModelGrid, coarse_grid, merge_duplicates, resize_for_model, zoom_crop
from models.vlm.parsing import parse_examine, parse_scan
from models.vlm.regions import examined_regions, proposed_region
from models.vlm.settings import VLMSettings
from models.vlm.verdict import fuse_with_evidence, model_verdict, verdict_probability

CACHED_SCANS = 4
RAW_DELIMITER = "===== {stage} (model output, verbatim) ====="


@dataclass
class ScanRecord:
    """Stage 1's result for one image, kept so stage 2 can report it."""

    regions: list[Region]
    source: str                 # "model", "evidence-engine" or "grid"
    raw_output: str
    timings: dict[str, float]
    notes: list[str] = field(default_factory=list)
    parse_format: str = ""
    box_units: str = ""


class VisionLanguageDetector(Detector):
    """A two-stage detector whose stages are queries to a vision-language model."""

    def __init__(self, name: str, transport: Transport, settings: VLMSettings, load_seconds: float = 0.0,
                 trust_anchors: str | None = None):
        self.name = name
        self.trust_anchors = trust_anchors  # for the evidence engine's Content Credentials check
        self.transport = transport
        self.settings = settings
        # geometry, prompt wording and box units follow the model's family (families.py)
        self.family = getattr(transport, "family", DEFAULT_FAMILY)
        self.family_note = getattr(transport, "family_note", "")   # set where the family had to be assumed
        self.load_seconds = load_seconds
        self._load_unreported = load_seconds > 0
        self._scans: OrderedDict[str, ScanRecord] = OrderedDict()
        self._scans_lock = threading.Lock()
        self._engine = None
        self._engine_problem = ""

    @property
    def version(self) -> str:
        described = self.transport.describe()
        identity = described.get("revision") or (described.get("weights_sha256") or "")[:12] or "unknown"
        return f"{described.get('model_id', '?')}@{identity} {described.get('quantization', '')}".strip()

    # What the case store records about the run before it starts (see zoomin_ui.service.backend_info).
    @property
    def model_id(self) -> str:
        return str(self.transport.describe().get("model_id") or "")

    @property
    def model_revision(self) -> str:
        described = self.transport.describe()
        return str(described.get("revision") or described.get("weights_sha256") or "")

    @property
    def quantization(self) -> str:
        return str(self.transport.describe().get("quantization") or "")

    # ------------------------------------------------------------------ the shared prefix

    def _prefix(self, image: LoadedImage, context: str) -> tuple[list[Turn], ModelGrid, str]:
        grid = ModelGrid.for_image(image.width, image.height, self.settings.max_image_pixels, self.family)
        parts: list[TextPart | ImagePart] = [
            TextPart(prompts.IMAGE_INTRO.format(width=grid.model_width, height=grid.model_height) + "\n"),
            ImagePart(resize_for_model(image.rgb, grid))]
        if context:
            parts.append(TextPart("\n" + context + "\n"))
        key = hashlib.sha256(f"{image.sha256}|{self.settings.max_image_pixels}|{self.family.name}|{context}"
                             .encode()).hexdigest()
        return [Turn("system", (TextPart(prompts.SYSTEM),)), Turn("user", tuple(parts))], grid, key

    def _ask(self, turns: list[Turn], extra: Sequence[TextPart | ImagePart], stage: str, key: str,
             verdict_words: tuple[str, ...] = ()) -> Generation:
        user = Turn("user", (*turns[1].parts, *extra))
        request = GenerationRequest(turns=(turns[0], user), stage=stage,  # type: ignore[arg-type]
                                    max_new_tokens=self.settings.max_new_tokens,
                                    min_new_tokens=self.settings.min_new_tokens, prefix_key=key,
                                    verdict_words=verdict_words, shared_parts=len(turns[1].parts))
        try:
            return self.transport.generate(request)
        except TransportError as exc:
            raise DetectorUnavailable(f"{self.name} backend, {stage} query: {exc}") from None

    # ------------------------------------------------------------------ stage 1

    def scan(self, image: LoadedImage) -> list[Region]:
        return self._scan(image).regions

    def _scan(self, image: LoadedImage) -> ScanRecord:
        timings: dict[str, float] = {}
        context, evidence_notes = self._context(image, timings)
        turns, grid, key = self._prefix(image, context)
        start = time.perf_counter()
        generation = self._ask(turns, [TextPart(prompts.scan_request(grid.model_width, grid.model_height,
                                                                     self.settings.max_regions, self.family))],
                               "scan", key)
        timings["scan"] = time.perf_counter() - start
        timings.update({f"scan_{k}": v for k, v in generation.timings.items()})
        grid = self._grid_seen(grid, generation)
        parsed = parse_scan(generation.text)
        units = grid.answer_units([b.coords for b in parsed.boxes], self.settings.box_units)
        mapped = [(box, grid.to_original(box.coords, units)) for box in parsed.boxes]
        usable = [(proposal, box) for proposal, box in mapped if box is not None]
        keep = merge_duplicates([box for _, box in usable], self.settings.max_regions)
        regions = [proposed_region(usable[i][0], usable[i][1], grid, units, self.name, f"r{n}")
                   for n, i in enumerate(keep, 1)]
        notes = [*evidence_notes, *parsed.notes, *generation.notes]
        if len(mapped) > len(usable):
            notes.append(f"{len(mapped) - len(usable)} box(es) from the model lay outside the image or were "
                         "degenerate and were dropped")
        source = "model"
        if not regions:
            why = parsed.problem or "the model named no suspicious region"
            regions, source = self._fallback_regions(image)
            instead = "the evidence engine's region proposals" if source == "evidence-engine" else "a coarse grid"
            notes.append(f"{why}; examined instead: {instead}")
        record = ScanRecord(regions, source, generation.text, timings, notes, parsed.format, units)
        with self._scans_lock:
            self._scans[image.sha256] = record
            while len(self._scans) > CACHED_SCANS:
                self._scans.popitem(last=False)
        return record

    def _grid_seen(self, grid: ModelGrid, generation: Generation) -> ModelGrid:
        """The grid the model actually saw (a server or processor may resize on its own)."""
        if generation.input_image_sizes and generation.input_image_sizes[0] != (grid.model_width, grid.model_height):
            return grid.seen_as(*generation.input_image_sizes[0])
        return grid

    def _fallback_regions(self, image: LoadedImage) -> tuple[list[Region], str]:
        engine = self._evidence_engine()
        proposals = engine.scan(image)[: self.settings.max_regions] if engine is not None else []
        if proposals:
            return proposals, "evidence-engine"
        return [Region(box=box, score=0.5, label="grid cell (nothing proposed a region)", id=f"g{n}")
                for n, box in enumerate(coarse_grid(image.width, image.height, self.settings.max_regions), 1)], "grid"

    # ------------------------------------------------------------------ evidence engine as context

    def _evidence_engine(self):
        if self._engine is None and not self._engine_problem:
            from models.evidence.engine import EvidenceEngine

            try:
                self._engine = EvidenceEngine(max_regions=self.settings.max_regions,
                                              trust_anchors=self.trust_anchors)
            except DetectorUnavailable as exc:
                self._engine_problem = str(exc)
        return self._engine

    def _image_evidence(self, image: LoadedImage, timings: dict[str, float]) -> tuple[list[Evidence], list[str]]:
        if not self.settings.evidence_context:
            return [], []
        engine = self._evidence_engine()
        if engine is None:
            return [], [f"evidence context unavailable: {self._engine_problem}"]
        start = time.perf_counter()
        evidence = engine.image_evidence(image)
        timings["evidence"] = time.perf_counter() - start
        return evidence, []

    def _context(self, image: LoadedImage, timings: dict[str, float]) -> tuple[str, list[str]]:
        evidence, notes = self._image_evidence(image, timings)
        return prompts.evidence_context(evidence), notes

    # ------------------------------------------------------------------ stage 2

    def examine(self, image: LoadedImage, regions: Sequence[Region], question: str | None = None,
                on_region: RegionProgress | None = None) -> Analysis:
        timings: dict[str, float] = {}
        evidence, notes = self._image_evidence(image, timings)
        context = prompts.evidence_context(evidence)
        turns, grid, key = self._prefix(image, context)
        scan = self._scan_for(image, regions)
        regions = [region if region.id else _with_id(region, f"r{n}") for n, region in enumerate(regions, 1)]
        if not regions:
            regions, _ = self._fallback_regions(image)
        extra: list[TextPart | ImagePart] = []
        for index, region in enumerate(regions, 1):
            crop, _ = zoom_crop(image.rgb, region.box, self.settings.crop_margin, self.settings.zoom_size,
                                self.family)
            extra += [TextPart(prompts.region_caption(index, grid.to_model_ints(region.box), region.label,
                                                      region.explanation, self.family) + "\n"),
                      ImagePart(crop), TextPart("\n")]
        extra.append(TextPart(prompts.examine_request(len(regions), question)))
        start = time.perf_counter()
        generation = self._ask(turns, extra, "examine", key, verdict_words=("generated", "real"))
        timings["examine"] = time.perf_counter() - start
        if on_region is not None:  # every crop went through the model in one generation
            on_region(len(regions), len(regions))
        timings.update({f"examine_{k}": v for k, v in generation.timings.items()})
        parsed = parse_examine(generation.text)
        probability, why = verdict_probability(generation.tokens, parsed.verdict_start, generation.text)
        described = self.transport.describe()
        judged = model_verdict(parsed, probability, why, described.get("model_id", self.name))
        model_evidence = _model_evidence(self.name, described.get("model_id", ""), judged, parsed, probability)
        verdict, score, explanation, decided_by = (fuse_with_evidence(judged, evidence) if evidence else
                                                   (judged.verdict, judged.score, judged.explanation, "model"))
        if scan is not None:  # the evidence was measured (and timed) during the scan
            timings = {**scan.timings, **{k: v for k, v in timings.items() if k != "evidence"}}
            notes = [*scan.notes, *notes]
        if self._load_unreported:  # the model's load time belongs to the first result only
            timings = {"load": self.load_seconds, **timings}
            self._load_unreported = False
        raw = _raw_output(scan.raw_output if scan else None, generation.text)
        answer = None
        if question:
            answer = parsed.answer or ("The model's reply held no answer in the form asked for; its full text is "
                                       "kept with the analysis.")
        provenance = {
            "backend": self.name, **described,
            "model_family": self.family.name, "box_convention": self.family.box_convention,
            "parameters": asdict(self.settings),
            "regions_source": scan.source if scan else "analyst",
            "scan_parse": {"format": scan.parse_format, "box_units": scan.box_units} if scan else None,
            "examine_parse": {"verdict_word": parsed.verdict_word, "problem": parsed.problem},
            "score_source": judged.score_source, "decided_by": decided_by,
            "evidence_context": context or None,
            "tokens": {"prompt": generation.prompt_tokens, "reused_prefix": generation.reused_prefix_tokens,
                       "generated": generation.generated_tokens},
        }
        return Analysis(
            file=image.name, sha256=image.sha256, size_bytes=image.size_bytes, format=image.format,
            width=image.width, height=image.height, verdict=verdict, score=score,
            regions=examined_regions(regions, parsed, self.name), evidence=[model_evidence, *evidence],
            explanation=explanation, backend=self.name, backend_version=self.version, timings=timings,
            notes=[*image.notes, *notes, *generation.notes, *filter(None, [self.family_note])],
            question=question, answer=answer,
            provenance=provenance, raw_output=raw)

    def _scan_for(self, image: LoadedImage, regions: Sequence[Region]) -> ScanRecord | None:
        """The scan these regions came from, if they are exactly its result."""
        with self._scans_lock:
            record = self._scans.get(image.sha256)
        if record and [r.box for r in record.regions] == [r.box for r in regions]:
            return record
        return None

    def analyze(self, image: LoadedImage) -> Analysis:
        start = time.perf_counter()
        record = self._scan(image)
        analysis = self.examine(image, record.regions)
        analysis.timings["total"] = time.perf_counter() - start
        return analysis


def _with_id(region: Region, region_id: str) -> Region:
    return Region(box=region.box, score=region.score, label=region.label, explanation=region.explanation,
                  evidence=list(region.evidence), id=region_id)


def _raw_output(scan_text: str | None, examine_text: str) -> str:
    parts = []
    if scan_text is not None:
        parts += [RAW_DELIMITER.format(stage="stage 1: scan"), scan_text]
    parts += [RAW_DELIMITER.format(stage="stage 2: examine"), examine_text]
    return "\n".join(parts)


def _model_evidence(backend: str, model_id: str, judged, parsed, probability) -> Evidence:
    if judged.verdict == "inconclusive":
        return Evidence(kind="model", source=f"{backend}:{model_id}", finding=judged.explanation,
                        details={"problem": parsed.problem})
    strength = abs(2 * probability.p_generated - 1) if probability is not None else 0.0
    word = "generated" if judged.verdict == "ai-generated" else "real"
    return Evidence(kind="model", source=f"{backend}:{model_id}", finding=f"the model's verdict: {word}",
                    supports=judged.verdict, strength=strength,
                    details={"verdict_word": parsed.verdict_word, "score_source": judged.score_source,
                             "p_generated": probability.p_generated if probability else None,
                             "reasoning": parsed.reasoning})
