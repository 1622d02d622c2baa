"""Regions as the model proposed them (stage 1) and as it judged them (stage 2).

A region's score comes from the model's own words: its stated confidence
where it gave one (0..1, towards "artifact"), otherwise REGION_SCORES by its
artifact yes/no; the region's evidence item records which, because only a
stated number is more than a display convention.
"""

from __future__ import annotations

from collections.abc import Sequence

from models.types import Box, Evidence, Region
from models.vlm.geometry import ModelGrid
from models.vlm.parsing import ExamineParse, ProposedBox, RegionFinding

PROPOSED_SCORE = 0.5
"""A region the model proposed but has not examined yet: undecided."""

REGION_SCORES = {True: 0.75, False: 0.25, None: 0.5}


def proposed_region(proposal: ProposedBox, box: Box, grid: ModelGrid, units: str, backend: str,
                    region_id: str) -> Region:
    label = proposal.label or "suspicious region"
    evidence = Evidence(kind="model", source=f"{backend}:scan",
                        finding=f"stage 1 proposed this region: {label}" + (f" ({proposal.reason})"
                                                                              if proposal.reason else ""),
                        details={"model_box": list(proposal.coords), "box_units": units,
                                 "model_input_size": [grid.model_width, grid.model_height]})
    return Region(box=box, score=PROPOSED_SCORE, label=label, explanation=proposal.reason, evidence=[evidence],
                  id=region_id)


def examined_regions(regions: Sequence[Region], parsed: ExamineParse, backend: str) -> list[Region]:
    """The regions with the model's stage-2 finding for each."""
    examined = []
    for index, region in enumerate(regions, 1):
        finding = parsed.findings.get(index)
        score, source = _score(finding)
        text = finding.finding if finding and finding.finding else "the model gave no finding for this region"
        supports = {True: "ai-generated", False: "real"}.get(finding.artifact if finding else None, "neither")
        evidence = Evidence(kind="model", source=f"{backend}:examine", finding=text, supports=supports,
                            strength=abs(2 * score - 1) if source.startswith("stated") else 0.0,
                            details={"artifact": finding.artifact if finding else None,
                                     "confidence": finding.confidence if finding else None,
                                     "score_source": source})
        explanation = text if not region.explanation else f"{text} (flagged for: {region.explanation})"
        examined.append(Region(box=region.box, score=score, label=region.label, explanation=explanation,
                               evidence=[evidence, *region.evidence], id=region.id))
    return examined


def _score(finding: RegionFinding | None) -> tuple[float, str]:
    if finding is None:
        return REGION_SCORES[None], "no finding: undecided (0.5)"
    if finding.confidence is not None:
        score = finding.confidence if finding.artifact is not False else 1.0 - finding.confidence
        return score, "stated by the model (its confidence)"
    return REGION_SCORES[finding.artifact], "fixed mapping from the model's artifact yes/no; not a probability"
