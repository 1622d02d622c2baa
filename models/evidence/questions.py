"""Answering an analyst's question about a region from the engine's measurements.

The evidence engine does not understand language, so it recognises what a
question is about (noise, blur or sharpness, edges, compression, colour,
repetition, "is this pasted or generated?", the file's records) by keywords
and answers that in one or two plain sentences from the matching
measurements of the region.  A question about what the picture shows
(hands, text, shadows, lighting ...) or one it does not recognise is answered
plainly with the backend that can: the vision-language backend, whose model
answers in its own words.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from models.evidence.examine import NOTABLE_SCORE, period_meaning
from models.evidence.finding_words import evidence_phrase
from models.region_words import region_line
from models.types import Evidence, Region

ASK_THE_VLM = "ask again with the vision-language backend (--backend vlm, or choose it on the page)"
MAX_REGIONS_ANSWERED = 3


@dataclass(frozen=True)
class Topic:
    name: str
    stems: tuple[str, ...]  # word beginnings that mark the topic
    answer: Callable[[Region, list[Evidence]], str]


def answer_question(question: str, regions: list[Region], image_evidence: list[Evidence]) -> str:
    """One or two plain sentences per recognised topic (and region), from measured findings only."""
    text = question.lower()
    topics = [t for t in TOPICS if any(re.search(r"\b" + re.escape(stem), text) for stem in t.stems)]
    if len(topics) > 1:  # "is the blur bokeh or generated?" is a question about the blur
        topics = [t for t in topics if t.name != "pasted"]
    if not topics:
        if any(re.search(r"\b" + re.escape(stem), text) for stem in SCENE_STEMS):
            return ("The evidence engine measures grain, compression and resampling traces, not what the picture "
                    f"shows; only a vision-language model can judge that, so {ASK_THE_VLM}.")
        return ("The evidence engine did not recognise what this question is about: it can answer about noise, "
                "blur or sharpness, edges, compression, colour, repeating patterns, or whether an area looks "
                f"pasted or generated. For anything else, {ASK_THE_VLM}.")
    if not regions:
        return "No area was given: draw or pick a box and ask again."
    shown = regions[:MAX_REGIONS_ANSWERED]
    answers = []
    for region in shown:
        said = " ".join(dict.fromkeys(topic.answer(region, image_evidence) for topic in topics[:2]))
        answers.append(f"Area {region.id or '?'}: {said}" if len(shown) > 1 else said)
    if len(regions) > len(shown):
        answers.append(f"({len(regions) - len(shown)} more areas not answered; ask about them one at a time.)")
    return "\n".join(answers)


# ---------------------------------------------------------------------- measurements of one region

def _cue(region: Region, *sources: str) -> Evidence | None:
    return next((e for e in region.evidence if e.source in sources), None)


def _unusual(item: Evidence) -> bool:
    return float(item.details.get("score", 0.0)) >= NOTABLE_SCORE


def _rarity(item: Evidence) -> str:
    return f"more unusual than in {float(item.details['score']):.0%} of the real photos measured"


def _grain(region: Region) -> tuple[Evidence, float, str] | None:
    item = _cue(region, "smoother", "noisier")
    if item is None or "log2_ratio" not in item.details:
        return None
    ratio = float(item.details["log2_ratio"])
    return item, 2.0 ** abs(ratio), "lower" if ratio < 0 else "higher"


def _noise(region: Region, _: list[Evidence]) -> str:
    grain = _grain(region)
    if grain is None:
        return "This area is too small or too flat for its noise level (grain) to be measured."
    item, times, direction = grain
    sigma, expected = item.details.get("noise_sigma"), item.details.get("expected_sigma")
    levels = (f"{float(sigma):.2f} grey levels against the {float(expected):.2f} " if sigma is not None
              and expected is not None else "")
    if _unusual(item):
        why = "pasted or AI-filled areas often are" if direction == "lower" else "material pasted from another " \
              "picture often is"
        return (f"Its noise level (grain) is {times:.1f} times {direction} than the rest of the image at the same "
                f"brightness ({levels}elsewhere), {_rarity(item)}, as {why}.")
    return (f"Its noise level (grain) differs from the rest of the image no more than in real photos ({levels}"
            f"elsewhere at the same brightness, {times:.1f} times {direction}).")


def _sharpness(region: Region, _: list[Evidence]) -> str:
    grain = _grain(region)
    if grain is None:
        return (f"The area is too small or too flat to measure its grain, so the engine cannot tell lens blur from "
                f"generated blur here; {ASK_THE_VLM}.")
    item, times, direction = grain
    if _unusual(item) and direction == "lower":
        return (f"Real lens blur (bokeh) softens detail but keeps the camera's grain; here the grain is {times:.1f} "
                "times lower than elsewhere at the same brightness, which fits generated or painted-in blur better "
                "than a lens.")
    if _unusual(item):
        return (f"The grain here is {times:.1f} times higher than elsewhere, which does not fit a smooth generated "
                "blur; the area may come from a noisier picture.")
    return ("Real lens blur keeps the camera's grain, and the grain here differs from the rest no more than in real "
            f"photos, as genuine bokeh does; the shape of the blur is for a vision-language model ({ASK_THE_VLM}).")


def _compression(region: Region, _: list[Evidence]) -> str:
    item = _cue(region, "error-level")
    if item is None:
        return "This area is too small for its compression to be compared with the rest of the image."
    level, typical = float(item.details["error_level"]), float(item.details["typical_error_level"])
    change = (f"re-saved as a JPEG it changes by {level:.2f} grey levels, against {typical:.2f} for a typical "
              "area of the image")
    if _unusual(item):
        return f"It was compressed differently from the rest: {change}, {_rarity(item)}, as areas pasted from " \
               "another file often are."
    return (f"Its compression differs from the rest no more than in real photos ({change}), so nothing suggests it "
            "was saved separately.")


def _repetition(region: Region, _: list[Evidence]) -> str:
    item = _cue(region, "periodic")
    copies = f"The engine looks for resampling patterns, not for copied objects; for cloned objects, {ASK_THE_VLM}."
    if item is None:
        return "This area is too small to look for repeating patterns. " + copies
    meaning = period_meaning(float(item.details["frequency"]))
    if _unusual(item):
        return (f"A regular pattern stands out here ({meaning}), {_rarity(item)}, as resized or enlarged pasted "
                f"areas often show. {copies}")
    return f"No regular pattern stands out here: its strongest repeat ({meaning}) is within what real photos show. " \
           + copies


def _colour(region: Region, _: list[Evidence]) -> str:
    lead = f"The evidence engine does not measure colour, lighting or white balance; {ASK_THE_VLM}."
    item = _cue(region, "trace-missing")
    if item is None:
        return lead
    weaker = 2.0 ** float(item.details.get("log2_deficit", 0.0))
    rare = _rarity(item) if _unusual(item) else "within what real photos show"
    return (f"{lead} The nearest it measures is the camera's colour-filter pattern, {weaker:.1f} times weaker here "
            f"than in the rest, {rare}.")


def _edges(region: Region, _: list[Evidence]) -> str:
    differs = [e for e in region.evidence if e.source in ("smoother", "noisier", "error-level") and _unusual(e)]
    found = ("here it does: " + region_line(region)[0].lower() + region_line(region)[1:] if differs
             else "here neither differs beyond what real photos show.")
    return (f"The engine does not trace outlines, but a pasted area usually differs from its surroundings in grain "
            f"or compression, and {found} To judge the outline itself, {ASK_THE_VLM}.")


def _pasted(region: Region, _: list[Evidence]) -> str:
    cues = [e for e in region.evidence if e.source != "signal-model" and e.kind == "signal"]
    if any(_unusual(e) for e in cues):
        said = (f"This area stands out: {region_line(region)[0].lower() + region_line(region)[1:-1]}; ordinary "
                "editing can do this too, so it is a place to look, not proof.")
    elif cues:
        said = ("Nothing measured here stands out from the rest of the image (grain, compression, resampling "
                "traces), which does not prove it untouched.")
    else:
        said = "Nothing could be measured in this area."
    model = _cue(region, "signal-model")
    if model is not None and "image_probability" in model.details:
        said += (f" The pixel-pattern model rates it {float(model.details['probability']):.2f} on its 0 (camera-like)"
                 f" to 1 (AI-like) scale, against {float(model.details['image_probability']):.2f} for the whole image.")
    return said


def _records(_: Region, image_evidence: list[Evidence]) -> str:
    records = [e for e in image_evidence if e.kind in ("provenance", "metadata", "watermark")
               and (e.supports != "neither" or e.source == "c2pa")]
    if not records:
        return ("That is about the whole file, not this area: it carries no Content Credentials, generator settings, "
                "camera metadata or watermark that points either way.")
    return "That is about the whole file, not this area: " + "; ".join(evidence_phrase(e) for e in records[:3]) + "."


TOPICS: tuple[Topic, ...] = (
    Topic("records", ("metadata", "exif", "camera", "c2pa", "credential", "provenance", "watermark", "signed",
                      "signature"), _records),
    Topic("sharpness", ("blur", "bokeh", "sharp", "focus", "depth of field", "soft", "crisp"), _sharpness),
    Topic("noise", ("noise", "nois", "grain", "smooth", "denois", "clean"), _noise),
    Topic("edges", ("edge", "outline", "halo", "seam", "border", "boundar", "cut out", "cutout"), _edges),
    Topic("compression", ("compress", "jpeg", "jpg", "artefact", "artifact", "block", "quality", "re-sav",
                          "resav", "error level", "ela"), _compression),
    Topic("colour", ("colour", "color", "hue", "saturat", "white balance", "tint", "chroma"), _colour),
    Topic("repetition", ("repeat", "repetit", "pattern", "tiled", "tiling", "clone", "cloned", "duplicat",
                         "copied", "periodic", "resampl", "upscal", "resiz", "grid"), _repetition),
    Topic("pasted", ("paste", "generat", "ai", "fake", "synthetic", "inpaint", "edit", "manipul", "composit",
                     "real", "genuine", "authentic", "tamper", "stand", "odd", "suspicious"), _pasted),
)
# What the picture shows: only a model that looks at it can say.
SCENE_STEMS = ("hand", "finger", "face", "eye", "teeth", "text", "letter", "writing", "sign", "shadow", "reflect",
               "light", "anatomy", "perspective", "physic", "object", "person", "people", "background", "logo",
               "who", "what is", "count", "read")
