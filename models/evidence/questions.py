"""Answering an analyst's question about a region with the engine's measurements.

The evidence engine does not understand language.  It routes the question by
keywords to the measurements that bear on it and says so, rather than
pretending to converse; the vision-language backend answers in prose.
"""

from __future__ import annotations

import re

from models.types import Evidence, Region

# Keyword stems -> evidence sources (region cues) or kinds (image-level items) they concern.
TOPICS: tuple[tuple[tuple[str, ...], frozenset[str]], ...] = (
    (("noise", "grain", "smooth", "blur", "denois", "sharp"), frozenset({"smoother", "noisier"})),
    (("period", "resampl", "upscal", "upsampl", "interpol", "resiz", "grid", "spectr", "frequen", "pattern",
      "demosaic", "bayer", "sensor"), frozenset({"periodic", "trace-missing"})),
    (("compress", "jpeg", "error level", "ela", "splic", "paste", "edit", "inpaint", "clone", "manipul"),
     frozenset({"error-level", "smoother", "noisier", "trace-missing"})),
    (("model", "learn", "generat", "synthetic", "ai", "fake", "diffusion", "gan"), frozenset({"signal-model"})),
    (("metadata", "exif", "camera", "c2pa", "credential", "provenance", "watermark", "signed", "signature"),
     frozenset({"provenance", "metadata", "watermark"})),
)


def answer_question(question: str, regions: list[Region], image_evidence: list[Evidence]) -> str:
    """An answer built only from measured findings about `regions` (usually one)."""
    text = question.lower()
    wanted: set[str] = set()
    for stems, sources in TOPICS:
        if any(re.search(r"\b" + re.escape(stem), text) for stem in stems):
            wanted |= sources
    lines = ["The evidence engine answers with its measurements, not with language understanding."]
    for region in regions:
        findings = [e for e in region.evidence if not wanted or e.source in wanted]
        if not findings:
            findings = region.evidence
            lines.append(f"Nothing measured in {region.id or 'this region'} bears directly on the question; "
                         "all its measurements follow.")
        box = ", ".join(f"{v:.0f}" for v in region.box.to_list())
        lines.append(f"Region {region.id or '?'} [{box}], {region.label} (score {region.score:.2f}):")
        lines += [f"- {e.finding}" for e in findings]
    image_items = [e for e in image_evidence if e.kind in wanted and e.kind != "signal"]
    if image_items:
        lines.append("For the whole image:")
        lines += [f"- {e.finding}" for e in image_items]
    return "\n".join(lines)
