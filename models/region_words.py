"""One plain line per region, from what the region's measurements found.

The evidence engine labels a region by the cue that stands out (models/
evidence/cues.py) or by the learned model's tile map; each label gets one
sentence a reader can act on, and the measurements stay in the region's
explanation, folded beneath.  A vision-language model's region keeps the
model's own words, cut to their first sentence.
"""

from __future__ import annotations

import re

from models.types import Region

# Engine labels (cues.py CUES[].label, engine.MODEL_TILE_LABEL, examine.py) -> the reader's line.
REGION_WORDS: dict[str, str] = {
    "smoother than the rest (noise)": "smoother than the rest of the image, as pasted or AI-filled areas often are",
    "noisier than the rest (noise)": "grainier than the rest of the image, as material pasted in from another "
                                     "picture often is",
    "periodic resampling trace": "shows a regular pattern left by resizing, as pasted or enlarged areas often do",
    "camera/grid trace missing": "lacks the fine camera pattern found in the rest of the image, as AI-filled or "
                                 "pasted areas often do",
    "compression differs (error level)": "compressed differently from the rest, as areas pasted from another file "
                                         "often are",
    "generator-like residuals (learned model)": "the pixel-pattern model finds this area more AI-like than the "
                                                "image as a whole",
    "no clear anomaly": "nothing here stands out from the rest of the image",
    # The local-inconsistency maps (models/evidence/maps: LocalMap.label).
    "noise differs from the rest (noise inconsistency)": "its grain or finest detail differs from the rest of the "
                                                         "image, as pasted, enlarged or AI-filled areas often do",
    "compression history differs (JPEG traces)": "was compressed a different number of times, or on a different "
                                                 "grid, than the rest, as areas pasted from another file often are",
    "camera demosaicing trace missing (CFA)": "lacks the camera's colour-filter pattern found in the rest of the "
                                              "image, as AI-filled or pasted areas often do",
}
# A sentence ends at . ! or ? after a lower-case word, before a capital ("Adobe Inc. is" goes on).
_SENTENCE_END = re.compile(r"(?<=[a-z0-9)\]]{3}[.!?])\s+(?=[A-Z\"'(])")
MAX_LINE = 200


def region_line(region: Region) -> str:
    """One plain sentence about the region (no measurements)."""
    words = REGION_WORDS.get(region.label)
    if words is not None:
        return as_sentence(words)
    model_words = next((e.finding for e in region.evidence if e.kind == "model" and e.source.endswith(":examine")
                        and e.finding and not e.finding.startswith("the model gave no finding")), "")
    if model_words:
        return first_sentence(model_words)
    if region.evidence and all(e.kind == "signal" for e in region.evidence):
        return "Nothing here stands out from the rest of the image."
    return first_sentence(region.label or "An area to look at; nothing was measured here yet")


def first_sentence(text: str, limit: int = MAX_LINE) -> str:
    """The text's first sentence, cut at a word boundary past `limit` characters."""
    first = _SENTENCE_END.split(" ".join(text.split()), maxsplit=1)[0]
    if len(first) > limit:
        first = first[:limit].rsplit(" ", 1)[0] + "…"
    return as_sentence(first)


def as_sentence(text: str) -> str:
    """Capitalised and ending in a full stop."""
    text = text.strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?…" else text + "."
