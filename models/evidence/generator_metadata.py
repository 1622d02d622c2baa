"""Generator and camera metadata: what the file says about the tool that made it.

Generators write their settings into the file (PNG/WebP text, EXIF
UserComment, XMP, IPTC); cameras write EXIF exposure data.  Both can be
forged or stripped by anyone, but nobody forges a full generation recipe onto
a real photo by accident, while copying camera EXIF onto a fake is trivial.

Weighing rule (kind "metadata"):

- explicit generator metadata -> supports "ai-generated", decisive, strength 0.95:
  an AUTOMATIC1111/Forge/SD.Next infotext (PNG 'parameters' or EXIF
  UserComment), a ComfyUI graph with a sampler node, NovelAI / InvokeAI /
  Fooocus / SwarmUI settings, a Midjourney job description, XMP
  Iptc4xmpExt:DigitalSourceType trainedAlgorithmicMedia (or another AI type) or
  Iptc4xmpExt:AISystemUsed, or a software field (EXIF Software, XMP CreatorTool,
  IPTC originating program) naming a generator in GENERATORS.  Name fields
  (Make, Model, Artist) count only unambiguous generator names; captions count
  only when they say "generated/created/made with <generator>" (0.9), so a news
  caption mentioning OpenAI is not evidence;
- a ComfyUI graph without a sampler, or a 'parameters' text in no known format
  -> "ai-generated", not decisive, 0.4-0.6;
- camera EXIF (Make/Model with exposure fields, capture time, lens, GPS) ->
  "real", never decisive, 0.15-0.35 by completeness; when the same file also has
  decisive generator metadata the finding says the EXIF was probably copied;
- a camera Make/Model without any exposure field, a software field naming an
  editor ("edited with Photoshop"), an XMP C2PA reference whose manifest is
  gone, a non-AI XMP source type, an unparsable XMP packet -> "neither"
  (an XMP camera-capture source type: weak "real", 0.2);
- nothing found -> [].

Every AI and camera finding reminds the reader that metadata can be forged or stripped.

This module is the single entry point: it runs the readers registered in
_READERS and applies the cross-reader rules (copied-EXIF note, ordering,
merging repeats).  The readers live by concern:

- generator_text: PNG/WebP/GIF text chunks and JPEG comments (A1111/Forge
  infotext, NovelAI, InvokeAI, Fooocus/SwarmUI JSON, Midjourney jobs);
- comfyui_graph: ComfyUI 'prompt'/'workflow' graphs;
- camera_exif: EXIF UserComment, tool/caption tags and camera weighing;
- xmp_iptc: XMP packet and IPTC-IIM datasets;
- tool_names: the GENERATORS/EDITORS tables and the per-field naming rule;
- aigc_label: China's TC260 / GB 45438-2025 AI-content label (XMP, PNG text, EXIF);
- stealth_metadata: NovelAI / A1111 "stealth" settings hidden in alpha or RGB low bits;
- metadata_common: the forgery caveat, input bounds and shared helpers.
"""

from __future__ import annotations

from collections.abc import Callable

from models.evidence.aigc_label import read_aigc_label
from models.evidence.camera_exif import decode_user_comment, read_exif
from models.evidence.comfyui_graph import describe_comfy_graph
from models.evidence.generator_text import parse_infotext, read_text_chunks
from models.evidence.metadata_common import FORGEABLE
from models.evidence.stealth_metadata import read_stealth_metadata
from models.evidence.tool_names import EDITORS, GENERATORS, ToolName, find_tool
from models.evidence.topics import CAMERA_SOURCE
from models.evidence.xmp_iptc import (
    read_iptc,
    read_iptc_fields,
    read_xmp,
    read_xmp_fields,
)
from models.image_input import LoadedImage
from models.types import Evidence

__all__ = ["EDITORS", "FORGEABLE", "GENERATORS", "ToolName", "decode_user_comment", "describe_comfy_graph",
           "find_tool", "parse_infotext", "read_generator_metadata", "read_iptc_fields", "read_xmp_fields"]

# Every metadata reader, by the name an error in it is reported under.
_READERS: tuple[tuple[str, Callable[[LoadedImage], list[Evidence]]], ...] = (
    ("text_chunks", read_text_chunks), ("exif", read_exif), ("xmp", read_xmp), ("iptc", read_iptc),
    ("aigc_label", read_aigc_label), ("stealth", read_stealth_metadata),
)


def read_generator_metadata(image: LoadedImage) -> list[Evidence]:
    """Evidence from generator, editor and camera metadata; [] when there is none."""
    found: list[Evidence] = []
    for name, reader in _READERS:
        try:
            found.extend(reader(image))
        except Exception as exc:  # one unreadable block must not hide the others
            found.append(Evidence("metadata", name,
                                  f"Part of the metadata could not be read ({type(exc).__name__}: {str(exc)[:200]}).",
                                  details={"error": str(exc)[:500]}))
    if any(e.decisive and e.supports == "ai-generated" for e in found):
        for item in found:
            if item.source == CAMERA_SOURCE and item.supports == "real":
                item.finding += " It contradicts the generator metadata in the same file, so it was probably copied."
                item.details["contradicted"] = True
    found.sort(key=lambda e: (not e.decisive, -e.strength))
    return _merge_repeats(found)


def _merge_repeats(found: list[Evidence]) -> list[Evidence]:
    """One item per named generator or editor, however many fields repeat the name."""
    kept: dict[tuple[str, str], Evidence] = {}
    merged: list[Evidence] = []
    for item in found:
        name = item.details.get("editor") or item.details.get("generator")
        key = (item.supports, str(name))
        if name and key in kept:
            kept[key].details.setdefault("also_found_in", []).append(item.source)
            continue
        if name:
            kept[key] = item
        merged.append(item)
    return merged
